"""Who executes a run: a lease (owner, expiry) on the run's row, renewed by a heartbeat.

Claiming is one conditional UPDATE, so on SQLite and PostgreSQL alike exactly one process
wins a run however many try at once. A process that dies stops renewing; once its lease
has expired, any other process may claim the run and resume it."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Update, or_, update
from sqlmodel import Session, col, select

from bot.store.models import Run, RunStatus, utcnow
from bot.store.runs import RunStore

DEFAULT_TTL = 30.0
"""Seconds a lease lasts without renewal. The heartbeat renews at a third of it."""


def process_id() -> str:
    """An owner id that names the machine and process (for people reading the table) and
    is unique across restarts (for the database)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Leases:
    def __init__(
        self,
        store: RunStore,
        owner: str | None = None,
        *,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.owner = owner or process_id()
        self.ttl = ttl
        self.clock = clock

    def expiry(self) -> datetime:
        return self.clock() + timedelta(seconds=self.ttl)

    def stamp(self, run: Run) -> Run:
        """Give a run not stored yet to this process, so that nobody else resumes it
        between its creation and its first heartbeat."""
        run.lease_owner, run.lease_expires = self.owner, self.expiry()
        return run

    async def claim(self, run_id: int) -> bool:
        """Take a running run whose lease is free, expired or already ours."""
        now = self.clock()
        query = (
            update(Run)
            .where(
                col(Run.id) == run_id,
                col(Run.status) == RunStatus.RUNNING,
                or_(
                    col(Run.lease_owner).is_(None),
                    col(Run.lease_owner) == self.owner,
                    col(Run.lease_expires) < now,
                ),
            )
            .values(lease_owner=self.owner, lease_expires=self.expiry())
        )
        return await self._changed(query)

    async def renew(self, run_id: int) -> bool:
        """Extend our lease; False when it is no longer ours (another process took over)."""
        query = (
            update(Run)
            .where(col(Run.id) == run_id, col(Run.lease_owner) == self.owner)
            .values(lease_expires=self.expiry())
        )
        return await self._changed(query)

    async def release(self, run_id: int) -> None:
        """Give a run up at once (a clean shutdown), so another process resumes it now."""
        query = (
            update(Run)
            .where(col(Run.id) == run_id, col(Run.lease_owner) == self.owner)
            .values(lease_owner=None, lease_expires=None)
        )
        await self._changed(query)

    async def orphaned(self, source: str = "slack") -> list[int]:
        """Running runs that nobody holds: their owner stopped or died. Only runs of one
        source: a terminal's run ends with its terminal, nobody resumes it."""
        now = self.clock()

        def work(session: Session) -> list[int]:
            query = (
                select(Run.id)
                .where(
                    col(Run.status) == RunStatus.RUNNING,
                    col(Run.source) == source,
                    or_(col(Run.lease_owner).is_(None), col(Run.lease_expires) < now),
                )
                .order_by(col(Run.id))
            )
            return [run_id for run_id in session.exec(query) if run_id is not None]

        return await self.store.call(work)

    async def _changed(self, query: Update) -> bool:
        def work(session: Session) -> bool:
            result = session.connection().execute(query)
            session.commit()
            return result.rowcount == 1

        return await self.store.call(work)
