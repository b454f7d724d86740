"""Pages of runs for the dashboard, and the gate rows that say what each run is waiting for.

Paging is by key (``id`` below or above the page's edge), so a late page costs what the
first one does: every query walks the primary key (or an index of migration 0009) from
the edge and stops after one page."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, exists, literal, null, or_, union_all
from sqlalchemy import select as sa_select
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
    """(role, user) approvals of each run's current evidence generation. This and the
    next two are read only for finished runs without a decision: the others' labels
    (bot/gate/summary.py) do not depend on them."""
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
    """Decisions of ``runs``; current approvals, ticks and critical checks' statuses of
    those finished and undecided (what their labels need), in four queries at most."""
    result: GateRows = await store.call(lambda session: _gate_rows(session, runs))
    return result


@dataclass(frozen=True)
class ListedRun:
    """What ``/preprod list`` shows of a run, and what its label needs: columns, not a
    :class:`Run` (building 20 ORM objects was most of the ``list`` ack's CPU)."""

    id: int
    service: str
    version: str
    environment: str
    status: RunStatus
    created_at: datetime
    requester: str
    plan: str
    generation: int


async def latest_with_gate_rows(store: RunStore, limit: int) -> tuple[list[ListedRun], GateRows]:
    """The ``limit`` newest runs and their gate rows (as :func:`gate_rows`), in one call:
    ``/preprod list`` answers in its ack. The runs and their decisions are one query;
    the other three are made only for finished runs without a decision."""

    def work(session: Session) -> tuple[list[ListedRun], GateRows]:
        found = list(session.connection().execute(_LATEST, {"limit": limit}))
        runs = [ListedRun(*row[:-1]) for row in found]
        decided = {row[0]: row[-1] for row in found if row[-1] is not None}
        return runs, _gate_rows(session, runs, decided)

    result: tuple[list[ListedRun], GateRows] = await store.read(work)
    return result


def _gate_rows(
    session: Session, runs: Sequence[Run | ListedRun], decided: dict[int, str] | None = None
) -> GateRows:
    """``decided``: the runs' decisions, when the caller read them already."""
    rows = GateRows()
    if not runs:
        return rows
    if decided is None:
        # Columns, not ORM objects: ``list`` answers in its ack, and building a check
        # record (its result, details, timings) for each of 20 runs' checks was CPU the
        # acks queued behind it waited for.
        ids = [run.id for run in runs if run.id is not None]
        read = session.execute(_DECISIONS, {"ids": ids})
        decided = {run_id: outcome for run_id, outcome in read}
    rows.decisions.update(decided)
    # only a finished run without a decision is labelled by what it awaits
    generation = {
        run.id: run.generation
        for run in runs
        if run.id is not None and run.id not in decided and run.status == RunStatus.FINISHED
    }
    ids = list(generation)
    if not ids:
        return rows
    approvals: defaultdict[int, set[tuple[str, str]]] = defaultdict(set)
    ticks: defaultdict[int, set[str]] = defaultdict(set)
    latest: dict[tuple[int, str], tuple[int, str]] = {}
    for kind, run_id, number, name, value in session.execute(_UNDECIDED, {"ids": ids}):
        if kind == "approval" and number == generation[run_id]:
            approvals[run_id].add((name, value))
        elif kind == "tick":
            ticks[run_id].add(name)
        elif kind == "check":
            found = latest.get((run_id, name))
            if found is None or found[0] < number:  # the latest attempt's status
                latest[(run_id, name)] = (number, value)
    rows.approvals.update(approvals)
    rows.ticks.update(ticks)
    for (run_id, _), (_, status) in latest.items():
        rows.critical.setdefault(run_id, set()).add(status)
    return rows


def _undecided_rows() -> Any:
    """Approvals (role, user, of a generation), ticks (item) and critical checks'
    statuses (check, status, of an attempt) of ``ids``, in one statement:
    ``(kind, run_id, number, name, value)``; the runs' ids bound as ``ids``."""
    approvals = sa_select(
        literal("approval"),
        col(SignOff.run_id),
        col(SignOff.generation),
        col(SignOff.role),
        col(SignOff.user),
    ).where(col(SignOff.run_id).in_(_IDS), col(SignOff.vote) == "approve")
    ticks = sa_select(
        literal("tick"), col(AttestationTick.run_id), null(), col(AttestationTick.item_id), null()
    ).where(col(AttestationTick.run_id).in_(_IDS))
    checks = sa_select(
        literal("check"),
        col(CheckRecord.run_id),
        col(CheckRecord.attempt),
        col(CheckRecord.check_id),
        col(CheckRecord.status),
    ).where(col(CheckRecord.run_id).in_(_IDS), col(CheckRecord.critical))
    return union_all(approvals, ticks, checks)


_IDS: Any = bindparam("ids", expanding=True)
_UNDECIDED = _undecided_rows()
_DECISIONS = sa_select(col(DecisionRecord.run_id), col(DecisionRecord.outcome)).where(
    col(DecisionRecord.run_id).in_(_IDS)
)
_LATEST = (
    sa_select(
        *(getattr(Run, name) for name in ListedRun.__dataclass_fields__),
        col(DecisionRecord.outcome),
    )
    .outerjoin(DecisionRecord, col(DecisionRecord.run_id) == col(Run.id))
    .order_by(col(Run.id).desc())
    .limit(bindparam("limit"))
)
"""The statements of ``list``, built once: building them was a third of its CPU."""
