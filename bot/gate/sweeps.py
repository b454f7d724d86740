"""The sweeps: what a crash or a passing deadline leaves undone on undecided runs, found
and done again by every process at start-up and at each beat of its schedule.

They read the gate's rows through :class:`~bot.gate.actions.Gate`, record decisions with
its ``record`` and tell them with its ``tell``; the runs already looked at are the gate's
(bot/gate/looked.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from bot.gate.actions import Gate
from bot.gate.events import RunDecided
from bot.store.gate import Stamp

SPACING_S = 0.02
"""Seconds between two runs a periodic sweep looks at. A beat found runs that finished
behind Slack's pace (their process still waiting to show their results) and decided
them back to back: loads, decision, announcement, the acks of that moment waited on it
(bench/ack_latency.py on PostgreSQL, steady p99 ratios 3.42 / 3.03 / 3.32 before, 1.55
/ 2.58 / 1.67 spaced, with the beats apart: bot/web/bot.py)."""


RECORD_SPACING_S = 0.25
"""Seconds after a decision a periodic sweep recorded, at most four a second: a record
costs about 11 ms of CPU on PostgreSQL (a locked load and the write with its audit event).
The bench's runs (17 a second, in one channel held to Slack's pace) left a beat dozens
to decide; back to back they took the CPU from the acks of that moment (PostgreSQL
steady p99 ratios 1.57 / 6.13 / 8.79), 100 ms apart still now and then (7.93 / 6.55 in
four alternating pairs), 250 ms apart 1.21 / 1.69 / 1.43 / 1.63 against 1.41 / 1.70 /
1.52 / 2.22 with the code before. A pipeline waits a quarter of a second more for each
decision recorded before its own in that sweep."""


class Sweeps:
    """Holds nothing of its own: what was looked at is the gate's (:class:`LookedAt`),
    which its ``refresh`` feeds too; make one wherever a sweep is due."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate

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
        stamps = await self.gate.gates.undecided_stamps(active_since, self.gate.deadline_passed())
        return await self._decide(self.gate.looked.changed(stamps), stamps)

    async def expire_due(self) -> list[int]:
        """Decide the undecided runs past their sign-off deadline (EXPIRED)."""
        past = await self.gate.gates.undecided_runs(created_before=self.gate.deadline_passed())
        return await self._decide(run.id for run in past)

    async def _decide(
        self, run_ids: Iterable[int | None], stamps: Mapping[int, Stamp] | None = None
    ) -> list[int]:
        """``stamps``: each run's as read; a run looked at is remembered with it.

        Every due decision is recorded first, then told run by run: told as each was
        recorded, every later run stayed undecided (and the pipelines waiting on it
        waiting) for as long as Slack held the announcements before it, a Retry-After of
        up to five minutes, twenty times over (tests/test_slack_outage.py). A crash in
        between leaves decisions unannounced, which :meth:`announce_missing` finds.

        A run whose lock is held is left to a later sweep: its holder may be telling it,
        waiting on Slack, and every run after it would wait too."""
        decided: dict[int, bool] = {}
        pause = 0.0
        for run_id in run_ids:
            if run_id is None:
                continue
            if stamps is not None and pause:
                await asyncio.sleep(pause)  # a periodic sweep; the full one at once
            if self.gate.locks[run_id].locked():
                continue  # not noted as looked at: the next sweep looks again
            decision, recorded = await self.gate.record(run_id)
            if decision.outcome.final:
                decided[run_id] = recorded
            pause = RECORD_SPACING_S if recorded else SPACING_S
            if stamps is not None:
                self.gate.looked.note(run_id, stamps[run_id])
        for run_id, recorded in decided.items():
            await self.gate.tell(run_id, recorded)
        return list(decided)

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
