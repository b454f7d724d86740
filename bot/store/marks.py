"""The writes of a check's progress (running, its result), made in a transaction the
caller commits, so that one transaction can carry several (bot/store/batch.py); and
the lease fence every write of an executing process goes through."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, literal_column, text, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from bot.audit.chain import Action
from bot.store.audit import Note, append, append_kept, lock_kept
from bot.store.batch import Write, before_commit
from bot.store.jsonrows import as_rows, stored_json, stored_time
from bot.store.models import CheckDistribution, CheckRecord, Run, RunStatus
from bot.store.pipeline import pipelined
from checks.base import CheckResult

_FENCED = "preprod_fenced"
"""A ``session.info`` key: the (run, owner) pairs this transaction has fenced."""


class LeaseLost(Exception):
    """This process no longer holds the run's lease: another one executes it now, and
    nothing this one found may be written over what that one finds."""


def fence(session: Session, run_id: int, owner: str | None) -> None:
    """Within the writing transaction: refuse unless ``owner`` holds the run (the row is
    locked on PostgreSQL; SQLite serialises writers anyway). Once a transaction: the
    lock is held until it ends, and a batch writes many checks of a run."""
    if owner is None:
        return
    fenced: set[tuple[int, str]] = session.info.setdefault(_FENCED, set())
    if (run_id, owner) in fenced:
        return
    held = session.execute(_LEASE_OWNER, {"p_run": run_id}).first()
    if held is None or held[0] != owner:
        raise LeaseLost(f"run {run_id} is no longer held by {owner}")
    fenced.add((run_id, owner))


_LEASE_OWNER = (
    sa_select(col(Run.lease_owner)).where(col(Run.id) == bindparam("p_run")).with_for_update()
)
"""The run's lease holder, its row locked: one column, not the run loaded as an object
(a fence comes first in every batch of check writes; the object was most of its cost)."""


def latest(session: Session, run_id: int, check_id: str) -> CheckRecord:
    """The check's latest attempt; LookupError if the run has no such check."""
    query = (
        select(CheckRecord)
        .where(CheckRecord.run_id == run_id, CheckRecord.check_id == check_id)
        .order_by(col(CheckRecord.attempt).desc())
    )
    record = session.exec(query).first()
    if record is None:
        raise LookupError(f"run {run_id} has no check {check_id!r}")
    return record


# The check writes are plain statements built once, not ORM loads and flushes, made
# together for a transaction's checks (executemany): they run for every check of every
# run, and the ORM's work, then a statement's own, was most of their cost.
_RECORD = CheckRecord.__table__  # type: ignore[attr-defined]
_DISTRIBUTION = CheckDistribution.__table__  # type: ignore[attr-defined]
_ATTEMPTS = sa_select(
    _RECORD.c.id, _RECORD.c.check_id, _RECORD.c.attempt, _RECORD.c.check_type, _RECORD.c.critical
).where(_RECORD.c.run_id == bindparam("p_run"), _RECORD.c.check_id.in_(bindparam("p_checks")))
_UNFINISHED = _RECORD.c.status.in_([literal_column("'pending'"), literal_column("'running'")])
_MARK = (
    update(_RECORD)
    .where(_RECORD.c.id == bindparam("p_id"), _UNFINISHED)
    .values(status="running", started_at=bindparam("p_at", type_=_RECORD.c.started_at.type))
)
_QUEUED = "preprod_check_writes"
"""A ``session.info`` key: the check writes of this transaction, in order, made by
:func:`write_checks` once its writes are (bot/store/batch.py ``before_commit``)."""


@dataclass(frozen=True)
class _Mark:
    run_id: int
    check_id: str
    at: datetime


@dataclass(frozen=True)
class _Result:
    run_id: int
    result: CheckResult

    @property
    def check_id(self) -> str:
        return self.result.check_id


def mark_write(run_id: int, check_id: str, at: datetime, owner: str | None) -> Write:
    """Check running (its latest attempt). An attempt that already has its result
    keeps it: a mark queued without waiting never lands over one."""
    return _queued(_Mark(run_id, check_id, at), owner)


def result_write(run_id: int, result: CheckResult, owner: str | None) -> Write:
    """The check's result on its latest attempt, its response-time distribution, if
    any, and the ``check.finished`` audit event."""
    return _queued(_Result(run_id, result), owner)


def _queued(change: _Mark | _Result, owner: str | None) -> Write:
    """The write: fenced now, made with the transaction's other check writes."""

    def write(session: Session) -> None:
        fence(session, change.run_id, owner)
        session.info.setdefault(_QUEUED, []).append(change)
        before_commit(session, write_checks)

    return write


