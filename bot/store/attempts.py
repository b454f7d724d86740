"""Each check's latest attempt of a run, as the columns that say where it stands: what a
resume, a click's locked read and the API's run view need, never its evidence and
metrics (a check record's bulk, read and parsed for nothing by a whole-record load)."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlmodel import Session, col

from bot.store.models import CheckRecord


class LatestAttempt(NamedTuple):
    check_id: str
    status: str
    """``pending``, ``running`` or its final status."""
    critical: bool
    attempt: int
    summary: str


_LATEST = (
    select(
        col(CheckRecord.check_id),
        col(CheckRecord.status),
        col(CheckRecord.critical),
        col(CheckRecord.attempt),
        col(CheckRecord.summary),
    )
    .where(col(CheckRecord.run_id) == bindparam("p_run"))
    .order_by(col(CheckRecord.position), col(CheckRecord.attempt).desc())
)
"""Built once; a check's attempts share its position, newest first."""


def latest_attempts(session: Session, run_id: int) -> dict[str, LatestAttempt]:
    """Each check's latest attempt, in plan order (empty for no such run)."""
    latest: dict[str, LatestAttempt] = {}
    for row in session.execute(_LATEST, {"p_run": run_id}):
        latest.setdefault(row.check_id, LatestAttempt(*row))
    return latest
