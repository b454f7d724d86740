"""What the pages show of a service's past: each load check's figures across its last
releases (trends), and the checks that failed then passed on a re-run of the same
release (flaky). Both are derived from the stored check records; nothing new is kept.

Each read is bounded: trends look at the last ``2 x TREND_RELEASES`` runs of one service
and environment (index ``ix_run_service_id``), flaky checks at the runs of a period with a
re-run attempt (``attempt > 1``), found by the re-runs' start in a partial index of them
alone (``ix_checkrecord_rerun``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal_column, or_, select
from sqlmodel import Session, col

from bot.store.models import CheckRecord, Run, as_utc
from bot.store.runs import RunStore

TREND_RELEASES = 20
TREND_TYPES = ("load",)
"""The check kinds whose figures make a trend (the load kind's profiles: load, soak,
spike, stress)."""
PROBLEMS = frozenset({"failed", "error", "interrupted"})
FIGURED = ("passed", "warned", "failed")
"""Attempts whose figures are a measurement (an error has none worth drawing)."""


@dataclass(frozen=True)
class TrendPoint:
    run_id: int
    version: str
    at: datetime
    metrics: dict[str, float]


@dataclass(frozen=True)
class CheckTrend:
    check_id: str
    points: tuple[TrendPoint, ...]
    """Oldest release first, one point per release (its newest run)."""

    @property
    def stress(self) -> bool:
        """A stress profile: what it measures is capacity, not a steady load."""
        return any("sustained_rps" in p.metrics for p in self.points)


@dataclass(frozen=True)
class FlakyCheck:
    service: str
    check_id: str
    flaky: int
    """Runs in which the check failed and a later attempt of the same run passed."""
    runs: int
    """Runs of the check in the period."""
    last_seen: datetime | None
    """When the newest flaky run's passing attempt finished."""
    last_run: int


def trends_of(
    rows: Iterable[tuple[int, str, datetime, str, int, dict[str, Any]]],
    releases: int = TREND_RELEASES,
) -> list[CheckTrend]:
    """``(run_id, version, created_at, check_id, attempt, metrics)`` rows, any order, to
    one trend per check: each run's latest measured attempt, each release's newest run,
    the last ``releases`` releases, oldest first. Pure."""
    latest: dict[tuple[str, int], tuple[int, str, datetime, dict[str, Any]]] = {}
    for run_id, version, at, check_id, attempt, metrics in rows:
        seen = latest.get((check_id, run_id))
        if seen is None or attempt > seen[0]:
            latest[(check_id, run_id)] = (attempt, version, at, metrics)
    by_check: dict[str, dict[str, TrendPoint]] = defaultdict(dict)
    for (check_id, run_id), (_, version, at, metrics) in sorted(latest.items()):
        figures = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}
        by_check[check_id][version] = TrendPoint(run_id, version, as_utc(at), figures)
    return [
        CheckTrend(check_id, tuple(sorted(points.values(), key=lambda p: p.run_id)[-releases:]))
        for check_id, points in sorted(by_check.items())
    ]


async def check_trends(
    store: RunStore,
    service: str,
    environment: str,
    *,
    upto: int | None = None,
    releases: int = TREND_RELEASES,
) -> list[CheckTrend]:
    """The load checks' figures of the last ``releases`` releases of ``service`` on
    ``environment`` (runs up to ``upto`` when given: a run's page shows its past). One
    query: the newest ``2 x releases`` runs, their measured load attempts."""

    def read(session: Session) -> list[CheckTrend]:
        runs = select(col(Run.id)).where(
            col(Run.service) == service, col(Run.environment) == environment
        )
        if upto is not None:
            runs = runs.where(col(Run.id) <= upto)
        recent = runs.order_by(col(Run.id).desc()).limit(2 * releases).subquery()
        query = (
            select(
                col(Run.id),
                col(Run.version),
                col(Run.created_at),
                col(CheckRecord.check_id),
                col(CheckRecord.attempt),
                col(CheckRecord.metrics),
            )
            .join(CheckRecord, col(CheckRecord.run_id) == col(Run.id))
            .where(
                col(Run.id).in_(select(recent.c.id)),
                col(CheckRecord.check_type).in_(TREND_TYPES),
                col(CheckRecord.status).in_(FIGURED),
            )
        )
        return trends_of(session.execute(query), releases)

    return await store.call(read)