def write_checks(session: Session) -> None:
    """The check writes queued in this transaction, together: one query a run finds
    each check's latest attempt, one statement makes the marks, one the results, one
    keeps the distributions, and a result's event joins the trail, in the order the
    results came. LookupError for a run without such a check (the group commit then
    makes the batch's writes again, a write a transaction)."""
    queued: list[_Mark | _Result] = session.info.pop(_QUEUED, [])
    connection = session.connection()
    latest = _latest_attempts(connection, queued)
    marks, results, distributions, notes = [], [], [], []
    for change in queued:
        found = latest.get((change.run_id, change.check_id))
        if found is None:
            raise LookupError(f"run {change.run_id} has no check {change.check_id!r}")
        if isinstance(change, _Mark):
            marks.append({"p_id": found.id, "p_at": change.at})
            continue
        result = change.result
        results.append(_values(found.id, result, connection))
        if result.distribution is not None:
            distributions.append(
                {
                    "run": change.run_id,
                    "chk": result.check_id,
                    "attempt": found.attempt,
                    "data": stored_json(result.distribution),
                }
            )
        details = {
            "check": result.check_id,
            "type": found.check_type,
            "attempt": found.attempt,
            "status": result.status.value,
            "critical": found.critical,
            "blocking": result.blocking,
            "summary": result.summary,
        }
        notes.append(Note(Action.CHECK_FINISHED, "preprod", change.run_id, details))
    dialect = connection.dialect.name
    with pipelined(connection):  # PostgreSQL: these statements in one round trip
        # Marks first: a result in the same transaction is newer, whichever came first.
        if marks:
            connection.execute(_MARK, marks)
        if results:
            connection.execute(_RESULTS[dialect], {"rows": as_rows(_latest_first(results))})
        if distributions:
            kept = as_rows(list({_distribution_key(d): d for d in distributions}.values()))
            connection.execute(_KEEP_DISTRIBUTIONS[dialect], {"rows": kept})
        if notes:
            lock_kept(session)  # the trail's lock with them; its head is read next
    for note in notes:
        append_kept(session, note)


def _latest_attempts(
    connection: Connection, queued: list[_Mark | _Result]
) -> dict[tuple[int, str], Any]:
    """(run, check) -> the latest attempt's row: id, attempt, type and criticality."""
    latest: dict[tuple[int, str], Any] = {}
    for run_id in dict.fromkeys(change.run_id for change in queued):
        checks = list({change.check_id for change in queued if change.run_id == run_id})
        for row in connection.execute(_ATTEMPTS, {"p_run": run_id, "p_checks": checks}):
            key = (run_id, row.check_id)
            if key not in latest or latest[key].attempt < row.attempt:
                latest[key] = row
    return latest


def _values(record_id: int, result: CheckResult, connection: Connection) -> dict[str, Any]:
    """A result's row of the one statement that writes a batch's results; JSON columns
    as the text SQLAlchemy would have bound (``json.dumps``), times as it stores them."""
    return {
        "id": record_id,
        "status": result.status.value,
        "summary": result.summary,
        "metrics": stored_json(dict(result.metrics)),
        "evidence": result.evidence,
        "blocking": result.blocking,
        "started": stored_time(result.started_at, _RECORD.c.started_at, connection),
        "finished": stored_time(result.finished_at, _RECORD.c.finished_at, connection),
    }


