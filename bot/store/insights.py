"""The rows the success metrics are computed from (bot/reports/insights.py), for runs
started in a period: one row per run with its decision and production outcome, failures
per check and waivers per service counted by the database.

Three queries whatever the period; each starts from ``run.created_at`` (indexed by
migration 0009), so a month of a busy year reads a month."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from sqlalchemy import Float, cast, func, select
from sqlmodel import Session, col

from bot.store.models import CheckRecord, DecisionRecord, ProductionOutcome, Run, Waiver
from bot.store.runs import RunStore

FAILING = ("failed", "error", "interrupted")
FINAL = ("passed", "warned", *FAILING)


class RunFact(NamedTuple):
    """A tuple, not a frozen dataclass: a month of a busy year is thousands of these."""

    service: str
    day: date | str
    """The (UTC) day the run started (SQLite gives it as ISO text)."""
    outcome: str | None
    production: str | None
    """``success`` or ``rolled-back`` once recorded with ``/preprod outcome``."""
    cycle: float | None
    """Seconds from the start to the decision (None while undecided)."""
    checks: float | None
    """Seconds from the start to the end of the automated checks (None while running)."""


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


def _seconds(dialect: str, start: Any, end: Any) -> Any:
    """Seconds from ``start`` to ``end``, computed by the database (no datetime is built
    in Python for thousands of rows)."""
    if dialect == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return cast(func.extract("epoch", end - start), Float)  # numeric otherwise


def _day(dialect: str, moment: Any) -> Any:
    if dialect == "sqlite":  # stored as "YYYY-MM-DD HH:MM:SS...": the text is the day
        return func.substr(moment, 1, 10)
    return func.date(func.timezone("UTC", moment))


async def insight_rows(
    store: RunStore, since: datetime, until: datetime, service: str | None = None
) -> InsightRows:
    """The three queries run side by side, each in its own connection (the database
    works on them in parallel: SQLite's readers do not wait for each other)."""
    lo, hi = since.astimezone(UTC), until.astimezone(UTC)
    dialect = store.engine.dialect.name

    def run_facts(session: Session) -> list[RunFact]:
        started = col(Run.created_at)
        query = _period(
            select(
                col(Run.service),
                _day(dialect, started),
                col(DecisionRecord.outcome),
                col(ProductionOutcome.result),
                _seconds(dialect, started, col(DecisionRecord.at)),
                _seconds(dialect, started, col(Run.finished_at)),
            )
            .outerjoin(DecisionRecord, col(DecisionRecord.run_id) == col(Run.id))
            .outerjoin(ProductionOutcome, col(ProductionOutcome.run_id) == col(Run.id)),
            lo,
            hi,
            service,
        )
        return list(map(RunFact._make, session.execute(query)))

    def check_tallies(session: Session) -> list[CheckTally]:
        # counted per status, so that each run is one range of the covering index
        query = _period(
            select(
                col(Run.service), col(CheckRecord.check_id), col(CheckRecord.status), func.count()
            )
            .select_from(CheckRecord)
            .join(Run, col(Run.id) == col(CheckRecord.run_id))
            .group_by(col(CheckRecord.check_id), col(Run.service), col(CheckRecord.status)),
            lo,
            hi,
            service,
        )
        tallies: dict[tuple[str, str], list[int]] = {}
        for svc, check_id, status, n in session.execute(query):
            if status in FINAL:
                tally = tallies.setdefault((svc, check_id), [0, 0])
                tally[0] += int(n) if status in FAILING else 0
                tally[1] += int(n)
        return [CheckTally(svc, check_id, f, t) for (svc, check_id), (f, t) in tallies.items()]

    def waivers(session: Session) -> dict[str, int]:
        # counted here: a GROUP BY on the service would make SQLite walk every run in the
        # service index's order instead of the period's range
        joined = select(col(Run.service)).select_from(Waiver)
        query = _period(joined.join(Run, col(Run.id) == col(Waiver.run_id)), lo, hi, service)
        return dict(Counter(svc for (svc,) in session.execute(query)))

    runs, checks, waived = await asyncio.gather(
        store.call(run_facts), store.call(check_tallies), store.call(waivers)
    )
    return InsightRows(runs, checks, waived)