Flaky = dict[tuple[str, str], tuple[int, datetime | None, int]]
RERUN: ColumnElement[int] = literal_column("1")
"""``attempt > 1`` as written in the partial index: SQLite uses a partial index only for
a query whose terms imply its condition, and a bound parameter implies nothing."""
RERUN_SLACK = timedelta(days=1)
"""How much earlier than its run a re-run attempt's start may be stamped (the run's
creation and a check's start are stamped by different clocks)."""


FlakyRow = tuple[str, int, str, int, str, datetime | None]
"""``(service, run_id, check_id, attempt, status, finished_at)``."""


def flaky_of(rows: Iterable[FlakyRow]) -> Flaky:
    """``(service, run_id, check_id, attempt, status, finished_at)`` rows of re-run
    checks to ``{(service, check_id): (flaky runs, last seen, last run)}``: a run counts
    when an attempt failed (or errored) and a later attempt of the same run passed. Pure."""
    attempts: dict[tuple[str, int, str], list[tuple[int, str, datetime | None]]] = defaultdict(list)
    for service, run_id, check_id, attempt, status, finished in rows:
        attempts[(service, run_id, check_id)].append((attempt, status, finished))
    found: Flaky = {}
    for (service, run_id, check_id), tries in attempts.items():
        tries.sort(key=lambda t: t[0])
        failed_at = next((i for i, t in enumerate(tries) if t[1] in PROBLEMS), None)
        if failed_at is None:
            continue
        passed = [t for t in tries[failed_at + 1 :] if t[1] == "passed"]
        if not passed:
            continue
        when = passed[-1][2]
        count, last, last_run = found.get((service, check_id), (0, None, 0))
        if run_id > last_run:
            last, last_run = (as_utc(when) if when is not None else None), run_id
        found[(service, check_id)] = (count + 1, last, last_run)
    return found


def flaky_attempts(
    since: datetime, service: str | None = None
) -> Select[str, int, str, int, str, datetime | None]:
    """Every attempt of the checks of the runs started since ``since`` (of ``service``)
    that were re-run: ``flaky_of``'s rows.

    The runs come from the re-run attempts' own partial index (migration 0019a), by
    start: a re-run starts after its run (RERUN_SLACK covers clocks that disagree), so
    those started since a little before the period, and those with no start stamped,
    include every re-run of its runs. A check of those runs never re-run has one attempt
    and cannot be flaky (flaky_of). Reading the period's runs first cost ~150 ms a /runs
    at a million runs."""
    started = col(CheckRecord.started_at)
    rerun = select(col(CheckRecord.run_id)).where(
        col(CheckRecord.attempt) > RERUN,
        or_(started >= since - RERUN_SLACK, started.is_(None)),
    )
    period = [col(Run.created_at) >= since]
    if service:
        period.append(col(Run.service) == service)
    return (
        select(
            col(Run.service),
            col(CheckRecord.run_id),
            col(CheckRecord.check_id),
            col(CheckRecord.attempt),
            col(CheckRecord.status),
            col(CheckRecord.finished_at),
        )
        .join(Run, col(Run.id) == col(CheckRecord.run_id))
        .where(col(CheckRecord.run_id).in_(rerun), *period)
    )


async def flaky_checks(
    store: RunStore, since: datetime, service: str | None = None, limit: int = 10
) -> list[FlakyCheck]:
    """The flakiest checks of the runs started since ``since``: most flaky runs first,
    then the highest share of their runs, then the most recent."""

    def read(session: Session) -> list[FlakyCheck]:
        period = [col(Run.created_at) >= since]
        if service:
            period.append(col(Run.service) == service)
        query = flaky_attempts(since, service)
        found = flaky_of(session.execute(query))
        if not found:
            return []
        ids = sorted({check for _, check in found})
        totals = (
            select(
                col(Run.service),
                col(CheckRecord.check_id),
                func.count(func.distinct(col(CheckRecord.run_id))),
            )
            .join(Run, col(Run.id) == col(CheckRecord.run_id))
            .where(col(CheckRecord.check_id).in_(ids), *period)
            .group_by(col(Run.service), col(CheckRecord.check_id))
        )
        runs = {(svc, check): int(n) for svc, check, n in session.execute(totals)}
        listed = [
            FlakyCheck(svc, check, count, max(runs.get((svc, check), count), count), last, run)
            for (svc, check), (count, last, run) in found.items()
        ]
        listed.sort(key=lambda f: (-f.flaky, -f.flaky / f.runs, -f.last_run))
        return listed[:limit]

    return await store.call(read)
