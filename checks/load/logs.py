"""Locust's own error lines for the evidence: the exception that ends each traceback (not
its first line, which says nothing), each distinct message once with a count, and none
of the noise Locust makes when a test is stopped while users are still stopping.
Pure: log text in, lines out."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator

NOISE = (
    # Stopping a stress test at its breaking point (runner.quit while the shape is
    # still stopping users) makes every stopping user's greenlet log this; the test
    # itself went fine.
    "Tried to stop User in an unexpected state",
    "GreenletExit",
)

_TIMESTAMP = re.compile(r"^\[[^\]]*\]\s*|^\d{4}-\d\d-\d\dT[\d:.]+Z?\s*")
_CHAINED = ("During handling of the above exception", "The above exception was the direct cause")
_GREENLET_FAILED = re.compile(r"^<Greenlet .*> failed with \w+")


def error_messages(text: str) -> Iterator[str]:
    """The errors in one log: each traceback's exception line (the last one of a chain),
    and Locust's ERROR / CRITICAL records without their timestamps."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("Traceback (most recent call last)"):
            exception, i = _exception_of(lines, i + 1)
            if exception:
                yield exception
            continue
        bare = _TIMESTAMP.sub("", line).strip()
        if bare and not _GREENLET_FAILED.match(bare) and _is_error(bare):
            yield bare
        i += 1


def _exception_of(lines: list[str], i: int) -> tuple[str, int]:
    """The exception line of the traceback whose frames start at ``i`` (the last one of a
    chain of tracebacks), and where reading should continue."""
    exception = ""
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line[:1].isspace() or line.startswith(("Traceback (", *_CHAINED)):
            continue  # frames and source lines are indented; chain markers lead on
        exception = line.strip()
        following = next((rest for rest in lines[i:] if rest.strip()), "")
        if not following.startswith(_CHAINED):
            break
    return exception, i


def _is_error(line: str) -> bool:
    return any(word in line for word in ("ERROR", "CRITICAL", "Error:"))


def summarize_errors(logs: Iterable[tuple[str, str]], limit: int = 40) -> list[str]:
    """``process: message`` once per distinct message, ``(N times)`` when repeated, noise
    left out, in order of first appearance; ``logs`` are (process name, log text)."""
    counts: Counter[str] = Counter()
    for process, text in logs:
        for message in error_messages(text):
            if not any(noise in message for noise in NOISE):
                counts[f"{process}: {message}"] += 1
    lines = [f"{key} ({n} times)" if n > 1 else key for key, n in counts.items()]
    if len(lines) > limit:
        return [*lines[:limit], f"... and {len(lines) - limit} more distinct errors"]
    return lines
