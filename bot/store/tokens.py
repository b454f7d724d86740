"""Pipeline tokens: what a deployment pipeline shows the API, and what it may touch.

A token is ``ppt_<id>_<secret>``: the id finds the row in one primary-key read, the
secret (32 random bytes, url-safe) is compared by its SHA-256, so a copy of the
database opens nothing. The service and environment patterns (fnmatch: ``checkout-*``,
``*``) bound what it may request and read. ``last_used_at`` is written at most once a
minute, so a busy pipeline costs no write per request. Creating and revoking a token
are audit events; so is every request it makes (through the run it starts)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from fnmatch import fnmatchcase

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.store.audit import Note, append
from bot.store.models import PipelineToken, as_utc, utcnow
from bot.store.runs import RunStore

PREFIX = "ppt_"
TOUCH_EVERY = timedelta(minutes=1)
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""A token's name: it is the actor ``token:NAME`` in the audit trail."""
PATTERN = re.compile(r"[A-Za-z0-9*?._/@+\[\]!-]{1,100}")
"""A service or environment pattern (fnmatch), as typed."""
_TOKEN = re.compile(r"ppt_([1-9][0-9]{0,9})_([A-Za-z0-9_-]{43,100})")


class TokenProblem(ValueError):
    """A token that cannot be created or revoked as asked (one line, for the CLI)."""


@dataclass(frozen=True)
class Scope:
    """What a token may request and read: the services and environments its patterns match."""

    service: str
    environment: str

    def allows(self, service: str, environment: str) -> bool:
        return fnmatchcase(service, self.service) and fnmatchcase(environment, self.environment)


@dataclass(frozen=True)
class Caller:
    """A live token's identity, as the API sees it."""

    id: int
    name: str
    scope: Scope

    @property
    def actor(self) -> str:
        """Who the audit trail and the run's requester name."""
        return f"token:{self.name}"


@dataclass(frozen=True)
class Listed:
    name: str
    service: str
    environment: str
    created_at: datetime
    created_by: str
    last_used_at: datetime | None
    revoked_at: datetime | None


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse(token: str) -> tuple[int, str] | None:
    """``(id, secret)`` of a well-formed token, else None (no database read for junk)."""
    found = _TOKEN.fullmatch(token)
    return (int(found[1]), found[2]) if found else None


def pattern_problem(what: str, value: str) -> str | None:
    if not PATTERN.fullmatch(value):
        return (
            f"the {what} pattern {value[:40]!r} may only contain letters, digits, "
            "`. _ - / @ +` and the wildcards `* ? [ ] !` (at most 100 characters)"
        )
    return None


class Tokens:
    """The ``pipelinetoken`` repository; ``clock`` is injectable for the touch's tests."""

    def __init__(self, store: RunStore, clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.clock = clock

    async def create(self, name: str, service: str, environment: str, by: str) -> str:
        """A new token; returns it whole (shown once, never stored)."""
        if not NAME.fullmatch(name):
            raise TokenProblem(
                f"the token name {name[:40]!r} may only contain letters, digits and "
                "`. _ -`, starting with a letter or digit (at most 64 characters)"
            )
        for what, value in (("service", service), ("environment", environment)):
            if problem := pattern_problem(what, value):
                raise TokenProblem(problem)
        secret = secrets.token_urlsafe(32)
        row = PipelineToken(
            name=name,
            service=service,
            environment=environment,
            hash=digest(secret),
            created_at=self.clock(),
            created_by=by[:64],
        )

        def work(session: Session) -> int:
            session.add(row)
            try:
                session.flush()
            except IntegrityError:
                session.rollback()
                raise TokenProblem(f"a token named {name!r} exists already") from None
            details = {"name": name, "service": service, "environment": environment}
            append(session, Note("token.created", by, None, details))
            session.commit()
            assert row.id is not None
            return row.id

        token_id = await self.store.call(work)
        return f"{PREFIX}{token_id}_{secret}"

    async def revoke(self, name: str, by: str) -> None:
        now = self.clock()

        def work(session: Session) -> None:
            row = session.exec(select(PipelineToken).where(PipelineToken.name == name)).first()
            if row is None:
                raise TokenProblem(f"no token named {name[:64]!r}")
            if row.revoked_at is not None:
                raise TokenProblem(f"the token {name!r} is revoked already")
            row.revoked_at = now
            session.add(row)
            append(session, Note("token.revoked", by, None, {"name": name}))
            session.commit()

        await self.store.call(work)

    async def listing(self) -> list[Listed]:
        def work(session: Session) -> list[Listed]:
            rows = session.exec(select(PipelineToken).order_by(col(PipelineToken.name)))
            return [
                Listed(
                    r.name,
                    r.service,
                    r.environment,
                    as_utc(r.created_at),
                    r.created_by,
                    as_utc(r.last_used_at) if r.last_used_at else None,
                    as_utc(r.revoked_at) if r.revoked_at else None,
                )
                for r in rows
            ]

        return await self.store.call(work)

    async def check(self, token: str) -> Caller | None:
        """The live token's caller, or None (malformed, unknown, wrong secret, revoked)."""
        parsed = parse(token)
        if parsed is None:
            return None
        token_id, secret = parsed
        now = self.clock()

        def work(session: Session) -> Caller | None:
            row = session.get(PipelineToken, token_id)
            if row is None or not hmac.compare_digest(row.hash, digest(secret)):
                return None
            if row.revoked_at is not None:
                return None
            if row.last_used_at is None or now - as_utc(row.last_used_at) > TOUCH_EVERY:
                session.execute(
                    update(PipelineToken)
                    .where(col(PipelineToken.id) == token_id)
                    .values(last_used_at=now)
                )
                session.commit()
            return Caller(token_id, row.name, Scope(row.service, row.environment))

        return await self.store.call(work)
