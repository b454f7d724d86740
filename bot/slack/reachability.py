"""Whether Slack's Web API answered this process lately, from the outcomes of its own
calls (``/readyz`` and ``/metrics`` read it; it makes no call of its own).

An attempt Slack answered counts as reached, whatever it said: ``ok``, an error name
(``channel_not_found``) or a 429 (Slack is there and pacing us). A 5xx or a network
error (refused, reset, timed out) is a failure. A streak of failures is kept with when
it began, so a reader can ask for "N failures in a row over at least M seconds"."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

REASON_LIMIT = 160


@dataclass(frozen=True)
class SlackSeen:
    """A snapshot: the current failure streak and the errors counted so far."""

    consecutive_failures: int
    failing_since: float | None
    """``clock()`` of the streak's first failure (None: the last attempt was answered)."""
    last_error: str | None
    """``method: what happened`` of the streak's newest failure."""
    last_answer: float | None
    """``clock()`` of the newest answered attempt (None: none yet)."""
    errors_by_method: dict[str, int] = field(default_factory=dict)
    """Failed attempts (5xx, network, ``ok: false``) per method since the start."""


class SlackReachability:
    """Records each Web API attempt's outcome; cheap enough for every call."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._streak = 0
        self._since: float | None = None
        self._last_error: str | None = None
        self._last_answer: float | None = None
        self._errors: Counter[str] = Counter()

    def answered(self, method: str, *, error: str | None = None) -> None:
        """Slack answered an attempt; ``error`` is its error name when ``ok`` was false
        (counted as an error of the method, but Slack was reached)."""
        if error is not None and error != "ratelimited":
            self._errors[method] += 1
        self._streak, self._since, self._last_error = 0, None, None
        self._last_answer = self.clock()

    def unreachable(self, method: str, why: str) -> None:
        """An attempt got no answer from Slack: a 5xx or a network error."""
        self._errors[method] += 1
        if self._streak == 0:
            self._since = self.clock()
        self._streak += 1
        self._last_error = f"{method}: {why}"[:REASON_LIMIT]

    def snapshot(self) -> SlackSeen:
        return SlackSeen(
            consecutive_failures=self._streak,
            failing_since=self._since,
            last_error=self._last_error,
            last_answer=self._last_answer,
            errors_by_method=dict(self._errors),
        )
