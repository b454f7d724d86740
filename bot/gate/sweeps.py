"""The sweeps: what a crash or a passing deadline leaves undone on undecided runs, found
and done again by every process at start-up and at each beat of its schedule.

They read the gate's rows through :class:`~bot.gate.actions.Gate` and record decisions
with its ``refresh``; what is their own is the memory of the runs already looked at."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.gate.events import RunDecided
from bot.gate.reading import Loaded
from bot.store.gate import Stamp, stamp_of

if TYPE_CHECKING:
    from bot.gate.actions import Gate


class Sweeps:
    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self._swept: dict[int, Stamp] = {}
        """Undecided runs a periodic sweep looked at, as they stood then."""

    async def sweep(self, grace: float = 10.0, active_since: datetime | None = None) -> list[int]:
        """Re-do what a crash may have cut short (at start-up, then periodically): decide
        every run whose facts call for a decision that is not recorded (a deadline passed,
        a process died between a signature and the decision), and announce every decision
        older than ``grace`` seconds that was never announced (younger ones may be being
        announced by the process that made them). With ``active_since``, only the runs
        that changed since then or are past their deadline are looked at (a periodic
        sweep; a full one at start-up). The runs it acted on."""
        return await self.decide_due(active_since) + await self.announce_missing(grace)

    async def decide_due(self, active_since: datetime | None = None) -> list[int]:
        """Record the decision of every undecided run whose facts now make it final;
        with ``active_since``, of those that changed since then or are past their
        deadline (:meth:`expire_due` for the deadline alone), skipping the ones this
        process has looked at since their last change: the beats come every few seconds
        and look back minutes, so each changed run was loaded a dozen times, in every
        process (bench/ack_latency.py: hundreds of loads a beat)."""
        if active_since is None:
            return await self._decide(run.id for run in await self.gate.gates.undecided_runs())
        stamps = await self.gate.gates.undecided_stamps(active_since, self._deadline_passed())
        self._swept = {k: v for k, v in self._swept.items() if stamps.get(k) == v}
        return await self._decide([k for k in stamps if k not in self._swept], stamps)

    async def expire_due(self) -> list[int]:
        """Decide the undecided runs past their sign-off deadline (EXPIRED)."""
        past = await self.gate.gates.undecided_runs(created_before=self._deadline_passed())
        return await self._decide(run.id for run in past)

    async def _decide(
        self, run_ids: Iterable[int | None], stamps: Mapping[int, Stamp] | None = None
    ) -> list[int]:
        """``stamps``: each run's as read; a run looked at is remembered with it."""
        decided = []
        for run_id in run_ids:
            if run_id is None:
                continue
            if (await self.gate.load(run_id)).gate.decision.outcome.final:
                await self.gate.refresh(run_id)
                decided.append(run_id)
            if stamps is not None:
                self._swept[run_id] = stamps[run_id]
        return decided

    async def announce_missing(self, grace: float) -> list[int]:
        """Tell listeners again of decisions a crash kept from being announced. Listeners
        post through an outbox, so a repeat never posts a second announcement."""
        before = self.gate.clock() - timedelta(seconds=grace)
        announced = []
        for run_id in await self.gate.gates.unannounced(before):
            async with self.gate.locks[run_id]:
                await self.gate.emit(RunDecided((await self.gate.load(run_id)).gate))
            announced.append(run_id)
        return announced

    def looked_at(self, loaded: Loaded) -> None:
        """Remember ``loaded`` as this process saw it: the sweeps skip it until a row its
        decision reads changes. The process that executed a run refreshes it as it ends, so
        its first sweep need not load it again (every run, at every process's first beat
        after its end). Counts made from what was loaded can only fall short of the
        table's (older attempts' waivers, say): then the stamps differ and the sweep loads
        it, as it would have."""
        facts = loaded.facts
        if loaded.run.id is None or loaded.recorded is not None:
            return
        ticked = sum(item.ticked_by is not None for item in facts.attestations)
        stamp = stamp_of(loaded.run, self._deadline_passed(), len(facts.signoffs),
                         len(loaded.gate.waivers), ticked)  # fmt: skip
        self._swept[loaded.run.id] = stamp

    def _deadline_passed(self) -> datetime:
        """Runs created before this are past the sign-off deadline."""
        return self.gate.clock() - timedelta(seconds=self.gate.config.policy.signoff_deadline)
