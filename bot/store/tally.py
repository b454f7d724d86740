"""What runs add up to for the success metrics, pure: a run's facts, what one run adds
(:func:`contribution`), a sum of many (:func:`added`) and a sum with one run's part
replaced (:func:`shifted`, how a day's rollup follows a decision or an outcome).

Counts add; the durations whose medians and p90 the figures take are kept as sorted
lists, so a sum of days gives exactly the values a scan of every run would."""

from __future__ import annotations

import math
import sys
from array import array as Array
from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import chain
from operator import attrgetter
from typing import Any, NamedTuple

DECIDING = ("go", "no-go", "expired")
FAILING = ("failed", "error", "interrupted")
FINAL = ("passed", "warned", *FAILING)


@dataclass(frozen=True)
class Fact:
    """A run as the success metrics see it (one ``insightrun`` row)."""

    run_id: int
    started: datetime
    service: str
    outcome: str | None = None
    """The decision: ``go``, ``no-go``, ``expired``, ``cancelled`` (None while undecided)."""
    production: str | None = None
    """``success`` or ``rolled-back`` once recorded with ``/preprod outcome``."""
    cycle: float | None = None
    """Seconds from the start to the decision."""
    checks: float | None = None
    """Seconds from the start to the end of the automated checks (None while running)."""
    waivers: int = 0
    tallies: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    """Per check: ``(failed, finished)`` attempts (skipped and unfinished ones not counted)."""
    status: str | None = None
    """The run's status (``running``, ``finished``, ...): ``/metrics`` counts runs by it."""

    @property
    def day(self) -> date:
        """The (UTC) day the run started: the rollup it counts in."""
        return self.started.astimezone(UTC).date()


class Tally(NamedTuple):
    """What a set of runs adds up to (a tuple, not a frozen dataclass: a year is
    thousands of these, built in a request). Rollup rows are read into it by the names
    of its fields (bot/store/rollups.py ``tally_columns``), not by the table's order."""

    runs: int = 0
    go: int = 0
    no_go: int = 0
    expired: int = 0
    cancelled: int = 0
    succeeded: int = 0
    rolled_back: int = 0
    escaped: int = 0
    """GO decisions rolled back in production."""
    waivers: int = 0
    cycles: Sequence[float] = ()
    """Seconds from start to decision of the runs decided GO, NO-GO or EXPIRED, sorted
    (a tuple; an ``array('d')`` as the insights read it: :func:`durations`)."""
    automated: Sequence[float] = ()
    """Of those with a known end of checks: the part spent in checks, sorted."""
    waiting: Sequence[float] = ()
    """... and the part spent waiting for people, sorted."""
    automated_sum: Sequence[float] | None = None
    """``automated``'s exact sum (:func:`exact_sum`), as a rollup row stores it; None:
    add up the list."""
    waiting_sum: Sequence[float] | None = None
    """``waiting``'s, likewise."""


COUNTS = (
    "runs", "go", "no_go", "expired", "cancelled", "succeeded", "rolled_back", "escaped",
    "waivers",
)  # fmt: skip
LISTS = ("cycles", "automated", "waiting")
SUMS = ("automated_sum", "waiting_sum")
_counts = attrgetter(*COUNTS)


class DayTally(NamedTuple):
    day: date
    service: str
    tally: Tally


class CheckTally(NamedTuple):
    service: str
    check_id: str
    failed: int
    total: int
    """Finished attempts."""


def contribution(fact: Fact) -> Tally:
    """What one run adds to its day's rollup."""
    outcome, production = fact.outcome, fact.production
    cycles: tuple[float, ...] = ()
    automated: tuple[float, ...] = ()
    waiting: tuple[float, ...] = ()
    if fact.cycle is not None and outcome in DECIDING:
        cycle = max(0.0, fact.cycle)
        cycles = (cycle,)
        if fact.checks is not None:
            spent = max(0.0, min(fact.checks, cycle))
            automated, waiting = (spent,), (cycle - spent,)
    return Tally(
        runs=1,
        go=int(outcome == "go"),
        no_go=int(outcome == "no-go"),
        expired=int(outcome == "expired"),
        cancelled=int(outcome == "cancelled"),
        succeeded=int(production == "success"),
        rolled_back=int(production == "rolled-back"),
        escaped=int(outcome == "go" and production == "rolled-back"),
        waivers=fact.waivers,
        cycles=cycles,
        automated=automated,
        waiting=waiting,
    )


