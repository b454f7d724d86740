"""Web sessions kept in the shared database, so that they can be ended.

A signed cookie alone stays valid until it expires, whatever happens to the person: a
copy taken before sign-out keeps working. Here the cookie carries only a random token
(256 bits); the table keeps its SHA-256, who it is, when it began and was last seen, and
when and why it ended. Every request looks the token up (one primary-key read), so
signing out, ``preprod sessions revoke`` or removal from the roles ends it at once on
every replica. ``last_seen`` is written only when it is more than a minute old, so the
idle limit costs at most one write per session and minute, not one per request."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from bot.store.models import WebSession, as_utc, utcnow
from bot.store.runs import RunStore

TOUCH_EVERY = timedelta(minutes=1)
"""``last_seen`` is rewritten only when older than this (the idle limit's precision)."""
KEEP = timedelta(days=7)
"""Rows are deleted this long after their session could last no more (for ``list --all``)."""

SIGNED_OUT = "signed out"
REVOKED = "revoked"
REMOVED_FROM_ROLES = "removed from roles"
EXPIRED = "expired"
IDLE = "idle"


@dataclass(frozen=True)
class Limits:
    """How long a session may last at most, and without a request."""

    ttl: timedelta
    idle: timedelta


@dataclass(frozen=True)
class Active:
    """A live session's person."""

    user: str
    name: str


@dataclass(frozen=True)
class Listed:
    """A session as ``preprod sessions list`` shows it."""

    key: str
    """The first 12 hex digits of the token's hash: names a session, opens nothing."""
    user: str
    name: str
    created_at: datetime
    last_seen: datetime
    ended_at: datetime | None
    ended_why: str | None


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def why_over(row: WebSession, now: datetime, limits: Limits) -> str | None:
    """Why the session no longer admits anyone (its end, or a limit passed); None if live."""
    if row.ended_at is not None:
        return row.ended_why or REVOKED
    if now - as_utc(row.created_at) > limits.ttl:
        return EXPIRED
    if now - as_utc(row.last_seen) > limits.idle:
        return IDLE
    return None


def touch_due(last_seen: datetime, now: datetime) -> bool:
    return now - as_utc(last_seen) > TOUCH_EVERY


class WebSessions:
    """The ``websession`` repository; ``clock`` is injectable for the limits' tests."""

    def __init__(
        self, store: RunStore, limits: Limits, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.store = store
        self.limits = limits
        self.clock = clock

    async def open(self, user: str, name: str) -> str:
        """A new session for ``user``; returns the token for the cookie (never stored).
        Rows long past any use are deleted on the way (sign-ins are rare)."""
        token, now = new_token(), self.clock()
        row = WebSession(
            token_hash=token_hash(token), user=user, name=name[:80], created_at=now, last_seen=now
        )
        cutoff = now - self.limits.ttl - KEEP

        def work(session: Session) -> None:
            session.execute(delete(WebSession).where(col(WebSession.created_at) < cutoff))
            session.add(row)
            session.commit()

        await self.store.call(work)
        return token

    async def check(self, token: str) -> Active | None:
        """The person of a live session, or None. A session found past a limit is marked
        ended (with why); ``last_seen`` moves when more than ``TOUCH_EVERY`` old."""
        key, now = token_hash(token), self.clock()

        def work(session: Session) -> Active | None:
            row = session.get(WebSession, key)
            if row is None:
                return None
            if (why := why_over(row, now, self.limits)) is not None:
                if row.ended_at is None:
                    _end(session, [key], now, why)
                return None
            if touch_due(row.last_seen, now):
                session.execute(
                    update(WebSession)
                    .where(col(WebSession.token_hash) == key)
                    .values(last_seen=now)
                )
                session.commit()
            return Active(row.user, row.name)

        return await self.store.call(work)

    async def end(self, token: str, why: str) -> bool:
        """End one session (sign-out, removal from the roles); False if it had ended."""
        key, now = token_hash(token), self.clock()
        return await self.store.call(lambda session: _end(session, [key], now, why) > 0)

    async def end_user(self, user: str, why: str = REVOKED) -> int:
        """End every live session of ``user``; how many there were."""
        now = self.clock()

        def work(session: Session) -> int:
            result = session.execute(
                update(WebSession)
                .where(col(WebSession.user) == user, col(WebSession.ended_at).is_(None))
                .values(ended_at=now, ended_why=why)
            )
            session.commit()
            return int(getattr(result, "rowcount", 0) or 0)

        return await self.store.call(work)

    async def listing(self, *, ended: bool = False) -> list[Listed]:
        """Live sessions, most recently seen first; with ``ended``, the kept ended ones too
        (a session past a limit shows as ended with that reason)."""
        now = self.clock()

        def work(session: Session) -> list[Listed]:
            rows = session.exec(select(WebSession).order_by(col(WebSession.last_seen).desc()))
            found = []
            for row in rows:
                why = why_over(row, now, self.limits)
                if why is not None and not ended:
                    continue
                found.append(
                    Listed(
                        key=row.token_hash[:12],
                        user=row.user,
                        name=row.name,
                        created_at=as_utc(row.created_at),
                        last_seen=as_utc(row.last_seen),
                        ended_at=as_utc(row.ended_at) if row.ended_at else None,
                        ended_why=why,
                    )
                )
            return found

        return await self.store.call(work)


def _end(session: Session, keys: list[str], now: datetime, why: str) -> int:
    """Mark live sessions ended (one that ended already keeps its first reason)."""
    result = session.execute(
        update(WebSession)
        .where(col(WebSession.token_hash).in_(keys), col(WebSession.ended_at).is_(None))
        .values(ended_at=now, ended_why=why[:64])
    )
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)
