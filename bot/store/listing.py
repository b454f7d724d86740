"""Pages of runs for the dashboard, and the gate rows that say what each run is waiting for.

Paging is by key (``id`` below or above the page's edge), so a late page costs what the
first one does: every query walks the primary key (or an index of migration 0009) from
the edge and stops after one page."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, exists, or_
from sqlmodel import Session, col, select

from bot.store.models import (
    AttestationTick,
    CheckRecord,
    DecisionRecord,
    Run,
    RunStatus,
    SignOff,
)
from bot.store.runs import RunStore

DECISIONS = ("go", "no-go", "expired", "cancelled", "pending")
"""What the decision filter accepts; ``pending`` is a run with no decision yet."""
MAX_PAGE = 200


@dataclass(frozen=True)
class RunFilter:
    service: str | None = None
    environment: str | None = None
    status: str | None = None
    decision: str | None = None
    before: int | None = None
    """Runs with a lower id (older): the next page."""
    after: int | None = None
    """Runs with a higher id (newer): the page before; ignored with ``before``."""
    limit: int = 50


@dataclass(frozen=True)
class RunPage:
    runs: list[Run]
    """Newest first."""
    older: int | None
    """``before=`` for the next page, if there is one."""
    newer: int | None
    """``after=`` for the page before, if there is one."""


@dataclass(frozen=True)
class GateRows:
    """What the gate recorded for a set of runs."""

    decisions: dict[int, str] = field(default_factory=dict)
    approvals: dict[int, set[tuple[str, str]]] = field(default_factory=dict)
    """(role, user) approvals of each run's current evidence generation."""
    ticks: dict[int, set[str]] = field(default_factory=dict)
    critical: dict[int, set[str]] = field(default_factory=dict)
    """The statuses the critical checks of each run ended with (their latest attempt)."""


def _conditions(f: RunFilter) -> list[Any]:
    found: list[Any] = []
    if f.service:
        found.append(Run.service == f.service)
    if f.environment:
        found.append(Run.environment == f.environment)
    if f.status:
        found.append(Run.status == RunStatus(f.status))
    decided = exists().where(col(DecisionRecord.run_id) == col(Run.id))
    if f.decision == "pending":
        found.append(and_(~decided, col(Run.status) != RunStatus.CANCELLED))
    elif f.decision == "cancelled":
        cancelled = exists().where(
            col(DecisionRecord.run_id) == col(Run.id), col(DecisionRecord.outcome) == "cancelled"
        )
        found.append(or_(cancelled, and_(~decided, col(Run.status) == RunStatus.CANCELLED)))
    elif f.decision:
        found.append(
            exists().where(
                col(DecisionRecord.run_id) == col(Run.id), col(DecisionRecord.outcome) == f.decision
            )
        )
    return found


def _page(f: RunFilter) -> Any:
    def work(session: Session) -> RunPage:
        limit = max(1, min(f.limit, MAX_PAGE))
        where = _conditions(f)
        query = select(Run).where(*where)
        if f.before is not None or f.after is None:
            if f.before is not None:
                query = query.where(col(Run.id) < f.before)
            rows = list(session.exec(query.order_by(col(Run.id).desc()).limit(limit + 1)))
            runs, more = rows[:limit], len(rows) > limit
            older = runs[-1].id if more and runs else None
            newer_from = runs[0].id if runs else f.before
            has_newer = f.before is not None and _any(session, where, newer_from)
            newer = newer_from if has_newer else None
            return RunPage(runs, older, newer)
        query = query.where(col(Run.id) > f.after)
        rows = list(session.exec(query.order_by(col(Run.id)).limit(limit + 1)))
        runs = list(reversed(rows[:limit]))
        newer = runs[0].id if len(rows) > limit and runs else None
        return RunPage(runs, runs[-1].id if runs else f.after, newer)

    return work


def _any(session: Session, where: list[Any], above: int | None) -> bool:
    """Is there a run past ``above`` (newer) that the filter admits?"""
    if above is None:
        return False
    query = select(Run.id).where(*where, col(Run.id) > above).limit(1)
    return session.exec(query).first() is not None


async def page_of_runs(store: RunStore, f: RunFilter) -> RunPage:
    result: RunPage = await store.call(_page(f))
    return result


async def gate_rows(store: RunStore, runs: list[Run]) -> GateRows:
    """Decisions, current approvals, ticks and critical checks' statuses of ``runs``, in
    four queries."""
    generation = {run.id: run.generation for run in runs if run.id is not None}
    ids = list(generation)

    def work(session: Session) -> GateRows:
        rows = GateRows()
        if not ids:
            return rows
        # Columns, not ORM objects: ``list`` answers in its ack, and building a check
        # record (its result, details, timings) for each of 20 runs' checks was CPU the
        # acks queued behind it waited for.
        decisions = select(DecisionRecord.run_id, DecisionRecord.outcome)
        for run_id, outcome in session.execute(
            decisions.where(col(DecisionRecord.run_id).in_(ids))
        ):
            rows.decisions[run_id] = outcome
        approvals: defaultdict[int, set[tuple[str, str]]] = defaultdict(set)
        signoffs = select(SignOff.run_id, SignOff.generation, SignOff.role, SignOff.user)
        signoffs = signoffs.where(col(SignOff.run_id).in_(ids), SignOff.vote == "approve")
        for run_id, signed_generation, role, user in session.execute(signoffs):
            if signed_generation == generation[run_id]:
                approvals[run_id].add((role, user))
        rows.approvals.update(approvals)
        ticks: defaultdict[int, set[str]] = defaultdict(set)
        ticked = select(AttestationTick.run_id, AttestationTick.item_id)
        for run_id, item_id in session.execute(ticked.where(col(AttestationTick.run_id).in_(ids))):
            ticks[run_id].add(item_id)
        rows.ticks.update(ticks)
        latest: dict[tuple[int, str], str] = {}
        checks = select(CheckRecord.run_id, CheckRecord.check_id, CheckRecord.status)
        checks = checks.where(col(CheckRecord.run_id).in_(ids), CheckRecord.critical)
        for run_id, check_id, status in session.execute(checks.order_by(col(CheckRecord.attempt))):
            latest[(run_id, check_id)] = status
        for (run_id, _), status in latest.items():
            rows.critical.setdefault(run_id, set()).add(status)
        return rows

    result: GateRows = await store.call(work)
    return result