def added(tallies: Iterable[Tally], lists: Sequence[str] = LISTS) -> Tally:
    """The sum of ``tallies``, their ``lists`` merged (still sorted; the others left
    empty when a caller needs only some: a trend point wants no waiting times)."""
    many = list(tallies)
    if len(many) == 1 and lists == LISTS:
        return many[0]
    sums = map(sum, zip(*map(_counts, many), strict=True)) if many else (0 for _ in COUNTS)
    merged: dict[str, Any] = {
        name: tuple(sorted(chain.from_iterable(map(attrgetter(name), many)))) for name in lists
    }
    return Tally(*sums, **merged)


def shifted(total: Tally, old: Tally | None, new: Tally | None) -> Tally:
    """``total`` with one run's part ``old`` (None: it was not counted) replaced by
    ``new`` (None: it no longer counts)."""
    values: dict[str, Any] = {
        name: getattr(total, name)
        - (getattr(old, name) if old else 0)
        + (getattr(new, name) if new else 0)
        for name in COUNTS
    }
    for name in LISTS:
        kept = list(getattr(total, name))
        for value in getattr(old, name) if old else ():
            at = bisect_left(kept, value)
            if at < len(kept) and kept[at] == value:
                del kept[at]
        for value in getattr(new, name) if new else ():
            insort(kept, value)
        values[name] = tuple(kept)
    return Tally(**values)


def less(total: Tally, parts: Iterable[Tally]) -> Tally:
    """``total`` without ``parts`` (each counted in it): a day's rollup less some of its
    runs. Each value leaves its list once, as a sort of what remains would give it."""
    gone = list(parts)
    values: dict[str, Any] = {
        name: getattr(total, name) - sum(getattr(part, name) for part in gone) for name in COUNTS
    }
    for name in LISTS:
        drop = Counter(chain.from_iterable(getattr(part, name) for part in gone))
        kept = []
        for value in getattr(total, name):
            if drop[value]:
                drop[value] -= 1
            else:
                kept.append(value)
        values[name] = tuple(kept)
    return Tally(**values)


def exact_sum(values: Iterable[float]) -> tuple[float, ...]:
    """The sum of ``values`` exactly, as a few doubles that add up to it (largest first;
    none for zero). ``math.fsum`` of these and of any other values is the correctly
    rounded sum of all of them, as ``math.fsum`` of every value would give it: a rollup
    stores its durations' sums so, and a period's share of automated time adds a few
    numbers a row instead of every duration (the insights' costliest part at a million
    runs). Each term is the correctly rounded rest: the rest shrinks by 2**-53 or more a
    term and stays a multiple of the values' finest unit, so it ends at zero in a few."""
    rest = list(values)
    terms: list[float] = []
    while (term := math.fsum(rest)) != 0.0:
        terms.append(term)
        rest.append(-term)
    return tuple(terms)


def total(values: Sequence[float], known: Sequence[float] | None) -> Iterable[float]:
    """What to add up for a list's sum: its exact sum when known, else the list itself."""
    return values if known is None else known


def packed(values: Sequence[float]) -> bytes:
    """A sorted list of durations as stored: little-endian doubles, read back without
    parsing (a year of rollup rows is a hundred thousand values)."""
    array = Array("d", values)
    if sys.byteorder == "big":
        array.byteswap()
    return array.tobytes()


def unpacked(data: bytes | None) -> tuple[float, ...]:
    return tuple(durations(data))


def durations(data: bytes | None) -> Array[float]:
    """A stored sorted list as an array: read without a Python float per value (a year
    of rollups is millions; bot/reports/ranks.py joins the arrays as they are)."""
    array = Array("d")
    array.frombytes(data or b"")
    if sys.byteorder == "big":
        array.byteswap()
    return array


def totals(fact: Fact) -> dict[str, tuple[int, float]]:
    """What one run adds to the ``/metrics`` totals: ``name -> (count, seconds)``."""
    found: dict[str, tuple[int, float]] = {}
    if fact.status is not None:
        found[f"runs:{fact.status}"] = (1, 0.0)
    if fact.outcome is not None:
        found[f"decisions:{fact.outcome}"] = (1, fact.cycle or 0.0)
    if fact.production is not None:
        found[f"production:{fact.production}"] = (1, 0.0)
    return found


def check_tallies(statuses: Iterable[tuple[str, str, int]]) -> dict[str, tuple[int, int]]:
    """``(check_id, status, attempts)`` counts as ``{check_id: (failed, finished)}``."""
    tallies: dict[str, tuple[int, int]] = {}
    for check_id, status, n in statuses:
        if status in FINAL:
            failed, total = tallies.get(check_id, (0, 0))
            tallies[check_id] = (failed + (n if status in FAILING else 0), total + n)
    return tallies
