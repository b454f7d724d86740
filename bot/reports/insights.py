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
from datetime import date, datetime, timedelta
from typing import Any

from bot.store.insights import CheckTally, InsightRows, RunFact

DECIDING = ("go", "no-go", "expired")
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


def figures(runs: Sequence[RunFact], checks: Iterable[CheckTally], waivers: int) -> Figures:
    """One pass over the runs (a month of a busy year is thousands of them)."""
    cycles: list[float] = []
    automated: list[float] = []
    waiting: list[float] = []
    count: dict[str | None, int] = defaultdict(int)
    production: dict[str | None, int] = defaultdict(int)
    escaped = 0
    for _, _, outcome, result, cycle, checks_end in runs:
        count[outcome] += 1
        production[result] += 1
        if outcome == "go" and result == "rolled-back":
            escaped += 1
        if cycle is None or outcome not in DECIDING:
            continue
        cycle = max(0.0, cycle)
        cycles.append(cycle)
        if checks_end is not None:
            spent = max(0.0, min(checks_end, cycle))
            automated.append(spent)
            waiting.append(cycle - spent)
    succeeded, rolled_back = production["success"], production["rolled-back"]
    tallies: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for tally in checks:
        tallies[tally.check_id][0] += tally.failed
        tallies[tally.check_id][1] += tally.total
    failing = sorted(
        (FailingCheck(check_id, f, t) for check_id, (f, t) in tallies.items() if f),
        key=lambda c: (-c.failed, -c.rate, c.check_id),
    )[:TOP_CHECKS]
    timed = sum(automated) + sum(waiting)
    return Figures(
        runs=len(runs),
        decided=len(cycles),
        go=count["go"],
        no_go=count["no-go"],
        expired=count["expired"],
        cancelled=count["cancelled"],
        cycle_median=percentile(cycles, 0.5),
        cycle_p90=percentile(cycles, 0.9),
        automated_median=percentile(automated, 0.5),
        waiting_median=percentile(waiting, 0.5),
        automated_share=sum(automated) / timed if timed else None,
        succeeded=succeeded,
        rolled_back=rolled_back,
        success_rate=_ratio(succeeded, succeeded + rolled_back),
        prevented=count["no-go"],
        escaped=escaped,
        prevention_rate=_ratio(count["no-go"], count["no-go"] + escaped),
        waivers=waivers,
        failing_checks=failing,
    )


def _as_date(day: date | str) -> date:
    return day if isinstance(day, date) else date.fromisoformat(day)


def _bucket_start(day: date, bucket: str) -> date:
    return day - timedelta(days=day.weekday()) if bucket == "week" else day


def trend(
    runs: Sequence[RunFact], since: datetime, until: datetime, bucket: str
) -> list[TrendPoint]:
    step = timedelta(days=7 if bucket == "week" else 1)
    by_day: dict[date | str, list[RunFact]] = defaultdict(list)
    for run in runs:
        by_day[run.day].append(run)
    grouped: dict[date, list[RunFact]] = defaultdict(list)
    for day, mine in by_day.items():  # a few hundred days at most, whatever the runs
        grouped[_bucket_start(_as_date(day), bucket)].extend(mine)
    points = []
    start = _bucket_start(since.date(), bucket)
    last = _bucket_start((until - timedelta(microseconds=1)).date(), bucket)
    while start <= last:
        mine = grouped.get(start, [])
        cycles = [r.cycle for r in mine if r.outcome in DECIDING and r.cycle is not None]
        points.append(
            TrendPoint(
                start=start,
                runs=len(mine),
                go=sum(1 for r in mine if r.outcome == "go"),
                no_go=sum(1 for r in mine if r.outcome == "no-go"),
                cycle_median=percentile(cycles, 0.5),
            )
        )
        start += step
    return points


def compute(rows: InsightRows, since: datetime, until: datetime) -> Insights:
    bucket = "day" if (until - since) <= timedelta(days=DAILY_UP_TO) else "week"
    by_service: dict[str, list[RunFact]] = defaultdict(list)
    for run in rows.runs:
        by_service[run.service].append(run)
    services = {
        service: figures(
            runs,
            (c for c in rows.checks if c.service == service),
            rows.waivers.get(service, 0),
        )
        for service, runs in sorted(by_service.items())
    }
    overall = figures(rows.runs, rows.checks, sum(rows.waivers.values()))
    return Insights(since, until, bucket, overall, services, trend(rows.runs, since, until, bucket))


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
