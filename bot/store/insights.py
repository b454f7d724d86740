"""The rows the success metrics are computed from (bot/reports/insights.py), for runs
started in a period: one row per run with its decision and production outcome, failures
per check and waivers per service counted by the database.

Three queries whatever the period; each starts from ``run.created_at`` (indexed by
migration 0009), so a month of a busy year reads a month."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlmodel import Session, col

from bot.store.models import CheckRecord, DecisionRecord, ProductionOutcome, Run, Waiver, as_utc
from bot.store.runs import RunStore

FAILING = ("failed", "error", "interrupted")
FINAL = ("passed", "warned", *FAILING)


@dataclass(frozen=True)
class RunFact:
    run_id: int
    service: str
    started: datetime
    finished: datetime | None
    """When the automated checks ended (the run's last finish)."""
    outcome: str | None
    decided: datetime | None
    production: str | None
    """``success`` or ``rolled-back`` once recorded with ``/preprod outcome``."""


@dataclass(frozen=True)
class CheckTally:
    service: str
    check_id: str
    failed: int
    total: int
    """Finished attempts (skipped and unfinished ones are not counted)."""


@dataclass(frozen=True)
class InsightRows:
    runs: list[RunFact]
    checks: list[CheckTally]
    waivers: dict[str, int]
    """Waivers granted, per service."""


def _period(query: Any, since: datetime, until: datetime, service: str | None) -> Any:
    query = query.where(col(Run.created_at) >= since, col(Run.created_at) < until)
    return query.where(col(Run.service) == service) if service else query


async def insight_rows(
    store: RunStore, since: datetime, until: datetime, service: str | None = None
) -> InsightRows:
    lo, hi = since.astimezone(UTC), until.astimezone(UTC)

    def work(session: Session) -> InsightRows:
        runs_query = _period(
            select(
                col(Run.id),
                col(Run.service),
                col(Run.created_at),
                col(Run.finished_at),
                col(DecisionRecord.outcome),
                col(DecisionRecord.at),
                col(ProductionOutcome.result),
            )
            .outerjoin(DecisionRecord, col(DecisionRecord.run_id) == col(Run.id))
            .outerjoin(ProductionOutcome, col(ProductionOutcome.run_id) == col(Run.id)),
            lo,
            hi,
            service,
        )
        runs = [
            RunFact(
                run_id=run_id,
                service=svc,
                started=as_utc(started),
                finished=as_utc(finished) if finished else None,
                outcome=outcome,
                decided=as_utc(decided) if decided else None,
                production=production,
            )
            for run_id, svc, started, finished, outcome, decided, production in session.execute(
                runs_query
            )
        ]
        failed = func.sum(case((col(CheckRecord.status).in_(FAILING), 1), else_=0))
        checks_query = _period(
            select(col(Run.service), col(CheckRecord.check_id), failed, func.count())
            .select_from(CheckRecord)
            .join(Run, col(Run.id) == col(CheckRecord.run_id))
            .where(col(CheckRecord.status).in_(FINAL))
            .group_by(col(Run.service), col(CheckRecord.check_id)),
            lo,
            hi,
            service,
        )
        checks = [
            CheckTally(svc, check_id, int(n_failed or 0), int(total))
            for svc, check_id, n_failed, total in session.execute(checks_query)
        ]
        waivers_query = _period(
            select(col(Run.service), func.count())
            .select_from(Waiver)
            .join(Run, col(Run.id) == col(Waiver.run_id))
            .group_by(col(Run.service)),
            lo,
            hi,
            service,
        )
        waivers = {svc: int(n) for svc, n in session.execute(waivers_query)}
        return InsightRows(runs, checks, waivers)

    result: InsightRows = await store.call(work)
    return result
