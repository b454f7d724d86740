"""Writing the insight rows: runs' facts, and the rollups of each service and day, and of
each service and ISO week, moved by the difference a change made (bot/store/facts.py
decides what changed).

Most moves are counts only (a run stored, a check finished, an outcome corrected): one
``INSERT ... ON CONFLICT DO UPDATE`` adding to the row. A move that changes a day's
durations (a decision) reads the row and writes it back; the caller holds the lock that
orders recounts, so nothing is lost in between."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import SQLModel, col

from bot.store.models import (
    InsightCheck,
    InsightDay,
    InsightRun,
    InsightTally,
    InsightTotal,
    InsightWeek,
)
from bot.store.tally import (
    COUNTS,
    LISTS,
    SUMS,
    Fact,
    Tally,
    added,
    contribution,
    exact_sum,
    packed,
    shifted,
    totals,
    unpacked,
)

Change = tuple[Fact | None, Fact | None]
"""A run's facts as last counted (None: never) and as they are now (None: gone)."""
Key = tuple[date, str]
"""``(day, service)``."""
CheckKey = tuple[date, str, str]
"""``(day, service, check_id)``."""

TALLY_NAMES = (*COUNTS, *LISTS)
"""The rollup columns a :class:`Tally` is read from, in the order of its fields."""


def tally_columns(model: type[InsightTally], *, sums: bool = False) -> list[Any]:
    """``model``'s (``InsightDay``, ``InsightWeek``) rollup columns named one by one, in
    the order of :data:`TALLY_NAMES` (then the lists' exact sums, with ``sums``): a query
    selects them so, whatever the order of the table's (or the model's) columns."""
    table: Any = model.__table__  # type: ignore[attr-defined]
    return [table.c[name] for name in (*TALLY_NAMES, *(SUMS if sums else ()))]


def tally_of(values: Sequence[Any], read: Callable[[bytes | None], Any] = unpacked) -> Tally:
    """The values of :func:`tally_columns`, selected in that order, as a :class:`Tally`
    (by position in the query's own column list, never the table's: a year is thousands
    of rows, and a result row's attributes are slow to look up); its lists as tuples, or
    as ``read`` gives them (the insights read arrays), and their sums when selected (a
    NULL sum stays None: not known)."""
    counts = values[: len(COUNTS)]
    lists = values[len(COUNTS) : len(TALLY_NAMES)]
    sums = [None if data is None else read(data) for data in values[len(TALLY_NAMES) :]]
    return Tally(*counts, *map(read, lists), *sums)


def fact_row(fact: Fact) -> dict[str, Any]:
    return {
        "run_id": fact.run_id,
        "started": fact.started,
        "service": fact.service,
        "outcome": fact.outcome,
        "production": fact.production,
        "cycle": fact.cycle,
        "checks": fact.checks,
        "waivers": fact.waivers,
        "tallies": {check: list(tally) for check, tally in fact.tallies.items()},
        "status": fact.status,
    }


def apply(connection: Connection, changes: Sequence[Change]) -> None:
    """Write the changed facts and move their rollups by the difference."""
    gone = [old.run_id for old, new in changes if old is not None and new is None]
    if gone:
        connection.execute(delete(InsightRun).where(col(InsightRun.run_id).in_(gone)))
    fresh = [fact_row(new) for old, new in changes if old is None and new is not None]
    if fresh:
        connection.execute(insert(InsightRun), fresh)
    for old, new in changes:
        if old is not None and new is not None:
            matched = col(InsightRun.run_id) == new.run_id
            connection.execute(update(InsightRun).where(matched).values(**fact_row(new)))
    days: dict[Key, list[tuple[Tally | None, Tally | None]]] = defaultdict(list)
    checks: dict[CheckKey, list[int]] = defaultdict(lambda: [0, 0])
    for old, new in changes:
        for fact, sign in ((old, -1), (new, 1)):
            for check, (failed, total) in fact.tallies.items() if fact else ():
                assert fact is not None
                moved = checks[(fact.day, fact.service, check)]
                moved[0] += sign * failed
                moved[1] += sign * total
        before = contribution(old) if old else None
        after = contribution(new) if new else None
        if old and new and (old.day, old.service) == (new.day, new.service):
            if before != after:
                days[(new.day, new.service)].append((before, after))
            continue
        if old:
            days[(old.day, old.service)].append((before, None))
        if new:
            days[(new.day, new.service)].append((None, after))
    weeks: dict[Key, list[tuple[Tally | None, Tally | None]]] = defaultdict(list)
    for (day, service), moves in sorted(days.items()):
        _move(connection, InsightDay, {"day": day, "service": service}, moves)
        weeks[(week_of(day), service)].extend(moves)
    for (week, service), moves in sorted(weeks.items()):
        _move(connection, InsightWeek, {"week": week, "service": service}, moves)
    for (day, service, check), (failed, total) in sorted(checks.items()):
        if failed or total:
            keys = {"day": day, "service": service, "check_id": check}
            counts = {"failed": failed, "total": total}
            _add(connection, InsightCheck, keys, counts, empty_when=("failed", "total"))
    shift = _totals(new for _, new in changes if new) - _totals(old for old, _ in changes if old)
    for name, (count, seconds) in sorted(shift.items()):
        if count or seconds:
            sums = {"count": count, "seconds": seconds}
            _add(connection, InsightTotal, {"name": name}, sums, empty_when=("count",))


