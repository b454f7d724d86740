"""A run as reports see it, read in one statement: the run's columns beside each of its
check records (rows, not ORM objects: a run may have thousands), the latest attempt of
each check in plan order. ``status N`` answers with it, so it is on the ack path."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session

from bot.record.report import RunReport
from bot.store.models import CheckRecord, Run, RunStatus, as_utc
from checks.base import CheckResult, Status

_RECORD = CheckRecord.__table__  # type: ignore[attr-defined]
_RUN = Run.__table__  # type: ignore[attr-defined]
_REPORTED = ("service", "version", "environment", "plan", "base_url", "requester",
             "keep_going", "status", "created_at", "finished_at")  # fmt: skip
_REPORT = (
    sa_select(*(_RUN.c[name].label(f"run_{name}") for name in _REPORTED), _RECORD)
    .select_from(_RUN.outerjoin(_RECORD, _RECORD.c.run_id == _RUN.c.id))
    .where(_RUN.c.id == bindparam("run"))
    .order_by(_RECORD.c.position, _RECORD.c.attempt.desc())
)


def _as_result(record: Any) -> CheckResult:
    """A check's result as stored (a ``checkrecord`` row)."""
    final = record.status in {status.value for status in Status}
    return CheckResult(
        status=Status(record.status) if final else Status.SKIPPED,
        summary=record.summary if final else f"not finished ({record.status})",
        metrics=record.metrics or {},
        evidence=record.evidence,
        blocking=record.blocking,
        check_id=record.check_id,
        check_type=record.check_type,
        critical=record.critical,
        started_at=_utc_or_none(record.started_at),
        finished_at=_utc_or_none(record.finished_at),
    )


def _utc_or_none(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def read_report(session: Session, run_id: int) -> RunReport:
    """Run ``run_id``'s report; LookupError when there is no such run."""
    return read_report_and_attempts(session, run_id)[0]


def read_report_and_attempts(session: Session, run_id: int) -> tuple[RunReport, dict[str, int]]:
    """Run ``run_id``'s report and each check's latest attempt number (a waiver covers
    one attempt), from the same rows; LookupError when there is no such run."""
    rows = session.execute(_REPORT, {"run": run_id}).all()
    if not rows:
        raise LookupError(f"no run {run_id}")
    run = rows[0]
    latest: dict[str, Any] = {}
    for record in rows:
        if record.check_id is not None:
            latest.setdefault(record.check_id, record)
    attempts = {check_id: record.attempt for check_id, record in latest.items()}
    report = RunReport(
        run_id=run_id,
        service=run.run_service,
        version=run.run_version,
        environment=run.run_environment,
        plan=run.run_plan,
        base_url=run.run_base_url,
        requester=run.run_requester,
        keep_going=run.run_keep_going,
        status=RunStatus(run.run_status).value,
        started_at=as_utc(run.run_created_at),
        finished_at=_utc_or_none(run.run_finished_at),
        results=[_as_result(record) for record in latest.values()],
    )
    return report, attempts
