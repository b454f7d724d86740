"""Messages the bot owes Slack, recorded before they are sent.

A message is first recorded under a key that names what it is (``run:7:parent``,
``run:7:results:g2``), then sent, then its ``ts`` stored. A key that has a ``ts`` is never
posted again, whatever process or restart asks; a key without one means a process died
between asking Slack and writing the answer, and the Slack adapter looks the message up
before it posts it again."""

from __future__ import annotations

from sqlalchemy import or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from bot.store.batch import Write
from bot.store.models import OutboxMessage
from bot.store.runs import RunStore

_OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]
_COLUMNS = tuple(column.name for column in _OUTBOX.columns)


class OutboxStore:
    def __init__(self, store: RunStore) -> None:
        self.store = store

    async def intend(
        self,
        key: str,
        channel: str,
        thread_ts: str | None,
        run_id: int | None = None,
        owner: str | None = None,
    ) -> tuple[OutboxMessage, bool]:
        """The record of ``key``, created (claimed by ``owner``) if new; True when this
        call created it."""

        def work(session: Session) -> tuple[OutboxMessage, bool]:
            row = OutboxMessage(
                key=key,
                run_id=run_id,
                channel=channel,
                thread_ts=thread_ts,
                claimed_by=owner,
                claimed_at=self.store.clock.now() if owner else None,
            )
            # one statement for a new key (the usual case), not a read and then an insert
            postgres = session.get_bind().dialect.name == "postgresql"
            insert = pg_insert if postgres else sqlite_insert
            values = {column: getattr(row, column) for column in _COLUMNS}
            statement = insert(_OUTBOX).values(values).on_conflict_do_nothing()
            if session.execute(statement.returning(_OUTBOX.c.key)).first() is not None:
                session.commit()
                return row, True
            existing = session.get(OutboxMessage, key)  # recorded before, by anyone
            assert existing is not None
            return existing, False

        return await self.store.call(work)

    async def claim(self, key: str, owner: str, stale_after: float) -> bool:
        """Take the sending of an unsent message: free, ours, or its claimer silent for
        ``stale_after`` seconds (it died). One conditional UPDATE: one process wins. Claims
        are stamped and compared by the database's clock: a process whose clock runs fast
        must not take a live claim and post the message twice."""
        now = self.store.clock.sql_now()
        query = (
            update(OutboxMessage)
            .where(
                col(OutboxMessage.key) == key,
                col(OutboxMessage.ts).is_(None),
                or_(
                    col(OutboxMessage.claimed_by).is_(None),
                    col(OutboxMessage.claimed_by) == owner,
                    col(OutboxMessage.claimed_at) < self.store.clock.sql_in(-stale_after),
                ),
            )
            .values(claimed_by=owner, claimed_at=now)
        )

        def work(session: Session) -> bool:
            result = session.connection().execute(query)
            session.commit()
            return result.rowcount == 1

        return await self.store.call(work)

    async def unclaim(self, run_id: int, owner: str) -> int:
        """Give up ``owner``'s claims on a run's unsent messages (it leaves the run to
        another process, which then sends them without waiting for the claims to go
        stale); how many."""
        query = (
            update(OutboxMessage)
            .where(
                col(OutboxMessage.run_id) == run_id,
                col(OutboxMessage.ts).is_(None),
                col(OutboxMessage.claimed_by) == owner,
            )
            .values(claimed_by=None, claimed_at=None)
        )

        def work(session: Session) -> int:
            result = session.connection().execute(query)
            session.commit()
            return int(result.rowcount)

        return await self.store.call(work)

    async def sent(self, key: str, ts: str, also: Write | None = None) -> None:
        """Record the message's ``ts``, and ``also`` in the same transaction (where the
        message is kept: a run's thread learns its parent's ts with it, not one call later)."""
        query = update(OutboxMessage).where(col(OutboxMessage.key) == key).values(ts=ts)

        def work(session: Session) -> None:
            session.connection().execute(query)  # one UPDATE, no read first
            if also is not None:
                also(session)
            session.commit()

        await self.store.call(work)

    async def get(self, key: str) -> OutboxMessage | None:
        return await self.store.read(lambda session: session.get(OutboxMessage, key))
