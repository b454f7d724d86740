"""Slack requests already handled, so a replayed one changes nothing.

The claim is an insert on a primary key, so it holds across replicas sharing the
database; rows older than the replay window (plus clock skew) are deleted as we go."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col

from bot.store.models import SeenRequest
from bot.store.runs import RunStore
from bot.store.unique import insert_once

KEEP = timedelta(minutes=10)
"""Slack refuses signatures older than 5 minutes; twice that covers clock skew."""
SWEEP_EVERY = 60.0


class SeenRequests:
    def __init__(self, store: RunStore, keep: timedelta = KEEP) -> None:
        self.store = store
        self.keep = keep
        self._swept = float("-inf")

    async def first_time(self, key: str, now: datetime | None = None) -> bool:
        """Record ``key``; False (and nothing changed) when it was seen within ``keep``."""
        at = now or self.store.clock.now()  # the database's clock: one for every replica
        sweep = time.monotonic() - self._swept >= SWEEP_EVERY
        if sweep:
            self._swept = time.monotonic()

        def work(session: Session) -> bool:
            if sweep:
                session.execute(delete(SeenRequest).where(col(SeenRequest.at) < at - self.keep))
                session.commit()
            return insert_once(session, SeenRequest(key=key, at=at))

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
