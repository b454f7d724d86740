"""What is due, decided from plain data and the time: pure functions, no I/O.

A run *awaits sign-off* when its checks are done, it is undecided and a required role
still lacks approvals. Who is *awaited* for a role: its members who may still sign it
(the gate's own ``may_sign``), so the requester or someone who signed another role is
never asked."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.config.hours import WorkingHours


@dataclass(frozen=True)
class Awaited:
    """A role a run still needs, and who can give it."""

    role: str
    label: str
    people: tuple[str, ...]
    usergroup: str | None = None


@dataclass(frozen=True)
class PendingRun:
    """A run awaiting sign-off, as reminders show it."""

    run_id: int
    generation: int
    service: str
    version: str
    environment: str
    requester: str
    started_at: datetime
    finished_at: datetime
    """When its checks finished: nudges count from here."""
    deadline: datetime
    awaited: tuple[Awaited, ...]
    report_url: str | None = None

    def age(self, now: datetime) -> timedelta:
        return now - self.started_at

    def left(self, now: datetime) -> timedelta:
        return self.deadline - now


@dataclass(frozen=True)
class Item:
    """One thing a person can sign: a role of a run."""

    run: PendingRun
    role: Awaited


@dataclass(frozen=True)
class Digest:
    """The channel's digest at ``slot``: every run awaiting sign-off, soonest deadline first."""

    slot: datetime
    runs: tuple[PendingRun, ...]


def digest(slot: datetime, runs: list[PendingRun]) -> Digest:
    return Digest(slot, tuple(sorted(runs, key=lambda r: (r.deadline, r.run_id))))


def by_person(runs: list[PendingRun] | tuple[PendingRun, ...]) -> dict[str, list[Item]]:
    """Each awaited person's items across runs, soonest deadline first; one DM each."""
    items: defaultdict[str, list[Item]] = defaultdict(list)
    for run in sorted(runs, key=lambda r: (r.deadline, r.run_id)):
        for role in run.awaited:
            for person in role.people:
                items[person].append(Item(run, role))
    return dict(sorted(items.items()))


def nudge_number(finished: datetime, now: datetime, after: float, every: float) -> int | None:
    """Which nudge is due now (0 = the first, at ``finished + after``; then one per
    ``every``), or None before the first. Only the latest is ever sent: a nudge that fell
    in the night is not sent late, the next one in working hours is."""
    waited = (now - finished).total_seconds() - after
    if waited < 0:
        return None
    return math.floor(waited / every)


def warning_due(started: datetime, deadline: datetime, now: datetime, before: float) -> bool:
    """Inside the warning window: ``before`` ahead of the deadline, the deadline not past.
    A window that opens before the run started (a deadline shorter than ``before``) has
    nothing to warn of."""
    opens = deadline - timedelta(seconds=before)
    return opens > started and opens <= now < deadline


def working(hours: WorkingHours | None, local: datetime) -> bool:
    """Whether people may be nudged or DMed at ``local`` (config's zone); any time without
    working hours."""
    return hours is None or hours.contains(local)


def slot_name(moment: datetime) -> str:
    """A fire time as a reminder slot: UTC, to the second, so replicas agree."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
