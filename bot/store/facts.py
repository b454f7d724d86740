"""The success metrics' rows, brought up to date from the audit trail.

Every write that changes a run's part of the figures (run started, check finished, run
finished, re-run, waiver, decision, production outcome) appends an audit event naming
the run, in its own transaction. :func:`catch_up` recounts the runs named by the events
appended since the last count (``insightmark``): each run's facts are read again from
their rows (two small indexed queries), compared with its ``insightrun`` row, and only a
difference is carried into the rollups of its service and day (``insightday``,
``insightcheck``). It runs under the audit appenders' lock (bot/store/audit.py), so no
event can commit behind the mark and two processes never apply one difference twice.

Following the trail rather than recounting inside every write keeps the writes as they
were (a recount in each transaction doubled the cost of storing a run and held the one
lock every audited write takes for longer; bench/ack_latency.py showed it). The bots
catch up on every lease beat and before every insights read, so the figures read are
exact. Rows written without an audit event (a bulk import, a test seeding a database)
are counted by :func:`rebuild` (migration 0010 runs it on existing databases)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlmodel import col

from bot.store.audit import any_queued, hold_write_lock, take_write_lock
from bot.store.models import (
    AuditEvent,
    CheckRecord,
    DecisionRecord,
    InsightCheck,
    InsightDay,
    InsightMark,
    InsightRun,
    InsightTotal,
    InsightWeek,
    ProductionOutcome,
    Run,
    Waiver,
)
from bot.store.rollups import apply, write_all
from bot.store.tally import Fact, check_tallies

CHUNK = 500
"""Runs recounted per query (bounds an ``IN`` list)."""
BATCH = 5000
"""Runs read at a time by :func:`rebuild`."""


def catch_up(connection: Connection) -> int:
    """Recount the runs named by audit events after the mark, then move the mark to the
    newest event; how many runs were recounted. Cheap when nothing is pending: call
    :func:`pending` first, outside a write transaction."""
    hold_write_lock(connection)
    mark = _mark(connection)
    head = _head(connection)
    if head <= mark:
        return 0
    named = select(col(AuditEvent.run_id)).distinct()
    after = named.where(col(AuditEvent.seq) > mark)
    runs = [run for (run,) in connection.execute(after) if run is not None]
    _recount(connection, runs)
    _set_mark(connection, head)
    return len(runs)


def pending(connection: Connection) -> bool:
    """Events the insight rows have not followed yet (a read, no lock)."""
    return _head(connection) > _mark(connection) or any_queued(connection)


def _head(connection: Connection) -> int:
    return int(connection.execute(select(func.max(col(AuditEvent.seq)))).scalar() or 0)


def _mark(connection: Connection) -> int:
    found = connection.execute(select(col(InsightMark.seq)).where(col(InsightMark.id) == 1))
    return int(found.scalar() or 0)


def _set_mark(connection: Connection, seq: int) -> None:
    moved = connection.execute(update(InsightMark).where(col(InsightMark.id) == 1).values(seq=seq))
    if not moved.rowcount:
        connection.execute(insert(InsightMark).values(id=1, seq=seq))


def refresh(connection: Connection, runs: Collection[int]) -> None:
    """Recount ``runs`` and carry the differences into their rollups."""
    hold_write_lock(connection)
    _recount(connection, runs)


def _recount(connection: Connection, runs: Collection[int]) -> None:
    """:func:`refresh` once the lock is held (:func:`catch_up` takes it before it reads
    the mark)."""
    ordered = sorted(runs)
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        now = source_facts(connection, chunk)
        was = stored_facts(connection, chunk)
        changes = [(was.get(run), now.get(run)) for run in chunk if was.get(run) != now.get(run)]
        if changes:
            apply(connection, changes)


def _reading(which: Callable[[Any], ColumnElement[bool]]) -> tuple[Any, Any]:
    """The two queries that read the facts of the runs ``which`` picks by id: the run
    with its decision, outcome and waiver count, and its checks' attempts by status."""
    waivers = (
        select(func.count())
        .where(col(Waiver.run_id) == col(Run.id))
        .correlate(Run)
        .scalar_subquery()
    )
    runs = (
        select(
            col(Run.id),
            col(Run.status),
            col(Run.created_at),
            col(Run.service),
            col(Run.finished_at),
            col(DecisionRecord.outcome),
            col(DecisionRecord.at),
            col(ProductionOutcome.result),
            waivers,
        )
        .outerjoin(DecisionRecord, col(DecisionRecord.run_id) == col(Run.id))
        .outerjoin(ProductionOutcome, col(ProductionOutcome.run_id) == col(Run.id))
        .where(which(col(Run.id)))
    )
    checks = (
        select(
            col(CheckRecord.run_id),
            col(CheckRecord.check_id),
            col(CheckRecord.status),
            func.count(),
        )
        .where(which(col(CheckRecord.run_id)))
        .group_by(col(CheckRecord.run_id), col(CheckRecord.check_id), col(CheckRecord.status))
    )
    return runs, checks


