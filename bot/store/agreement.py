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
from typing import Any

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, select

from bot.audit.chain import Entry
from bot.audit.projection import ACTIONS, Difference, Row, Table, diff, replay
from bot.store.audit import entry
from bot.store.models import (
    AttestationTick,
    AuditEvent,
    DecisionRecord,
    ProductionOutcome,
    Run,
    SignOff,
    Waiver,
)
from bot.store.runs import RunStore

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
    return _compare(session, lambda column: column == run_id)


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

        yield from _compare(session, span)
        session.expunge_all()  # the identity map would otherwise hold every page
        if high is None:
            return
        after = high


def _compare(session: Session, which: Which) -> list[Difference]:
    return diff(replay(_events(session, which)), _rows(session, which))


def _events(session: Session, which: Which) -> list[Entry]:
    query = (
        select(AuditEvent)
        .where(which(col(AuditEvent.run_id)), col(AuditEvent.action).in_(ACTIONS))
        .order_by(col(AuditEvent.seq))
    )
    return [entry(row) for row in session.exec(query)]


def _rows(session: Session, which: Which) -> list[Row]:
    rows: list[Row] = []
    for run in session.exec(select(Run).where(which(col(Run.id)))):
        assert run.id is not None
        rows.append(Row(Table.RUN, run.id, (), {"generation": run.generation}))
    for s in session.exec(select(SignOff).where(which(col(SignOff.run_id)))):
        key = (s.generation, s.role, s.user)
        rows.append(Row(Table.SIGNOFF, s.run_id, key, {"vote": s.vote, "reason": s.reason}))
    for w in session.exec(select(Waiver).where(which(col(Waiver.run_id)))):
        waived: dict[str, Any] = {"user": w.user, "justification": w.justification}
        rows.append(Row(Table.WAIVER, w.run_id, (w.check_id, w.attempt), waived))
    for t in session.exec(select(AttestationTick).where(which(col(AttestationTick.run_id)))):
        rows.append(Row(Table.TICK, t.run_id, (t.item_id,), {"user": t.user, "note": t.note}))
    for d in session.exec(select(DecisionRecord).where(which(col(DecisionRecord.run_id)))):
        fields: dict[str, Any] = {"outcome": d.outcome, "reasons": list(d.reasons or [])}
        rows.append(Row(Table.DECISION, d.run_id, (), fields))
    for o in session.exec(select(ProductionOutcome).where(which(col(ProductionOutcome.run_id)))):
        rows.append(Row(Table.OUTCOME, o.run_id, (), {"result": o.result, "user": o.user}))
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
