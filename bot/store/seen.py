"""Slack requests already handled, so a replayed one changes nothing.

The claim is an insert on a primary key, so it holds across replicas sharing the
database; rows older than the replay window (plus clock skew) are deleted as we go.

Claims are committed in groups: a burst (a digest sends ten people to click at once) is
one transaction, not one per request queued behind each other for the writer's lock.
While a group's transaction is in flight, new claims wait; the moment it ends, all of
them go in the next one (``INSERT ... ON CONFLICT DO NOTHING RETURNING key``). No timer
holds a lone claim back. Each caller is answered only once its group has committed (or
failed: then every caller of the group gets the error, and nothing of it is recorded).
The group's transaction is bound by the earliest ack deadline of its callers
(bot/store/faults.py), so it commits nothing after any of them was told otherwise."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from bot.store.faults import ack_deadline, deadline_at
from bot.store.models import SeenRequest
from bot.store.runs import RunStore

KEEP = timedelta(minutes=10)
"""Slack refuses signatures older than 5 minutes; twice that covers clock skew."""
SWEEP_EVERY = 60.0
GROUP = 500
"""The most claims committed in one transaction."""
_CLAIM = {
    postgres: insert(SeenRequest).on_conflict_do_nothing().returning(col(SeenRequest.key))
    for postgres, insert in ((False, sqlite_insert), (True, pg_insert))
}
"""The claim statement of each dialect (PostgreSQL's when True), built once."""


@dataclass
class _Claim:
    key: str
    at: datetime
    answer: asyncio.Future[bool]
    deadline: float | None


class SeenRequests:
    def __init__(self, store: RunStore, keep: timedelta = KEEP) -> None:
        self.store = store
        self.keep = keep
        self._swept = float("-inf")
        self._waiting: list[_Claim] = []
        self._writing: asyncio.Task[None] | None = None

    async def first_time(self, key: str, now: datetime | None = None) -> bool:
        """Record ``key``; False (and nothing changed) when it was seen within ``keep``."""
        loop = asyncio.get_running_loop()
        at = now or self.store.clock.now()  # the database's clock: one for every replica
        claim = _Claim(key, at, loop.create_future(), ack_deadline())
        self._waiting.append(claim)
        self._next_group()
        return await claim.answer

    def _next_group(self) -> None:
        """Start writing the waiting claims, unless a group is being written."""
        if self._writing is not None or not self._waiting:
            return
        self._writing = asyncio.get_running_loop().create_task(self._write())
        self._writing.add_done_callback(self._written)

    def _written(self, _task: asyncio.Task[None]) -> None:
        self._writing = None
        self._next_group()

    async def _write(self) -> None:
        # taken when the task starts: what arrived in the same turn of the loop goes too
        group, self._waiting = self._waiting[:GROUP], self._waiting[GROUP:]
        deadlines = [claim.deadline for claim in group if claim.deadline is not None]
        try:
            with deadline_at(min(deadlines, default=None)):
                fresh = await self._insert(group)
        except asyncio.CancelledError:
            for claim in group:
                claim.answer.cancel()
            raise
        except Exception as exc:  # the database failed: nobody of the group is recorded
            for claim in group:
                if not claim.answer.done():
                    claim.answer.set_exception(exc)
            return
        answered: set[str] = set()
        for claim in group:  # the same key twice in one group: the first one has it
            if not claim.answer.done():
                claim.answer.set_result(claim.key in fresh and claim.key not in answered)
            answered.add(claim.key)

    async def _insert(self, group: list[_Claim]) -> set[str]:
        """The keys of ``group`` that were not there yet, inserted in one transaction."""
        rows: dict[str, datetime] = {}
        for claim in group:
            rows.setdefault(claim.key, claim.at)
        sweep = time.monotonic() - self._swept >= SWEEP_EVERY
        if sweep:
            self._swept = time.monotonic()
        cutoff = min(rows.values()) - self.keep

        def work(session: Session) -> set[str]:
            if sweep:
                session.execute(delete(SeenRequest).where(col(SeenRequest.at) < cutoff))
                session.commit()
            statement = _CLAIM[session.get_bind().dialect.name == "postgresql"]
            values = [{"key": key, "at": at} for key, at in rows.items()]
            # Core, with the rows as parameters: one compiled statement for every group
            # (SQLAlchemy sends them as one multi-row INSERT). Rows inlined with
            # ``.values(rows)`` compiled afresh for each group: the largest part of a
            # ``start``'s ack CPU in bench/ack_latency's profile.
            fresh = {str(key) for key in session.connection().execute(statement, values).scalars()}
            session.commit()
            return fresh

        return await self.store.call(work)

    async def release(self, key: str) -> None:
        """Let ``key`` go: the request was not recorded (the database failed), so the
        same request sent again is handled, not taken for a replay."""

        def work(session: Session) -> None:
            session.execute(delete(SeenRequest).where(col(SeenRequest.key) == key))
            session.commit()

        await self.store.call(work)

    async def forget_before(self, cutoff: datetime) -> int:
        """Delete the rows older than ``cutoff``; how many went."""

        def work(session: Session) -> int:
            result = session.execute(delete(SeenRequest).where(col(SeenRequest.at) < cutoff))
            session.commit()
            return int(getattr(result, "rowcount", 0) or 0)

        return await self.store.call(work)