# built once: a recount runs on every write, and building a statement costs more than
# the database takes to answer it
BY_IDS = _reading(lambda run_id: run_id.in_(bindparam("runs", expanding=True)))
BY_SPAN = _reading(lambda run_id: (run_id >= bindparam("low")) & (run_id < bindparam("high")))
FACT_COLUMNS = (
    col(InsightRun.run_id),
    col(InsightRun.started),
    col(InsightRun.service),
    col(InsightRun.outcome),
    col(InsightRun.production),
    col(InsightRun.cycle),
    col(InsightRun.checks),
    col(InsightRun.waivers),
    col(InsightRun.tallies),
    col(InsightRun.status),
)
"""An ``insightrun`` row's columns in the order of :class:`Fact`'s fields."""
STORED = select(*FACT_COLUMNS).where(col(InsightRun.run_id).in_(bindparam("runs", expanding=True)))


def source_facts(connection: Connection, runs: Sequence[int]) -> dict[int, Fact]:
    """The facts of ``runs`` (a list, or a range of ids), read from the rows they come
    from."""
    params: dict[str, Any]
    if isinstance(runs, range):
        (query, checks), params = BY_SPAN, {"low": runs.start, "high": runs.stop}
    else:
        (query, checks), params = BY_IDS, {"runs": list(runs)}
    statuses: dict[int, list[tuple[str, str, int]]] = defaultdict(list)
    for run, check_id, status, n in connection.execute(checks, params):
        statuses[run].append((check_id, status, int(n)))
    facts = {}
    for row in connection.execute(query, params):
        run_id, status, started, service, finished, outcome, decided, production, waivers = row
        facts[run_id] = Fact(
            run_id=run_id,
            started=started,
            service=service,
            outcome=outcome,
            production=production,
            cycle=(decided - started).total_seconds() if decided is not None else None,
            checks=(finished - started).total_seconds() if finished is not None else None,
            waivers=int(waivers),
            tallies=check_tallies(statuses.get(run_id, ())),
            status=str(getattr(status, "value", status)),
        )
    return facts


def stored_facts(connection: Connection, runs: Sequence[int]) -> dict[int, Fact]:
    """The facts of ``runs`` as last counted."""
    rows = connection.execute(STORED, {"runs": list(runs)})
    return {row[0]: fact_of(row) for row in rows}


def fact_of(row: Sequence[Any]) -> Fact:
    """The values of :data:`FACT_COLUMNS`, selected in that order, as a :class:`Fact`
    (by position: a period's partial days are hundreds of rows a request, and looking
    each column up by name on a result row was most of their cost)."""
    run_id, started, service, outcome, production, cycle, checks, waivers, tallies, status = row
    return Fact(
        run_id, started, service, outcome, production, cycle, checks, waivers,
        {check: (failed, total) for check, (failed, total) in (tallies or {}).items()},
        status,
    )  # fmt: skip


def rebuild(connection: Connection, batch: int = BATCH) -> int:
    """Recount every run from scratch (an existing database being migrated, or one
    seeded with bulk inserts), the mark at the newest audit event; how many runs were
    counted."""
    take_write_lock(connection)
    for model in (InsightRun, InsightDay, InsightWeek, InsightCheck, InsightTotal):
        connection.execute(delete(model))
    counted = write_all(connection, _batches(connection, batch), batch)
    _set_mark(connection, _head(connection))
    return counted


def _batches(connection: Connection, size: int) -> Iterator[list[Fact]]:
    """Every run's facts, ``size`` run ids at a time."""
    highest = connection.execute(select(func.max(col(Run.id)))).scalar() or 0
    for low in range(0, highest + 1, size):
        facts = source_facts(connection, range(low, low + size))
        if facts:
            yield list(facts.values())
