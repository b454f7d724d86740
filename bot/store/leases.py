"""Who executes a run: a lease (owner, expiry) on the run's row, renewed by a heartbeat.

Claiming is one conditional UPDATE, so on SQLite and PostgreSQL alike exactly one process
wins a run however many try at once. A process that dies stops renewing; once its lease
has expired, any other process may claim the run and resume it.

Expiry is the database's clock (bot/store/clock.py): the statements compare and extend
leases with its ``now()``, so a process whose own clock is skewed neither takes a live run
nor keeps a dead one."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Collection
from datetime import datetime, timedelta

from sqlalchemy import Update, or_, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from bot.store.clock import DatabaseClock
from bot.store.models import Run, RunStatus
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
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """``clock``: this process's own clock (the database's on SQLite); by default the
        store's, so that measuring it corrects every time the process stamps."""
        self.store = store
        self.owner = owner or process_id()
        self.ttl = ttl
        self.time = store.clock if clock is None else DatabaseClock(store.engine, clock)
        """Now by the database's clock; :meth:`DatabaseClock.measure` keeps it honest."""

    def expiry(self) -> datetime:
        """When a lease given now ends, by the database's clock, for a value written from
        Python (a new run, a re-run); statements use :meth:`_expiry_sql`."""
        return self.time.now() + timedelta(seconds=self.ttl)

    def _expiry_sql(self) -> ColumnElement[datetime]:
        return self.time.sql_in(self.ttl)

    def stamp(self, run: Run) -> Run:
        """Give a run not stored yet to this process, so that nobody else resumes it
        between its creation and its first heartbeat."""
        run.lease_owner, run.lease_expires = self.owner, self.expiry()
        return run

    async def claim(self, run_id: int) -> bool:
        """Take a running run whose lease is free, expired or already ours."""
        now = self.time.sql_now()
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
            .values(lease_owner=self.owner, lease_expires=self._expiry_sql())
        )
        return await self._changed(query)

    async def renew(self, run_id: int) -> bool:
        """Extend our lease; False when it is no longer ours (another process took over)."""
        query = (
            update(Run)
            .where(col(Run.id) == run_id, col(Run.lease_owner) == self.owner)
            .values(lease_expires=self._expiry_sql())
        )
        return await self._changed(query)

    async def renew_many(self, run_ids: Collection[int]) -> set[int]:
        """Extend our leases of ``run_ids`` in one transaction (one heartbeat for every
        run a process holds, however many); the ids that are still ours."""
        if not run_ids:
            return set()
        ids = list(run_ids)
        expiry = self._expiry_sql()

        def work(session: Session) -> set[int]:
            mine = (col(Run.id).in_(ids), col(Run.lease_owner) == self.owner)
            session.connection().execute(update(Run).where(*mine).values(lease_expires=expiry))
            held = {run_id for run_id in session.exec(select(Run.id).where(*mine)) if run_id}
            session.commit()
            return held

        return await self.store.call(work)

    async def release(self, run_id: int) -> None:
        """Give a run up at once (a clean shutdown), so another process resumes it now."""
        query = (
            update(Run)
            .where(col(Run.id) == run_id, col(Run.lease_owner) == self.owner)
            .values(lease_owner=None, lease_expires=None)
        )
        await self._changed(query)

    async def release_all(self) -> None:
        """Give up every running run this process holds, executing or still being
        opened (a clean shutdown)."""
        query = (
            update(Run)
            .where(col(Run.lease_owner) == self.owner, col(Run.status) == RunStatus.RUNNING)
            .values(lease_owner=None, lease_expires=None)
        )
        await self._changed(query)

    async def orphaned(self, source: str = "slack") -> list[int]:
        """Running runs that nobody holds: their owner stopped or died. Only runs of one
        source: a terminal's run ends with its terminal, nobody resumes it."""
        now = self.time.sql_now()

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

    async def request_cancel(self, run_id: int, user: str) -> bool:
        """Ask whichever process executes a run to cancel it (it may be another replica or
        a worker); False when the run is not running any more."""
        query = (
            update(Run)
            .where(col(Run.id) == run_id, col(Run.status) == RunStatus.RUNNING)
            .values(cancel_requested_by=user)
        )
        return await self._changed(query)

    async def take_cancel_requests(self, run_ids: Collection[int]) -> dict[int, str]:
        """The cancel requests waiting on these runs of ours (run id -> who asked), each
        handed out once: the request is cleared as it is taken, so a later re-run of the
        run is not cancelled by an old request."""
        if not run_ids:
            return {}

        def work(session: Session) -> dict[int, str]:
            mine = (
                col(Run.id).in_(list(run_ids)),
                col(Run.lease_owner) == self.owner,
                col(Run.cancel_requested_by).is_not(None),
            )
            query = select(Run.id, Run.cancel_requested_by).where(*mine)
            found = {run_id: by for run_id, by in session.exec(query) if run_id and by}
            if found:
                clear = update(Run).where(col(Run.id).in_(list(found)), *mine[1:])
                session.connection().execute(clear.values(cancel_requested_by=None))
                session.commit()
            return found

        return await self.store.call(work)

    async def clear_cancel_request(self, run_id: int) -> None:
        """Forget a request that came too late (the run had ended) before running it again."""
        await self._changed(
            update(Run).where(col(Run.id) == run_id).values(cancel_requested_by=None)
        )

    async def _changed(self, query: Update) -> bool:
        def work(session: Session) -> bool:
            result = session.connection().execute(query)
            session.commit()
            return result.rowcount == 1

        return await self.store.call(work)
