"""The success metrics' rows, kept current in the transaction of every write that
changes them.

Whenever a flush writes a run, a check record, a decision, a production outcome or a
waiver, the runs it touched are recounted before the flush returns: each run's facts
are read again from those rows (two small indexed queries), compared with its
``insightrun`` row, and only a difference is carried into the rollups of its service and
day (``insightday``, ``insightcheck``). A check finishing moves one ``insightcheck`` row;
a decision or an outcome one ``insightday`` row. Recounts take the audit appenders' lock
(bot/store/audit.py), which every one of those writes takes anyway, so two replicas
never recount the same day from stale rows.

A hook on the ORM flush rather than a call in each store method: whatever writes those
rows through a session (the store, a test seeding a database, a future command) keeps
the figures exact without knowing about them. Bulk Core inserts bypass it; :func:`rebuild`
recounts everything (migration 0010 runs it on existing databases)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Sequence
from itertools import chain
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    bindparam,
    delete,
    event,
    func,
    inspect,
    select,
)
from sqlalchemy.orm import Session
from sqlmodel import col

from bot.store.audit import hold_write_lock
from bot.store.models import (
    CheckRecord,
    DecisionRecord,
    InsightCheck,
    InsightDay,
    InsightRun,
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

TRACKED: dict[type, tuple[str, ...]] = {
    Run: ("service", "created_at", "finished_at"),
    CheckRecord: ("run_id", "check_id", "status"),
    DecisionRecord: ("outcome", "at"),
    ProductionOutcome: ("result",),
    Waiver: ("run_id",),
}
"""The rows the figures come from, and the attributes whose change moves them."""


def touched(session: Session) -> set[int]:
    """The runs whose facts the flush in progress may change (call it after the flush:
    ids are assigned, and the session still shows what was new, dirty and deleted)."""
    runs: set[int | None] = set()
    for obj in chain(session.new, session.deleted):
        if type(obj) in TRACKED:
            runs.add(_run_of(obj))
    for obj in session.dirty:
        names = TRACKED.get(type(obj), ())
        state = inspect(obj)
        changed = [name for name in names if state.attrs[name].history.has_changes()]
        if changed:
            runs.add(_run_of(obj))
        if "run_id" in changed:  # moved to another run: the one it left changes too
            runs.update(state.attrs["run_id"].history.deleted)
    return {run for run in runs if run is not None}


def _run_of(obj: Any) -> int | None:
    return obj.id if isinstance(obj, Run) else obj.run_id


def _after_flush(session: Session, _context: Any) -> None:
    runs = touched(session)
    if runs:
        refresh(session.connection(), runs)


event.listen(Session, "after_flush", _after_flush)


def refresh(connection: Connection, runs: Collection[int]) -> None:
    """Recount ``runs`` and carry the differences into their rollups."""
    hold_write_lock(connection)
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
STORED = select(InsightRun).where(col(InsightRun.run_id).in_(bindparam("runs", expanding=True)))


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
        run_id, started, service, finished, outcome, decided, production, waivers = row
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
        )
    return facts


def stored_facts(connection: Connection, runs: Sequence[int]) -> dict[int, Fact]:
    """The facts of ``runs`` as last counted."""
    rows = connection.execute(STORED, {"runs": list(runs)})
    return {row.run_id: fact_of(row) for row in rows}


def fact_of(row: Any) -> Fact:
    """An ``insightrun`` row (or a result row with its columns) as a :class:`Fact`."""
    return Fact(
        run_id=row.run_id,
        started=row.started,
        service=row.service,
        outcome=row.outcome,
        production=row.production,
        cycle=row.cycle,
        checks=row.checks,
        waivers=row.waivers,
        tallies={check: (failed, total) for check, (failed, total) in (row.tallies or {}).items()},
    )


def rebuild(connection: Connection, batch: int = BATCH) -> int:
    """Recount every run from scratch (an existing database being migrated, or one
    seeded with bulk inserts); how many runs were counted."""
    hold_write_lock(connection)
    for model in (InsightRun, InsightDay, InsightCheck):
        connection.execute(delete(model))
    return write_all(connection, _batches(connection, batch), batch)


def _batches(connection: Connection, size: int) -> Iterator[list[Fact]]:
    """Every run's facts, ``size`` run ids at a time."""
    highest = connection.execute(select(func.max(col(Run.id)))).scalar() or 0
    for low in range(0, highest + 1, size):
        facts = source_facts(connection, range(low, low + size))
        if facts:
            yield list(facts.values())
