"""What ``/metrics`` reports of the stored runs, counted by the database: a scrape every
few seconds must not read every run and decision (100,000 runs took seconds), so each
figure is one aggregate query."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, cast, func, select
from sqlmodel import Session, col

from bot.store.models import DecisionRecord, ProductionOutcome, Run
from bot.store.runs import RunStore


@dataclass(frozen=True)
class StoredCounts:
    runs_by_status: dict[str, int]
    decisions_by_outcome: dict[str, int]
    production_by_result: dict[str, int]
    cycles: int
    """Decided runs (the count of the decision cycle summary)."""
    cycle_seconds: float
    """Seconds from start to decision, summed over the decided runs."""


def _seconds(dialect: str, start: Any, end: Any) -> Any:
    """Seconds from ``start`` to ``end``, computed by the database."""
    if dialect == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return cast(func.extract("epoch", end - start), Float)


async def stored_counts(store: RunStore) -> StoredCounts:
    dialect = store.engine.dialect.name

    def grouped(session: Session, column: Any) -> dict[str, int]:
        rows = session.execute(select(column, func.count()).group_by(column))
        return {str(getattr(key, "value", key)): int(n) for key, n in rows}

    def work(session: Session) -> StoredCounts:
        started, decided = col(Run.created_at), col(DecisionRecord.at)
        cycles = select(func.count(), func.sum(_seconds(dialect, started, decided))).join(
            Run, col(Run.id) == col(DecisionRecord.run_id)
        )
        count, total = session.execute(cycles).one()
        return StoredCounts(
            runs_by_status=grouped(session, col(Run.status)),
            decisions_by_outcome=grouped(session, col(DecisionRecord.outcome)),
            production_by_result=grouped(session, col(ProductionOutcome.result)),
            cycles=int(count or 0),
            cycle_seconds=float(total or 0.0),
        )

    return await store.call(work)