class _Sums(dict[str, tuple[int, float]]):
    """``name -> (count, seconds)`` that subtract."""

    def __sub__(self, other: _Sums) -> _Sums:
        names = set(self) | set(other)
        zero = (0, 0.0)
        return _Sums(
            (n, (self.get(n, zero)[0] - other.get(n, zero)[0],
                 self.get(n, zero)[1] - other.get(n, zero)[1]))
            for n in names
        )  # fmt: skip


def _totals(facts: Iterable[Fact], sums: _Sums | None = None) -> _Sums:
    """The ``/metrics`` totals of ``facts`` added up (bot/store/tally.totals), to ``sums``."""
    sums = _Sums() if sums is None else sums
    for fact in facts:
        for name, (count, seconds) in totals(fact).items():
            was = sums.get(name, (0, 0.0))
            sums[name] = (was[0] + count, was[1] + seconds)
    return sums


def week_of(day: date) -> date:
    """The Monday of ``day``'s ISO week: its ``insightweek`` row."""
    return day - timedelta(days=day.weekday())


def _move(
    connection: Connection,
    model: type[InsightTally],
    keys: dict[str, Any],
    moves: Sequence[tuple[Tally | None, Tally | None]],
) -> None:
    """Move the ``insightday`` or ``insightweek`` row ``keys`` names by ``moves``."""
    if all(_same_lists(before, after) for before, after in moves):
        counts = {
            name: sum(_count(after, name) - _count(before, name) for before, after in moves)
            for name in COUNTS
        }
        fill = {name: b"" for name in (*LISTS, *SUMS)}  # no durations: none moved
        _add(connection, model, keys, counts, empty_when=("runs",), fill=fill)
        return
    table: Any = model.__table__  # type: ignore[attr-defined]
    match = [table.c[name] == value for name, value in keys.items()]
    row = connection.execute(select(*tally_columns(model)).where(*match)).first()
    tally = tally_of(row) if row is not None else Tally()
    for before, after in moves:
        tally = shifted(tally, before, after)
    if tally == Tally():
        connection.execute(delete(table).where(*match))
    elif row is None:
        connection.execute(insert(table).values(**keys, **day_values(tally)))
    else:
        connection.execute(update(table).where(*match).values(**day_values(tally)))


def _same_lists(before: Tally | None, after: Tally | None) -> bool:
    return all(
        (getattr(before, name) if before else ()) == (getattr(after, name) if after else ())
        for name in LISTS
    )


def _count(tally: Tally | None, name: str) -> int:
    return int(getattr(tally, name)) if tally else 0


def _add(
    connection: Connection,
    model: type[SQLModel],
    keys: dict[str, Any],
    counts: Mapping[str, float],
    *,
    empty_when: Sequence[str],
    fill: dict[str, Any] | None = None,
) -> None:
    """Add ``counts`` to the row ``keys`` names in one statement (created with ``fill``
    when missing); a row whose ``empty_when`` counts fall to zero is removed, as a
    recount would not write it (a run or a check's result undone)."""
    if not any(counts.values()):
        return
    table: Any = model.__table__  # type: ignore[attr-defined]
    dialect = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement = dialect(table).values(**keys, **(fill or {}), **counts)
    added_up = {name: table.c[name] + statement.excluded[name] for name in counts}
    connection.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=added_up))
    if any(n < 0 for n in counts.values()):  # a total's seconds can fall as its count does
        matched = [table.c[name] == value for name, value in keys.items()]
        connection.execute(delete(table).where(*matched, *(table.c[n] == 0 for n in empty_when)))


def day_values(tally: Tally) -> dict[str, Any]:
    return {
        **{name: getattr(tally, name) for name in COUNTS},
        **{name: packed(getattr(tally, name)) for name in LISTS},
        "automated_sum": packed(exact_sum(tally.automated)),
        "waiting_sum": packed(exact_sum(tally.waiting)),
    }


def write_all(connection: Connection, facts: Iterable[list[Fact]], batch: int) -> int:
    """Write every run's facts and their rollups into empty tables (a recount); how many
    runs were written."""
    days: dict[Key, list[Tally]] = defaultdict(list)
    checks: dict[CheckKey, list[int]] = defaultdict(lambda: [0, 0])
    sums = _Sums()
    counted = 0
    for some in facts:
        connection.execute(insert(InsightRun), [fact_row(fact) for fact in some])
        _totals(some, sums)
        for fact in some:
            days[(fact.day, fact.service)].append(contribution(fact))
            for check, (failed, total) in fact.tallies.items():
                tally = checks[(fact.day, fact.service, check)]
                tally[0] += failed
                tally[1] += total
        counted += len(some)
    rows = [
        {"day": day, "service": service, **day_values(added(tallies))}
        for (day, service), tallies in sorted(days.items())
    ]
    by_week: dict[Key, list[Tally]] = defaultdict(list)
    for (day, service), tallies in days.items():
        by_week[(week_of(day), service)].extend(tallies)
    week_rows = [
        {"week": week, "service": service, **day_values(added(tallies))}
        for (week, service), tallies in sorted(by_week.items())
    ]
    check_rows = [
        {"day": day, "service": service, "check_id": check, "failed": f, "total": t}
        for (day, service, check), (f, t) in sorted(checks.items())
        if t or f
    ]
    total_rows = [
        {"name": name, "count": count, "seconds": seconds}
        for name, (count, seconds) in sorted(sums.items())
    ]
    for model, values in (
        (InsightDay, rows),
        (InsightWeek, week_rows),
        (InsightCheck, check_rows),
        (InsightTotal, total_rows),
    ):
        for start in range(0, len(values), batch):
            connection.execute(insert(model), values[start : start + batch])
    return counted
