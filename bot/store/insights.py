"""The rows the success metrics of a period are computed from (bot/reports/insights.py),
for runs started in it: the whole days from the rollups of each service and day (or of
each service and week, for a trend by week), the partial first and last days from the
runs' own facts (bot/store/facts.py keeps both,
following the audit trail; a read catches up first).

Three small queries whatever the period, one after the other in one session (side by
side they only took turns at the interpreter): a month of a busy year is a few hundred
rollup rows and a day's worth of runs, never the runs' check records."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlmodel import Session, col

from bot.store.connect import binary_results
from bot.store.facts import FACT_COLUMNS, fact_of, pending
from bot.store.facts import catch_up as facts_catch_up
from bot.store.models import InsightCheck, InsightDay, InsightRun, InsightWeek
from bot.store.rollups import tally_columns, tally_of
from bot.store.runs import RunStore
from bot.store.tally import (
    CheckTally,
    DayTally,
    Fact,
    Tally,
    added,
    contribution,
    durations,
    less,
)

SUMMED_COLUMNS = tally_columns(InsightDay, sums=True)
"""An ``insightday`` row's rollup columns and its durations' exact sums."""

__all__ = ["CheckTally", "DayTally", "InsightRows", "catch_up", "insight_rows", "split"]


@dataclass(frozen=True)
class InsightRows:
    days: list[DayTally]
    """What the runs of each service and day in the period add up to."""
    checks: list[CheckTally]
    """Failed and finished attempts per service and check (a pair may come twice)."""


def split(since: datetime, until: datetime) -> tuple[date, date, list[tuple[datetime, datetime]]]:
    """The whole (UTC) days ``[first, end)`` of the period, and the parts of it outside
    them (a rolling period starts and ends within a day)."""
    lo, hi = since.astimezone(UTC), until.astimezone(UTC)
    first = lo.date() if lo.time() == time() else lo.date() + timedelta(days=1)
    end = hi.date()
    if first >= end:  # no whole day: the period is one part
        return first, first, [(lo, hi)]
    edges = [
        (lo, datetime.combine(first, time(), UTC)),
        (datetime.combine(end, time(), UTC), hi),
    ]
    return first, end, [(a, b) for a, b in edges if a < b]


def whole_weeks(first: date, end: date) -> tuple[date, date]:
    """The whole ISO weeks ``[monday, after)`` within the days ``[first, end)`` (an empty
    range when none is)."""
    monday = first + timedelta(days=-first.weekday() % 7)
    after = end - timedelta(days=end.weekday())
    return (monday, after) if monday < after else (first, first)


async def insight_rows(
    store: RunStore,
    since: datetime,
    until: datetime,
    service: str | None = None,
    *,
    weeks: bool = False,
) -> InsightRows:
    """The rollups of the whole days, the check counts summed by the database, and the
    facts of the runs in the partial days. With ``weeks`` (a trend by week), the whole
    ISO weeks come from the week rollups, each as one row dated its Monday, and only the
    days before and after them from the day rollups: a year is ~50 rows a service."""
    first, end, edges = split(since, until)
    monday, after = whole_weeks(first, end) if weeks else (first, first)
    counted, whole_edges, rest = edge_days(first, end, edges, store.clock.now())

    def whole(query: Any, model: Any) -> Any:
        query = query.where(col(model.day) >= first, col(model.day) < end)
        return query.where(col(model.service) == service) if service else query

    def days(session: Session) -> list[DayTally]:
        if first >= end:
            return []
        query = select(col(InsightDay.day), col(InsightDay.service), *SUMMED_COLUMNS)
        if monday < after:  # the days outside the whole weeks
            day = col(InsightDay.day)
            query = query.where(or_(day < monday, day >= after))
        rows = list(session.connection().execute(whole(query, InsightDay)))
        if monday < after:
            columns = tally_columns(InsightWeek, sums=True)
            query = select(col(InsightWeek.week), col(InsightWeek.service), *columns)
            query = query.where(col(InsightWeek.week) >= monday, col(InsightWeek.week) < after)
            if service:
                query = query.where(col(InsightWeek.service) == service)
            rows += session.connection().execute(query)
        return [DayTally(row[0], row[1], tally_of(row[2:], durations)) for row in rows]

    def edge_rollups(session: Session) -> tuple[list[DayTally], list[CheckTally]]:
        """The rollups of the partial days read whole (:func:`edge_days`)."""
        if not whole_edges:
            return [], []
        query = select(col(InsightDay.day), col(InsightDay.service), *SUMMED_COLUMNS)
        query = query.where(col(InsightDay.day).in_(whole_edges))
        summed = select(
            col(InsightCheck.service),
            col(InsightCheck.check_id),
            func.sum(col(InsightCheck.failed)),
            func.sum(col(InsightCheck.total)),
        ).group_by(col(InsightCheck.service), col(InsightCheck.check_id))
        summed = summed.where(col(InsightCheck.day).in_(whole_edges))
        if service:
            query = query.where(col(InsightDay.service) == service)
            summed = summed.where(col(InsightCheck.service) == service)
        rows = session.connection().execute(query)
        tallies = [DayTally(row[0], row[1], tally_of(row[2:], durations)) for row in rows]
        checked = session.execute(summed)
        return tallies, [CheckTally(svc, check, int(f), int(t)) for svc, check, f, t in checked]

    def checks(session: Session) -> list[CheckTally]:
        if first >= end:
            return []
        summed = select(
            col(InsightCheck.service),
            col(InsightCheck.check_id),
            func.sum(col(InsightCheck.failed)),
            func.sum(col(InsightCheck.total)),
        ).group_by(col(InsightCheck.service), col(InsightCheck.check_id))
        rows = session.execute(whole(summed, InsightCheck))
        return [CheckTally(svc, check, int(f), int(t)) for svc, check, f, t in rows]

    def parts(session: Session) -> tuple[list[Fact], list[Fact]]:
        """The facts of the runs counted one by one, and of those to take away."""
        if not counted and not rest:
            return [], []
        started = col(InsightRun.started)
        spans = [*counted, *rest]
        query = select(*FACT_COLUMNS).where(
            or_(*((started >= a) & (started < b) for a, b in spans))
        )
        if service:
            query = query.where(col(InsightRun.service) == service)
        facts = [fact_of(row) for row in session.connection().execute(query)]
        taken = [f for f in facts if any(a <= f.started < b for a, b in rest)]
        return [f for f in facts if not any(a <= f.started < b for a, b in rest)], taken

    def read(session: Session) -> InsightRows:
        with binary_results(session.connection()):  # the rollups' bytes as they are
            rollups, summed = days(session), checks(session)
            edge_days_read, edge_checks = edge_rollups(session)
            facts, taken = parts(session)
        return InsightRows(
            rollups + _days_of(facts) + _without(edge_days_read, taken),
            summed + _checks_of(facts) + _checks_without(edge_checks, taken),
        )

    await catch_up(store)  # what was written since the last beat counts too
    return await store.call(read)


def edge_days(
    first: date, end: date, edges: list[tuple[datetime, datetime]], now: datetime | None = None
) -> tuple[list[tuple[datetime, datetime]], list[date], list[tuple[datetime, datetime]]]:
    """How the partial days (``split``'s edges) are read: the parts whose runs are
    counted one by one from their facts; the days read from their rollup instead, less
    the runs of the day outside the period, when those are fewer; and those parts outside
    to take away. Pure.

    Which is fewer is judged by the time each spans up to ``now``, as runs are spread
    over it (the default 30 days read ~2,700 facts a request at a million runs a year
    when the partial days were counted run by run). No run starts after ``now``, so
    today, the last day of a rolling period, is always its rollup less nothing (judged
    by the half day, its runs were counted one by one every morning), and only the
    first day is counted by the part when that is under half a day. Either way is
    exact: a run stamped after ``now`` (another replica's clock) is taken away."""
    if first >= end:  # within one day: its runs one by one
        return edges, [], []
    counted: list[tuple[datetime, datetime]] = []
    days: list[date] = []
    rest: list[tuple[datetime, datetime]] = []
    for a, b in edges:
        day = a.astimezone(UTC).date()
        start = datetime.combine(day, time(), UTC)
        stop = start + timedelta(days=1)
        outside = [(x, y) for x, y in ((start, a), (b, stop)) if x < y]
        if sum((_past(x, y, now) for x, y in outside), timedelta()) < _past(a, b, now):
            days.append(day)
            rest += outside
        else:
            counted.append((a, b))
    return counted, days, rest


def _past(a: datetime, b: datetime, now: datetime | None) -> timedelta:
    """How much of ``[a, b)`` lies before ``now`` (all of it without one)."""
    return max(timedelta(), (b if now is None else min(b, now)) - a)


def _without(tallies: list[DayTally], taken: list[Fact]) -> list[DayTally]:
    """Each day's rollup less the runs ``taken`` from it; a day left with none dropped."""
    gone: dict[tuple[date, str], list[Tally]] = defaultdict(list)
    for fact in taken:
        gone[(fact.day, fact.service)].append(contribution(fact))
    left = [
        DayTally(day, svc, less(tally, gone[(day, svc)]) if (day, svc) in gone else tally)
        for day, svc, tally in tallies
    ]
    return [day for day in left if day.tally.runs]


def _checks_without(checks: list[CheckTally], taken: list[Fact]) -> list[CheckTally]:
    tallies: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for svc, check, failed, total in checks:
        tallies[(svc, check)][0] += failed
        tallies[(svc, check)][1] += total
    for fact in taken:
        for check, (failed, total) in fact.tallies.items():
            tallies[(fact.service, check)][0] -= failed
            tallies[(fact.service, check)][1] -= total
    return [CheckTally(svc, check, f, t) for (svc, check), (f, t) in tallies.items() if f or t]


async def catch_up(store: RunStore) -> int:
    """Bring the insight rows up to the newest audit event (bot/store/facts.py); how many
    runs were recounted. A read when nothing is pending; otherwise one short transaction
    under the audit lock."""

    def look(session: Session) -> bool:
        return pending(session.connection())

    def count(session: Session) -> int:
        counted = facts_catch_up(session.connection())
        session.commit()
        return counted

    if not await store.call(look):
        return 0
    return await store.call(count)


def _days_of(facts: list[Fact]) -> list[DayTally]:
    by_day: dict[tuple[date, str], list[Fact]] = defaultdict(list)
    for fact in facts:
        by_day[(fact.day, fact.service)].append(fact)
    return [
        DayTally(day, service, added(contribution(f) for f in mine))
        for (day, service), mine in by_day.items()
    ]


def _checks_of(facts: list[Fact]) -> list[CheckTally]:
    tallies: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for fact in facts:
        for check, (failed, total) in fact.tallies.items():
            tally = tallies[(fact.service, check)]
            tally[0] += failed
            tally[1] += total
    return [CheckTally(svc, check, f, t) for (svc, check), (f, t) in tallies.items()]
