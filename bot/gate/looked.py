"""The undecided runs this process has looked at, each with the stamp of the rows its
decision read then: a periodic sweep skips a run until one of them changes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from bot.gate.reading import Loaded
from bot.store.gate import Stamp, stamp_of


class LookedAt:
    def __init__(self) -> None:
        self._stamps: dict[int, Stamp] = {}

    def remember(self, loaded: Loaded, deadline_passed: datetime) -> None:
        """Remember ``loaded`` as this process saw it. The process that executed a run
        refreshes it as it ends, so its first sweep need not load it again (every run, at
        every process's first beat after its end). Counts made from what was loaded can
        only fall short of the table's (older attempts' waivers, say): then the stamps
        differ and the sweep loads it, as it would have. ``deadline_passed``: runs
        created before it are past their sign-off deadline."""
        facts = loaded.facts
        if loaded.run.id is None or loaded.recorded is not None:
            return
        ticked = sum(item.ticked_by is not None for item in facts.attestations)
        stamp = stamp_of(loaded.run, deadline_passed, len(facts.signoffs),
                         len(loaded.gate.waivers), ticked)  # fmt: skip
        self._stamps[loaded.run.id] = stamp

    def changed(self, stamps: Mapping[int, Stamp]) -> list[int]:
        """The runs of ``stamps`` (each undecided run's, as read now) not looked at since
        their last change; the others are forgotten (decided, or changed)."""
        self._stamps = {k: v for k, v in self._stamps.items() if stamps.get(k) == v}
        return [k for k in stamps if k not in self._stamps]

    def note(self, run_id: int, stamp: Stamp) -> None:
        """``run_id`` was looked at as it stood in ``stamp``."""
        self._stamps[run_id] = stamp
