"""Whether the gate's tables still say what the audit trail recorded.

The hash chain proves the trail unchanged, not the tables beside it: a vote edited in
``signoff`` leaves every hash intact. This reads a run's gate events (through the index
on ``auditevent.run_id``) and its rows, and hands both to the pure replay and diff of
:mod:`bot.audit.projection`. For one run (a page, ``preprod show``, an evidence pack)
that is a handful of indexed queries; :func:`differences` walks every run in keyset
pages of run ids, holding one page's events and rows, so a large trail stays bounded
in memory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from bot.audit.chain import Entry
from bot.audit.projection import ACTIONS, Difference, Row, Table, diff, replay
from bot.store.audit import chain_now
from bot.store.models import (
    AttestationTick,
    AuditEvent,
    CheckRecord,
    DecisionRecord,
    ProductionOutcome,
    Run,
    SignOff,
    Waiver,
)
from bot.store.runs import RunStore

GATE_ACTIONS = frozenset(ACTIONS)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""The time given to replayed events: the replay does not compare times."""
UNFINISHED = frozenset({"pending", "running"})
"""Check attempts not finished yet: their ``check.finished`` event is still to come."""
PAGE = 500
"""Runs compared at a time by :func:`differences`."""

Which = Callable[[Any], ColumnElement[bool]]
"""Picks runs by their id column: one run, or a span of ids."""


@dataclass(frozen=True)
class Agreement:
    runs: int
    differences: int

    @property
    def ok(self) -> bool:
        return self.differences == 0


def run_differences(session: Session, run_id: int) -> list[Difference]:
    """How run ``run_id``'s tables differ from its trail (empty when they agree)."""
    return _confirmed(session, _compare(session, _one(run_id)))


def _one(run_id: int) -> Which:
    return lambda column: column == run_id


def _confirmed(session: Session, found: list[Difference]) -> list[Difference]:
    """The differences still there when their runs are read again. The events and each
    table are read by separate statements, each seeing what was committed when it ran
    (SQLite's driver begins no transaction for reads, PostgreSQL reads committed): a
    sign-off committed with its event between two of them looks like a row with no
    event, and so does a new run whose event is still queued to be chained. Writes
    commit row and event together, so a second read (after chaining the queue) no
    longer sees it; what a person changed behind the trail's back stays."""
    if not found:
        return found
    chain_now(session)  # a new run's event may still be queued (bot/store/audit.py)
    runs = sorted({d.run_id for d in found})
    return [d for run in runs for d in _compare(session, _one(run))]


def differences(
    session: Session, page: int = PAGE, counted: list[int] | None = None
) -> Iterator[Difference]:
    """Every difference of every run, a page of ``page`` runs at a time in id order; the
    last page reaches past the newest run, so events naming no stored run are compared
    too. ``counted`` (if given) receives the number of runs of each page."""
    after = 0
    while True:
        query = select(Run.id).where(col(Run.id) > after).order_by(col(Run.id)).limit(page)
        ids = list(session.exec(query))
        if counted is not None:
            counted.append(len(ids))
        last = len(ids) < page
        low, high = after, (None if last else ids[-1])

        def span(column: Any, low: int = low, high: int | None = high) -> ColumnElement[bool]:
            above: ColumnElement[bool] = column > low
            return above if high is None else above & (column <= high)

        yield from _confirmed(session, _compare(session, span))
        session.expunge_all()  # the identity map would otherwise hold every page
        if high is None:
            return
        after = high


def _compare(session: Session, which: Which) -> list[Difference]:
    return diff(replay(_events(session, which)), _rows(session, which))


