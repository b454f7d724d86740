"""The audit trail read, and appended to on its own (outside another change's
transaction): :class:`AuditLog`. Writing an event inside a change's transaction, the
appenders' lock and the queue are bot/store/audit.py's."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sqlalchemy import Row
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.audit.chain import Action, Entry, Verification, walk
from bot.store.audit import RETRIES, Note, append, chain_now, hold_write_lock
from bot.store.calls import SessionCalls
from bot.store.models import AuditEvent, ConfigSnapshot, as_utc

PAGE = 1000
"""Events read at a time when the chain is verified."""


def entry(row: AuditEvent | Row[Any]) -> Entry:
    return Entry(
        seq=row.seq,
        at=as_utc(row.at),
        run_id=row.run_id,
        actor=row.actor,
        action=row.action,
        details=row.details or {},
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


class AuditLog:
    """Reading and appending the trail outside another change's transaction."""

    def __init__(self, store: SessionCalls) -> None:
        """``store``: the run store, or anything that runs a function with a session."""
        self.store = store

    async def record(self, note: Note) -> Entry:
        """Append ``note`` on its own (a reminder sent, say): for actions whose own row,
        if any, is written elsewhere. Retried should another appender win a race."""

        def work(session: Session) -> Entry:
            for attempt in range(RETRIES):
                try:
                    row = append(session, note)
                    session.commit()
                    return entry(row)
                except IntegrityError:
                    session.rollback()
                    if attempt == RETRIES - 1:
                        raise
            raise AssertionError("unreachable")

        return await self.store.call(work)

    async def chain_queued(self) -> int:
        """Chain the queued events (see :func:`queue`) in a transaction of their own; how
        many. A read when none wait."""
        return await self.store.call(chain_now)

    async def reminder_sent(self, run_id: int | None, to: str, key: str) -> Entry | None:
        """The hook for the reminders: record that the reminder ``key`` (the unique key it
        was recorded under before sending) went to ``to``, once; None when it already was."""
        note = Note(Action.REMINDER_SENT, "preprod", run_id, {"to": to, "key": key})

        def work(session: Session) -> Entry | None:
            hold_write_lock(
                session.connection()
            )  # held to commit: no other appender sees the same absence
            query = select(AuditEvent).where(
                AuditEvent.action == Action.REMINDER_SENT.value, AuditEvent.run_id == run_id
            )
            if any((row.details or {}).get("key") == key for row in session.exec(query)):
                session.rollback()
                return None
            row = append(session, note)
            session.commit()
            return entry(row)

        return await self.store.call(work)

    async def events(self, run_id: int | None = None) -> list[Entry]:
        """Every event (of one run), in order."""

        def work(session: Session) -> list[Entry]:
            chain_now(session)  # the queued events are part of the trail
            query = select(AuditEvent).order_by(col(AuditEvent.seq))
            if run_id is not None:
                query = query.where(AuditEvent.run_id == run_id)
            return [entry(row) for row in session.exec(query)]

        return await self.store.call(work)

    async def export(
        self, sink: Callable[[Entry], object], run_id: int | None = None, page: int = PAGE
    ) -> int:
        """Hand every event (of one run) to ``sink`` in order, ``page`` at a time, so that
        a trail of millions of events is written in bounded memory; how many."""

        def work(session: Session) -> int:
            chain_now(session)  # the queued events are part of the trail
            count = 0
            for event in _pages(session, page, run_id):
                sink(event)
                count += 1
            return count

        return await self.store.call(work)

    async def head(self) -> Entry | None:
        def work(session: Session) -> Entry | None:
            chain_now(session)  # the queued events are part of the trail
            query = select(AuditEvent).order_by(col(AuditEvent.seq).desc()).limit(1)
            row = session.exec(query).first()
            return entry(row) if row is not None else None

        return await self.store.call(work)

    async def at(self, seqs: Iterable[int]) -> dict[int, Entry]:
        """The events numbered ``seqs`` that exist (checkpoints are compared with them),
        looked up by primary key, 500 at a time."""
        wanted = sorted(set(seqs))

        def work(session: Session) -> dict[int, Entry]:
            chain_now(session)  # the queued events are part of the trail
            found: dict[int, Entry] = {}
            for start in range(0, len(wanted), 500):
                query = select(AuditEvent).where(
                    col(AuditEvent.seq).in_(wanted[start : start + 500])
                )
                found.update((row.seq, entry(row)) for row in session.exec(query))
            return found

        return await self.store.call(work)

    async def last_of(self, run_id: int, action: str) -> Entry | None:
        """The newest event ``action`` of run ``run_id`` (a decision's, for the head its
        announcement carries)."""

        def work(session: Session) -> Entry | None:
            chain_now(session)  # the queued events are part of the trail
            query = (
                select(AuditEvent)
                .where(col(AuditEvent.run_id) == run_id, col(AuditEvent.action) == action)
                .order_by(col(AuditEvent.seq).desc())
                .limit(1)
            )
            row = session.exec(query).first()
            return entry(row) if row is not None else None

        return await self.store.call(work)

    async def verify(self, head: str | None = None, page: int = PAGE) -> Verification:
        """Walk the whole chain ``page`` events at a time (keyset pages by sequence
        number), holding one page: a trail of millions of events verifies in bounded
        memory. A break is diagnosed through the indexes on ``hash`` and ``prev_hash``."""

        def work(session: Session) -> Verification:
            chain_now(session)  # the queued events are part of the trail
            return walk(_pages(session, page), StoredLinks(session), head)

        return await self.store.call(work)

    async def config(self, digest: str) -> ConfigSnapshot | None:
        return await self.store.call(lambda session: session.get(ConfigSnapshot, digest))


def _pages(session: Session, size: int, run_id: int | None = None) -> Iterator[Entry]:
    """Every event (of one run) in sequence order, read ``size`` at a time after the last
    one read. Plain rows, not ORM objects: a million events verify in a third of the time
    (bench/pages.py), and nothing is held in the session between pages."""
    table = AuditEvent.__table__  # type: ignore[attr-defined]
    connection = session.connection()
    after: int | None = None
    while True:
        query = sa_select(table).order_by(table.c.seq).limit(size)
        if run_id is not None:
            query = query.where(table.c.run_id == run_id)
        if after is not None:
            query = query.where(table.c.seq > after)
        rows = [entry(row) for row in connection.execute(query)]
        yield from rows
        if len(rows) < size:
            return
        after = rows[-1].seq


class StoredLinks:
    """:class:`bot.audit.chain.Links` answered by the database, one indexed row each."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _one(self, query: Any) -> Entry | None:
        row = self.session.exec(query.order_by(col(AuditEvent.seq)).limit(1)).first()
        return entry(row) if row is not None else None

    def with_hash(self, hash: str) -> Entry | None:
        return self._one(select(AuditEvent).where(col(AuditEvent.hash) == hash))

    def following(self, prev_hash: str, after: int | None = None) -> Entry | None:
        query = select(AuditEvent).where(col(AuditEvent.prev_hash) == prev_hash)
        return self._one(query if after is None else query.where(col(AuditEvent.seq) > after))

    def next_after(self, seq: int) -> Entry | None:
        return self._one(select(AuditEvent).where(col(AuditEvent.seq) > seq))
