"""Messages the bot owes Slack, recorded before they are sent.

A message is first recorded under a key that names what it is (``run:7:parent``,
``run:7:results:g2``), then sent, then its ``ts`` stored. A key that has a ``ts`` is never
posted again, whatever process or restart asks; a key without one means a process died
between asking Slack and writing the answer, and the Slack adapter looks the message up
before it posts it again."""

from __future__ import annotations

from sqlmodel import Session

from bot.store.models import OutboxMessage
from bot.store.runs import RunStore
from bot.store.unique import insert_once


class OutboxStore:
    def __init__(self, store: RunStore) -> None:
        self.store = store

    async def intend(
        self, key: str, channel: str, thread_ts: str | None, run_id: int | None = None
    ) -> tuple[OutboxMessage, bool]:
        """The record of ``key``, created if new; True when this call created it."""

        def work(session: Session) -> tuple[OutboxMessage, bool]:
            found = session.get(OutboxMessage, key)
            if found is not None:
                return found, False
            row = OutboxMessage(key=key, run_id=run_id, channel=channel, thread_ts=thread_ts)
            if insert_once(session, row):
                return row, True
            existing = session.get(OutboxMessage, key)  # another process recorded it first
            assert existing is not None
            return existing, False

        return await self.store.call(work)

    async def sent(self, key: str, ts: str) -> None:
        def work(session: Session) -> None:
            row = session.get(OutboxMessage, key)
            if row is not None:
                row.ts = ts
                session.add(row)
                session.commit()

        await self.store.call(work)

    async def get(self, key: str) -> OutboxMessage | None:
        return await self.store.call(lambda session: session.get(OutboxMessage, key))