def _latest_first(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row a record: a later result of the same record wins, as it would written
    after the first, keeping the earlier one's start when it has none of its own."""
    kept: dict[int, dict[str, Any]] = {}
    for row in results:
        earlier = kept.pop(row["id"], None)
        if earlier is not None and row["started"] is None:
            row = {**row, "started": earlier["started"]}
        kept[row["id"]] = row
    return list(kept.values())


def _distribution_key(row: dict[str, Any]) -> tuple[int, str, int]:
    return (row["run"], row["chk"], row["attempt"])


# A batch's results, and its distributions, each in one statement over a JSON array of
# rows (bot/store/jsonrows.py), not an executemany.
_RESULTS = {
    "sqlite": text(
        "UPDATE checkrecord SET status = r.value ->> '$.status', "
        "summary = r.value ->> '$.summary', metrics = r.value ->> '$.metrics', "
        "evidence = r.value ->> '$.evidence', blocking = r.value ->> '$.blocking', "
        "started_at = coalesce(r.value ->> '$.started', checkrecord.started_at), "
        "finished_at = r.value ->> '$.finished' "
        "FROM json_each(:rows) AS r WHERE checkrecord.id = r.value ->> '$.id'"
    ),
    "postgresql": text(
        "UPDATE checkrecord SET status = r.status, summary = r.summary, "
        "metrics = CAST(r.metrics AS json), evidence = r.evidence, blocking = r.blocking, "
        "started_at = coalesce(r.started, checkrecord.started_at), finished_at = r.finished "
        "FROM json_to_recordset(CAST(:rows AS json)) AS r(id integer, status text, "
        "summary text, metrics text, evidence text, blocking boolean, started timestamptz, "
        "finished timestamptz) WHERE checkrecord.id = r.id"
    ),
}
_KEEP_DISTRIBUTIONS = {
    # Insert or replace an attempt's distribution (a resumed check writes its attempt's again).
    "sqlite": text(
        "INSERT INTO checkdistribution (run_id, check_id, attempt, data) "
        "SELECT r.value ->> '$.run', r.value ->> '$.chk', r.value ->> '$.attempt', "
        "r.value ->> '$.data' FROM json_each(:rows) AS r WHERE true "
        "ON CONFLICT (run_id, check_id, attempt) DO UPDATE SET data = excluded.data"
    ),
    "postgresql": text(
        "INSERT INTO checkdistribution (run_id, check_id, attempt, data) "
        "SELECT r.run, r.chk, r.attempt, CAST(r.data AS json) "
        "FROM json_to_recordset(CAST(:rows AS json)) "
        "AS r(run integer, chk text, attempt integer, data text) "
        "ON CONFLICT (run_id, check_id, attempt) DO UPDATE SET data = excluded.data"
    ),
}


_RUN = Run.__table__  # type: ignore[attr-defined]
_FINISH = (
    update(_RUN)
    .where(_RUN.c.id == bindparam("p_run"))
    .values(
        status=bindparam("p_status", type_=_RUN.c.status.type),
        finished_at=bindparam("p_at", type_=_RUN.c.finished_at.type),
    )
    .returning(_RUN.c.generation)
)


def finish_write(
    run_id: int,
    status: RunStatus,
    action: Action,
    actor: str,
    owner: str | None,
    now: Callable[[], datetime],
) -> Write:
    """The run's automated phase ended: its status, its end (``now()``, in the
    transaction) and its ``action`` event, in one statement and the trail's append, not
    an ORM load and flush. Made with the transaction's check writes, after those queued
    before it (their events come first in the trail, as when each had its transaction)."""

    def write(session: Session) -> None:
        fence(session, run_id, owner)
        before_commit(session, finish)

    def finish(session: Session) -> None:
        values = {"p_run": run_id, "p_status": status, "p_at": now()}
        generation = session.connection().execute(_FINISH, values).scalar_one_or_none()
        if generation is None:
            raise LookupError(f"no run {run_id}")
        details = {"status": status.value, "generation": generation}
        append(session, Note(action, actor, run_id, details))

    return write


NewChecks = list[tuple[str, str, bool]]
"""A new run's checks, in plan order: ``(check_id, check_type, critical)``."""


def insert_checks(connection: Connection, runs: list[tuple[int, NewChecks]]) -> None:
    """New runs' checks, pending, in plan order: ``(run_id, [(check_id, check_type,
    critical)])``, each holding what a ``CheckRecord()`` holds by default (its JSON's
    ``{}`` is no column default), in one statement over a JSON array for all the runs
    (an executemany's row each cost the driver's parameter work and, on PostgreSQL, its
    own execution in the pipeline)."""
    values = [
        {"run": run_id, "id": c, "type": t, "pos": n, "critical": k}
        for run_id, checks in runs
        for n, (c, t, k) in enumerate(checks)
    ]
    if values:
        connection.execute(_INSERT_CHECKS[connection.dialect.name], {"rows": as_rows(values)})


_CHECK_COLUMNS = (
    "INSERT INTO checkrecord (run_id, check_id, check_type, position, critical, attempt, "
    "status, summary, metrics, evidence, blocking) "
)
_INSERT_CHECKS = {
    "sqlite": text(
        _CHECK_COLUMNS + "SELECT r.value ->> '$.run', r.value ->> '$.id', r.value ->> '$.type', "
        "r.value ->> '$.pos', r.value ->> '$.critical', 1, 'pending', '', '{}', '', 0 "
        "FROM json_each(:rows) AS r ORDER BY r.key"
    ),
    "postgresql": text(
        _CHECK_COLUMNS + "SELECT r.run, r.id, r.type, r.pos, r.critical, 1, 'pending', '', "
        "CAST('{}' AS json), '', false FROM json_to_recordset(CAST(:rows AS json)) "
        "AS r(run integer, id text, type text, pos integer, critical boolean) "
        "ORDER BY r.run, r.pos"
    ),
}
