"""Reminders recorded before they are sent, under a unique key (job, slot, run, recipient).

A job records every message it owes here first; the Slack adapter then posts it through
the outbox under the same key (bot/store/outbox.py), which keeps its ``ts``. Two replicas
running the same job, a retry or a restart therefore find the key and send nothing new."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from bot.store.models import DirectChannel, OutboxMessage, Reminder, Run
from bot.store.runs import RunStore
from bot.store.unique import insert_once


@dataclass(frozen=True)
class ReminderKey:
    job: str
    """``digest``, ``dm``, ``nudge``, ``warning`` or ``outcome``."""
    slot: str
    """Which occurrence: a fire time in UTC (ISO), a nudge number, the deadline."""
    run_id: int = 0
    """The run it is about; 0 for the digest, which is about all of them."""
    recipient: str = ""
    """A user id, or the channel id."""

    @property
    def key(self) -> str:
        """The outbox key of its message."""
        return f"remind:{self.job}:{self.slot}:{self.run_id}:{self.recipient}"


class ReminderStore:
    def __init__(self, store: RunStore) -> None:
        self.store = store

    async def record(self, reminder: ReminderKey) -> bool:
        """Record ``reminder`` once; True when this call recorded it."""
        row = Reminder(
            job=reminder.job,
            slot=reminder.slot,
            run_id=reminder.run_id,
            recipient=reminder.recipient,
        )
        return await self.store.call(lambda session: insert_once(session, row))

    async def recorded(self, reminder: ReminderKey) -> bool:
        def work(session: Session) -> bool:
            key = (reminder.job, reminder.slot, reminder.run_id, reminder.recipient)
            return session.get(Reminder, key) is not None

        return await self.store.call(work)

    async def runs_before(self, moment: datetime) -> bool:
        """Did any run start before ``moment``? (A digest "missed" before the first run of
        a fresh database had nothing to say, and nobody missed it.)"""

        def work(session: Session) -> bool:
            query = select(Run.id).where(col(Run.created_at) < moment.astimezone(UTC)).limit(1)
            return session.exec(query).first() is not None

        return await self.store.call(work)

    async def sent(self, reminders: list[ReminderKey]) -> set[str]:
        """The keys among ``reminders`` whose message Slack has (the outbox has its ts)."""
        keys = [r.key for r in reminders]

        def work(session: Session) -> set[str]:
            found: set[str] = set()
            for start in range(0, len(keys), 500):
                query = select(OutboxMessage.key).where(
                    col(OutboxMessage.key).in_(keys[start : start + 500]),
                    col(OutboxMessage.ts).is_not(None),
                )
                found.update(session.exec(query))
            return found

        return await self.store.call(work)

    async def direct_channel(self, user: str) -> str | None:
        def work(session: Session) -> str | None:
            row = session.get(DirectChannel, user)
            return row.channel if row else None

        return await self.store.call(work)

    async def save_direct_channel(self, user: str, channel: str) -> None:
        await self.store.call(
            lambda session: insert_once(session, DirectChannel(user=user, channel=channel))
        )
