"""The success metrics of releases, computed from stored rows (pure: rows in, figures out).

For runs started in a period, overall and per service:

- **cycle time**: start to decision (GO, NO-GO or EXPIRED; a cancelled run has no
  cycle), median and p90 (linear interpolation between the closest ranks, as
  ``statistics.quantiles(method="inclusive")``);
- its **split**: automated checks (start to the checks' end) and waiting for people (the
  checks' end to the decision), as medians and the automated share of all cycle time;
- **deployment success rate**: recorded production outcomes, ``success`` over all;
- **prevention rate**: releases stopped by a NO-GO over those plus releases rolled back
  after a GO;
- **waivers** granted, and the **checks that fail most** (failed, error or interrupted
  attempts, of finished attempts);
- a **trend** per day (periods up to 31 days) or per ISO week: runs, GO, NO-GO and the
  median cycle time of each bucket.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import chain
from typing import Any

from bot.reports.ranks import Union
from bot.store.insights import CheckTally, DayTally, InsightRows
from bot.store.tally import COUNTS, Tally, total

TOP_CHECKS = 5
DAILY_UP_TO = 31


@dataclass(frozen=True)
class FailingCheck:
    check_id: str
    failed: int
    total: int

    @property
    def rate(self) -> float:
        return self.failed / self.total if self.total else 0.0


@dataclass(frozen=True)
class Figures:
    runs: int
    decided: int
    go: int
    no_go: int
    expired: int
    cancelled: int
    cycle_median: float | None
    cycle_p90: float | None
    automated_median: float | None
    waiting_median: float | None
    automated_share: float | None
    """Of all cycle time, the part spent in automated checks (0..1)."""
    succeeded: int
    rolled_back: int
    success_rate: float | None
    prevented: int
    """NO-GO decisions: releases stopped before production."""
    escaped: int
    """GO decisions rolled back in production."""
    prevention_rate: float | None
    waivers: int
    failing_checks: list[FailingCheck] = field(default_factory=list)


@dataclass(frozen=True)
class TrendPoint:
    start: date
    runs: int
    go: int
    no_go: int
    cycle_median: float | None


@dataclass(frozen=True)
class Insights:
    since: datetime
    until: datetime
    bucket: str
    """``day`` or ``week``."""
    overall: Figures
    services: dict[str, Figures]
    trend: list[TrendPoint]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) by linear interpolation between the closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    # to the millisecond: SQLite's julianday() arithmetic carries microsecond noise
    return round(ordered[low] + (ordered[high] - ordered[low]) * (position - low), 3)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def counted(tallies: Sequence[Tally]) -> Tally:
    """The counts of ``tallies`` added up (the durations left out: see :func:`figures`)."""
    if not tallies:
        return Tally()
    return Tally._make(
        [*map(sum, zip(*(t[: len(COUNTS)] for t in tallies), strict=True)), (), (), (), None, None]
    )


def figures(tallies: Sequence[Tally], checks: Iterable[CheckTally]) -> Figures:
    """The figures of runs that add up to ``tallies``, whose checks are ``checks``. The
    durations' medians are taken across the tallies' sorted lists (bot/reports/ranks.py),
    never merged: the figures of a merge, at a fraction of its cost. The automated share
    adds up every duration correctly rounded (``math.fsum``; a rollup row's durations by
    their stored exact sum, which gives the same), so it is the same however the runs
    are split into rows (days, weeks) and in whatever order."""
    tally = counted(tallies)
    cycles = Union([t.cycles for t in tallies])
    tallies_of: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for check in checks:
        tallies_of[check.check_id][0] += check.failed
        tallies_of[check.check_id][1] += check.total
    failing = sorted(
        (FailingCheck(check_id, f, t) for check_id, (f, t) in tallies_of.items() if f),
        key=lambda c: (-c.failed, -c.rate, c.check_id),
    )[:TOP_CHECKS]
    automated = math.fsum(chain.from_iterable(total(t.automated, t.automated_sum) for t in tallies))
    waiting = math.fsum(chain.from_iterable(total(t.waiting, t.waiting_sum) for t in tallies))
    timed = automated + waiting
    return Figures(
        runs=tally.runs,
        decided=cycles.total,
        go=tally.go,
        no_go=tally.no_go,
        expired=tally.expired,
        cancelled=tally.cancelled,
        cycle_median=cycles.quantile(0.5),
        cycle_p90=cycles.quantile(0.9),
        automated_median=Union([t.automated for t in tallies]).quantile(0.5),
        waiting_median=Union([t.waiting for t in tallies]).quantile(0.5),
        automated_share=automated / timed if timed else None,
        succeeded=tally.succeeded,
        rolled_back=tally.rolled_back,
        success_rate=_ratio(tally.succeeded, tally.succeeded + tally.rolled_back),
        prevented=tally.no_go,
        escaped=tally.escaped,
        prevention_rate=_ratio(tally.no_go, tally.no_go + tally.escaped),
        waivers=tally.waivers,
        failing_checks=failing,
    )


def _bucket_start(day: date, bucket: str) -> date:
    return day - timedelta(days=day.weekday()) if bucket == "week" else day


def trend(
    days: Sequence[DayTally], since: datetime, until: datetime, bucket: str
) -> list[TrendPoint]:
    step = timedelta(days=7 if bucket == "week" else 1)
    grouped: dict[date, list[Tally]] = defaultdict(list)
    for day, _, tally in days:
        grouped[_bucket_start(day, bucket)].append(tally)
    points = []
    start = _bucket_start(since.astimezone(UTC).date(), bucket)
    last = _bucket_start((until.astimezone(UTC) - timedelta(microseconds=1)).date(), bucket)
    while start <= last:
        tallies = grouped.get(start, [])
        mine = counted(tallies)
        points.append(
            TrendPoint(
                start=start,
                runs=mine.runs,
                go=mine.go,
                no_go=mine.no_go,
                cycle_median=Union([t.cycles for t in tallies]).quantile(0.5),
            )
        )
        start += step
    return points


def bucket_of(since: datetime, until: datetime) -> str:
    """The trend's bucket: ``day`` for periods up to :data:`DAILY_UP_TO` days, else
    ``week`` (then the rows may be week rollups: ``insight_rows(weeks=True)``)."""
    return "day" if (until - since) <= timedelta(days=DAILY_UP_TO) else "week"


def compute(rows: InsightRows, since: datetime, until: datetime) -> Insights:
    bucket = bucket_of(since, until)
    by_service: dict[str, list[Tally]] = defaultdict(list)
    for _, service, tally in rows.days:
        by_service[service].append(tally)
    checks: dict[str, list[CheckTally]] = defaultdict(list)
    for check in rows.checks:
        checks[check.service].append(check)
    services = {
        service: figures(tallies, checks[service])
        for service, tallies in sorted(by_service.items())
    }
    overall = figures([day.tally for day in rows.days], rows.checks)
    return Insights(since, until, bucket, overall, services, trend(rows.days, since, until, bucket))


def as_json(insights: Insights) -> dict[str, Any]:
    """The same figures as the page, for ``/insights.json`` (seconds, ratios 0..1)."""

    def plain(value: Any) -> Any:
        if isinstance(value, datetime | date):
            return value.isoformat()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    def of(f: Figures) -> dict[str, Any]:
        out = asdict(f)
        out["failing_checks"] = [{**asdict(c), "rate": c.rate} for c in f.failing_checks]
        return out

    return {
        "schema": "preprod.insights/1",
        "since": insights.since.isoformat(),
        "until": insights.until.isoformat(),
        "bucket": insights.bucket,
        "overall": of(insights.overall),
        "services": {name: of(f) for name, f in insights.services.items()},
        "trend": plain([asdict(p) for p in insights.trend]),
    }
