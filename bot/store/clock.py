"""Now, by the database's clock: the one clock every process sharing the database agrees on.

Processes on several machines share one PostgreSQL, and their own clocks disagree: a worker
whose clock ran 120 s fast took live runs from a healthy one, because it compared lease
expiries with its own "now". So time that processes compare with each other is the
database's: lease expiry is computed inside the statement (``now()``), and the few times
computed in Python (a lease stamped on a new row, a run's creation and end, a check's
start and end, a deadline, a reminder slot) are the local clock corrected by the offset
last measured against the database (:meth:`measure`): ``RunStore.clock`` is the one such
clock of a process, measured at start-up and on every heartbeat.

Embedded SQLite lives on one machine: its clock is the local clock (offset 0, nothing to
measure)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, literal, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel.sql.sqltypes import UTCDateTime

from bot.store.models import as_utc, utcnow


@dataclass(frozen=True)
class Skew:
    """How far the database's clock is from ours, as measured once."""

    offset: float
    """Seconds the database's clock is ahead of ours (negative: ours runs fast)."""
    uncertainty: float
    """Half the round trip of the measurement: the offset is known to within this."""

    def beyond(self, bound: float) -> bool:
        """Whether our clock is surely more than ``bound`` seconds away from the database's."""
        return abs(self.offset) - self.uncertainty > bound

    def describe(self) -> str:
        """For a log line: ``our clock is 120.0 s ahead of the database's (±0.001 s)``."""
        if self.offset == 0 and self.uncertainty == 0:
            return "our clock is the database's (SQLite: one machine)"
        way = "ahead of" if self.offset < 0 else "behind"
        return (
            f"our clock is {abs(self.offset):.3f} s {way} the database's "
            f"(±{self.uncertainty:.3f} s)"
        )


def skew_from(local_before: datetime, database: datetime, round_trip: float) -> Skew:
    """The skew from one reading: the database's time is compared with ours at the middle
    of the round trip (pure)."""
    middle = local_before + timedelta(seconds=round_trip / 2)
    return Skew((as_utc(database) - middle).total_seconds(), round_trip / 2)


class DatabaseClock:
    """The database's "now", for statements and for Python, on one engine."""

    def __init__(self, engine: Engine, local: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.local = local
        self.shared = engine.dialect.name == "postgresql"
        """True when several machines may share the database (its clock is not ours)."""
        self.last: Skew | None = None
        """The latest measurement (None before the first)."""

    @property
    def offset(self) -> float:
        return self.last.offset if self.last is not None else 0.0

    def now(self) -> datetime:
        """Now by the database's clock, computed here: the local clock plus the offset last
        measured (for values written from Python and for deadlines)."""
        return self.local() + timedelta(seconds=self.offset)

    def sql_now(self) -> ColumnElement[datetime]:
        """Now by the database's clock, inside a statement: ``now()`` on PostgreSQL (the
        transaction's start), the local clock on SQLite."""
        if self.shared:
            return func.now()
        return literal(self.local(), UTCDateTime())

    def sql_in(self, seconds: float) -> ColumnElement[datetime]:
        """``seconds`` from now by the database's clock, inside a statement."""
        if self.shared:
            return func.now() + timedelta(seconds=seconds)
        return literal(self.local() + timedelta(seconds=seconds), UTCDateTime())

    def measure(self) -> Skew:
        """Read the database's clock (``clock_timestamp()``: the moment it answers) and
        compare it with ours, accounting for the round trip. Blocking: call it in a
        thread. SQLite: no skew, nothing read."""
        if not self.shared:
            self.last = Skew(0.0, 0.0)
            return self.last
        with self.engine.connect() as connection:  # connected (and pinged) first
            before, started = self.local(), time.monotonic()
            database = connection.execute(select(func.clock_timestamp())).scalar_one()
            round_trip = time.monotonic() - started
        self.last = skew_from(before, database, round_trip)
        return self.last
