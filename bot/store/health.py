"""The database as readiness sees it: one short transaction on a connection of its own
that reads the schema revision, writes, and counts the messages still owed to Slack.

The probe does not borrow the store's pool: a pool whose connections hang on a dead
server would hang the probe too, and the probe must also notice what the pool hides (a
full disk refuses the write, a read-only standby the UPDATE). Its engine opens a fresh
connection every time, with short timeouts: PostgreSQL's ``connect_timeout``, then
``SET LOCAL statement_timeout`` / ``lock_timeout`` in the transaction (not startup
``options``, which PgBouncer refuses), SQLite's busy timeout. Whoever calls it still
needs a deadline of its own (a server stopped mid-answer enforces no timeout)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool
from sqlmodel import col, create_engine

from bot.store.models import OutboxMessage, as_utc

PG_CONNECT_TIMEOUT = 2
"""Seconds; libpq treats anything under 2 as 2."""


@dataclass(frozen=True)
class DatabaseFacts:
    """What one probe found."""

    revision: str | None
    """The schema revision in ``alembic_version`` (None: no row)."""
    backlog: int
    """Messages recorded in the outbox and not sent yet (no ``ts``)."""
    oldest: datetime | None
    """When the oldest of them was recorded (UTC)."""


def probe_engine(url: str, timeout: float) -> Engine:
    """An engine for the probe alone: no pool, and the driver's connect or busy timeout
    set from ``timeout`` seconds."""
    if url.startswith("sqlite"):
        args: dict[str, object] = {"check_same_thread": False, "timeout": timeout}
    elif url.startswith("postgresql"):
        args = {
            "connect_timeout": max(PG_CONNECT_TIMEOUT, int(timeout + 0.999)),
            "application_name": "preprod-readyz",
        }
    else:
        args = {}
    return create_engine(url, poolclass=NullPool, connect_args=args)


def probe(engine: Engine, timeout: float) -> DatabaseFacts:
    """One transaction: read the schema revision and the outbox backlog, then write (a
    no-op UPDATE of ``alembic_version``, committed: a new row version on PostgreSQL, a
    WAL frame on SQLite, so a full disk or a read-only server fails it). On PostgreSQL
    each statement is bounded by ``timeout`` seconds, a lock wait by three quarters of
    it (so that a lock wait is reported as one, not as a slow statement)."""
    unsent = select(func.count(), func.min(col(OutboxMessage.at))).where(
        col(OutboxMessage.ts).is_(None)
    )
    millis = max(int(timeout * 1000), 1)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"SET LOCAL statement_timeout = {millis}"))
            connection.execute(text(f"SET LOCAL lock_timeout = {max(millis * 3 // 4, 1)}"))
        revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        count, oldest = connection.execute(unsent).one()
        connection.execute(text("UPDATE alembic_version SET version_num = version_num"))
    return DatabaseFacts(
        revision=str(revision) if revision is not None else None,
        backlog=int(count or 0),
        oldest=as_utc(oldest) if oldest is not None else None,
    )
