"""Slack requests already handled, so a replayed one changes nothing.

The claim is an insert on a primary key, so it holds across replicas sharing the
database; rows older than the replay window (plus clock skew) are deleted as we go.

Claims are committed in groups (bot/store/together.py): a burst (a digest sends ten
people to click at once) is one transaction, not one per request queued behind each
other for the writer's lock; a group is one ``INSERT ... ON CONFLICT DO NOTHING
RETURNING key``."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from bot.store.models import SeenRequest
from bot.store.runs import RunStore
from bot.store.together import Together

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


class SeenRequests:
    def __init__(self, store: RunStore, keep: timedelta = KEEP) -> None:
        self.store = store
        self.keep = keep
        self._swept = float("-inf")
        self._claims = Together(self._claim, GROUP)

    async def first_time(self, key: str, now: datetime | None = None) -> bool:
        """Record ``key``; False (and nothing changed) when it was seen within ``keep``."""
        at = now or self.store.clock.now()  # the database's clock: one for every replica
        return await self._claims.add((key, at))

    async def _claim(self, group: list[tuple[str, datetime]]) -> list[bool]:
        """Whether each claim of ``group`` is the first (the same key twice in one group:
        the first one has it)."""
        fresh = await self._insert(group)
        answered: set[str] = set()
        firsts = []
        for key, _ in group:
            firsts.append(key in fresh and key not in answered)
            answered.add(key)
        return firsts

    async def _insert(self, group: list[tuple[str, datetime]]) -> set[str]:
        """The keys of ``group`` that were not there yet, inserted in one transaction."""
        rows: dict[str, datetime] = {}
        for key, at in group:
            rows.setdefault(key, at)
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
