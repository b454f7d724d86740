"""The writes of a check's progress (running, its result), made in a transaction the
caller commits, so that one transaction can carry several (bot/store/batch.py); and
the lease fence every write of an executing process goes through."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from bot.audit.chain import Action
from bot.store.audit import Note, append
from bot.store.batch import Write
from bot.store.models import CheckDistribution, CheckRecord, Run
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
    run = session.exec(select(Run).where(col(Run.id) == run_id).with_for_update()).first()
    if run is None or run.lease_owner != owner:
        raise LeaseLost(f"run {run_id} is no longer held by {owner}")
    fenced.add((run_id, owner))


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


# The check writes are plain statements built once, not ORM loads and flushes: these
# two run for every check of every run, and the ORM's work was most of their cost.
_RECORD = CheckRecord.__table__  # type: ignore[attr-defined]
_DISTRIBUTION = CheckDistribution.__table__  # type: ignore[attr-defined]
_THIS_CHECK = and_(
    _RECORD.c.run_id == bindparam("p_run"), _RECORD.c.check_id == bindparam("p_check")
)
_LATEST_ID = (
    sa_select(_RECORD.c.id)
    .where(_THIS_CHECK)
    .order_by(_RECORD.c.attempt.desc())
    .limit(1)
    .scalar_subquery()
)
_MARK = (
    update(_RECORD)
    .where(_RECORD.c.id == _LATEST_ID, _RECORD.c.status.in_(["pending", "running"]))
    .values(status="running", started_at=bindparam("p_at", type_=_RECORD.c.started_at.type))
)
_RESULT = (
    update(_RECORD)
    .where(_RECORD.c.id == _LATEST_ID)
    .values(
        status=bindparam("p_status"),
        summary=bindparam("p_summary"),
        metrics=bindparam("p_metrics", type_=_RECORD.c.metrics.type),
        evidence=bindparam("p_evidence"),
        blocking=bindparam("p_blocking"),
        started_at=func.coalesce(
            bindparam("p_started", type_=_RECORD.c.started_at.type), _RECORD.c.started_at
        ),
        finished_at=bindparam("p_finished", type_=_RECORD.c.finished_at.type),
    )
    .returning(_RECORD.c.attempt, _RECORD.c.check_type, _RECORD.c.critical)
)


def mark_write(run_id: int, check_id: str, at: datetime, owner: str | None) -> Write:
    """Check running (its latest attempt). An attempt that already has its result
    keeps it: a mark queued without waiting never lands over one."""

    def write(session: Session) -> None:
        fence(session, run_id, owner)
        values = {"p_run": run_id, "p_check": check_id, "p_at": at}
        if session.connection().execute(_MARK, values).rowcount == 0:
            latest(session, run_id, check_id)  # LookupError for no such check; else final

    return write


def result_write(run_id: int, result: CheckResult, owner: str | None) -> Write:
    """The check's result on its latest attempt, its response-time distribution, if
    any, and the ``check.finished`` audit event."""

    def write(session: Session) -> None:
        fence(session, run_id, owner)
        values = {
            "p_run": run_id,
            "p_check": result.check_id,
            "p_status": result.status.value,
            "p_summary": result.summary,
            "p_metrics": dict(result.metrics),
            "p_evidence": result.evidence,
            "p_blocking": result.blocking,
            "p_started": result.started_at,
            "p_finished": result.finished_at,
        }
        row = session.connection().execute(_RESULT, values).first()
        if row is None:
            raise LookupError(f"run {run_id} has no check {result.check_id!r}")
        attempt, check_type, critical = row
        if result.distribution is not None:
            _keep_distribution(session, run_id, result.check_id, attempt, result.distribution)
        details = {
            "check": result.check_id,
            "type": check_type,
            "attempt": attempt,
            "status": result.status.value,
            "critical": critical,
            "blocking": result.blocking,
            "summary": result.summary,
        }
        append(session, Note(Action.CHECK_FINISHED, "preprod", run_id, details))

    return write


def _upsert(insert: Any) -> Any:
    """Insert or replace an attempt's distribution, in one statement (a resumed check
    writes its attempt's again)."""
    statement = insert(_DISTRIBUTION).values(
        run_id=bindparam("p_run"),
        check_id=bindparam("p_check"),
        attempt=bindparam("p_attempt"),
        data=bindparam("p_data", type_=_DISTRIBUTION.c.data.type),
    )
    return statement.on_conflict_do_update(
        index_elements=["run_id", "check_id", "attempt"], set_={"data": statement.excluded.data}
    )


_KEEP_DISTRIBUTION = {"postgresql": _upsert(pg_insert), "sqlite": _upsert(sqlite_insert)}


def _keep_distribution(
    session: Session, run_id: int, check_id: str, attempt: int, data: dict[str, Any]
) -> None:
    connection = session.connection()
    values = {"p_run": run_id, "p_check": check_id, "p_attempt": attempt, "p_data": data}
    connection.execute(_KEEP_DISTRIBUTION[connection.dialect.name], values)