def _events(session: Session, which: Which) -> list[Entry]:
    """The runs' gate events as plain rows (no ORM objects: a page holds thousands). The
    actions are picked here, not in SQL: given ``action IN (...)`` beside a span of run
    ids, SQLite reads every gate event of the trail through the action index for each
    page (measured by bench/agreement.py), instead of the span through the run index."""
    e = AuditEvent
    query = (
        sa_select(col(e.seq), col(e.run_id), col(e.actor), col(e.action), col(e.details))
        .where(which(col(e.run_id)))
        .order_by(col(e.seq))
    )
    return [
        Entry(seq, EPOCH, run_id, actor, action, details or {}, "", "")
        for seq, run_id, actor, action, details in session.execute(query)
        if action in GATE_ACTIONS
    ]


def _rows(session: Session, which: Which) -> list[Row]:
    """The run's rows as the replay sees them, read column by column."""
    rows: list[Row] = []
    for run_id, generation in session.execute(
        sa_select(col(Run.id), col(Run.generation)).where(which(col(Run.id)))
    ):
        rows.append(Row(Table.RUN, int(run_id), (), {"generation": generation}))
    c = CheckRecord
    checks = sa_select(
        col(c.run_id), col(c.check_id), col(c.attempt), col(c.status), col(c.critical),
        col(c.blocking), col(c.summary),
    ).where(which(col(c.run_id)))  # fmt: skip
    for run_id, check_id, attempt, status, critical, blocking, summary in session.execute(checks):
        result = {"status": status, "critical": critical, "blocking": blocking, "summary": summary}
        unfinished = status in UNFINISHED
        rows.append(Row(Table.CHECK, run_id, (check_id, attempt), result, "", unfinished))
    s = SignOff
    signoffs = sa_select(
        col(s.run_id), col(s.generation), col(s.role), col(s.user), col(s.vote), col(s.reason)
    ).where(which(col(s.run_id)))
    for run_id, generation, role, user, vote, reason in session.execute(signoffs):
        key = (generation, role, user)
        rows.append(Row(Table.SIGNOFF, run_id, key, {"vote": vote, "reason": reason}))
    w = Waiver
    waivers = sa_select(
        col(w.run_id), col(w.check_id), col(w.attempt), col(w.user), col(w.justification)
    ).where(which(col(w.run_id)))
    for run_id, check_id, attempt, user, justification in session.execute(waivers):
        waived: dict[str, Any] = {"user": user, "justification": justification}
        rows.append(Row(Table.WAIVER, run_id, (check_id, attempt), waived))
    t = AttestationTick
    ticks = sa_select(col(t.run_id), col(t.item_id), col(t.user), col(t.note)).where(
        which(col(t.run_id))
    )
    for run_id, item_id, user, note in session.execute(ticks):
        rows.append(Row(Table.TICK, run_id, (item_id,), {"user": user, "note": note}))
    d = DecisionRecord
    decisions = sa_select(col(d.run_id), col(d.outcome), col(d.reasons)).where(which(col(d.run_id)))
    for run_id, outcome, reasons in session.execute(decisions):
        fields: dict[str, Any] = {"outcome": outcome, "reasons": list(reasons or [])}
        rows.append(Row(Table.DECISION, run_id, (), fields))
    o = ProductionOutcome
    outcomes = sa_select(col(o.run_id), col(o.result), col(o.user)).where(which(col(o.run_id)))
    for run_id, result, user in session.execute(outcomes):
        rows.append(Row(Table.OUTCOME, run_id, (), {"result": result, "user": user}))
    return rows


async def check_run(store: RunStore, run_id: int) -> list[Difference]:
    """:func:`run_differences` in a worker thread."""
    return await store.call(lambda session: run_differences(session, run_id))


async def check_all(
    store: RunStore, sink: Callable[[Difference], object], page: int = PAGE
) -> Agreement:
    """Hand every difference to ``sink`` as it is found; how many runs and differences."""

    def work(session: Session) -> Agreement:
        counted: list[int] = []
        found = 0
        for difference in differences(session, page, counted):
            sink(difference)
            found += 1
        return Agreement(sum(counted), found)

    return await store.call(work)
