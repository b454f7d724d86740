"""When the database fails: which errors mean "unavailable", the bounds of the database
calls made before Slack's ack, and the one-line cause for the log.

A Slack request must be answered within 3 s even when the database is stopped, full or
hung. The ack path therefore runs its database calls under :func:`answering`: a deadline
(a context variable, so the worker threads of ``RunStore.call`` see it too) that

- bounds every statement of a call that writes on PostgreSQL (``SET LOCAL
  statement_timeout`` at the start of each transaction, the time left); a call that
  only reads (``RunStore.read``: ``status``, ``list``) sets none, a round trip fewer:
  a read takes no row lock to wait on, and the wait for it is cut all the same,
- refuses to begin a transaction or commit once the deadline (less a margin) has passed,
  so a call that was stuck on a hung database and wakes up after the person was told
  "nothing was recorded" records nothing, and
- cuts the wait itself (``asyncio.timeout``), so the answer is not late even when a
  worker thread is stuck in a socket read.

Connections are bounded separately (``Timeouts``: connect and pool checkout)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa
from sqlmodel import Session

COMMIT_MARGIN = 0.3
"""Seconds before the deadline after which a commit is refused: a commit that starts
later might land after the person was told nothing was recorded."""


class DeadlinePassed(sa.OperationalError):
    """The ack path's time is up: this transaction is not begun or not committed."""

    def __init__(self, what: str) -> None:
        super().__init__(what, None, Exception(f"the ack deadline passed before the {what}"))


DATABASE_FAULTS: tuple[type[BaseException], ...] = (
    sa.OperationalError,  # refused, closed, disk full, read-only, statement timeout, locked
    sa.InterfaceError,
    sa.TimeoutError,  # the pool had no connection within pool_timeout
    sa.DisconnectionError,
)
"""The errors that mean the database is unavailable (not a bug, not bad input)."""


def is_database_fault(exc: BaseException) -> bool:
    """Whether ``exc`` (or, for an exception group, every part of it) is the database
    being unavailable."""
    if isinstance(exc, BaseExceptionGroup):
        return all(is_database_fault(part) for part in exc.exceptions)
    if isinstance(exc, sa.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, DATABASE_FAULTS)


def cause(exc: BaseException) -> str:
    """The cause in one short line (no traceback, no SQL): for the log."""
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return cause(exc.exceptions[0])
    if isinstance(exc, TimeoutError):
        return "no answer within the ack deadline"
    inner = getattr(exc, "orig", None) or exc
    text = " ".join(str(inner).split())
    return f"{type(inner).__name__}: {text[:200]}" if text else type(inner).__name__


@dataclass(frozen=True)
class Timeouts:
    """Bounds of every connection (``PREPROD_DB_*`` settings, bot/settings.py)."""

    connect: float = 2.0
    """Seconds to open a connection (PostgreSQL ``connect_timeout``, at least 1)."""
    pool: float = 2.0
    """Seconds to wait for a pooled connection (SQLAlchemy ``pool_timeout``)."""
    sqlite_busy: float = 30.0
    """Seconds SQLite waits for another writer's lock (its ``timeout``)."""


_DEADLINE: ContextVar[float | None] = ContextVar("preprod_ack_deadline", default=None)


def has_deadline() -> bool:
    """Whether the calling context answers a request (inside :func:`answering`)."""
    return _DEADLINE.get() is not None


@dataclass
class _Arrival:
    at: float
    answered: bool = False


_ARRIVAL: ContextVar[_Arrival | None] = ContextVar("preprod_request_arrival", default=None)


@contextmanager
def request_started() -> Iterator[None]:
    """A request arrived now: every :func:`answering` inside counts from here, so the
    replay guard's claim and the handler's work share one budget. Once it is answered,
    work it left running in the background (which inherits this context) counts from
    its own start again."""
    arrival = _Arrival(time.monotonic())
    token = _ARRIVAL.set(arrival)
    try:
        yield
    finally:
        arrival.answered = True
        _ARRIVAL.reset(token)


@asynccontextmanager
async def answering(seconds: float) -> AsyncIterator[None]:
    """The database calls inside end within ``seconds`` of the request's arrival (else
    TimeoutError), and none of them commits after that less :data:`COMMIT_MARGIN`."""
    now = time.monotonic()
    arrival = _ARRIVAL.get()
    deadline = (arrival.at if arrival and not arrival.answered else now) + seconds
    token = _DEADLINE.set(deadline)
    try:
        async with asyncio.timeout(max(0.0, deadline - now)):
            yield
    finally:
        _DEADLINE.reset(token)


def ack_deadline() -> float | None:
    """The caller's ack deadline (``time.monotonic()`` seconds), if it is on the ack path."""
    return _DEADLINE.get()


@contextmanager
def deadline_at(deadline: float | None) -> Iterator[None]:
    """The calls inside are bound by ``deadline`` (work done for several callers at
    once, bot/store/seen.py: the earliest of theirs)."""
    token = _DEADLINE.set(deadline)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def on_ack_path() -> bool:
    """Whether the caller is inside :func:`answering` (its calls go to the ack lane,
    bot/store/lanes.py)."""
    return _DEADLINE.get() is not None


def time_left(deadline: float, what: str) -> float:
    """Seconds the ack path may still spend before ``what``, :data:`COMMIT_MARGIN` kept
    back; :class:`DeadlinePassed` when there are none."""
    seconds = deadline - COMMIT_MARGIN - time.monotonic()
    if seconds <= 0:
        raise DeadlinePassed(what)
    return seconds


_BOUND = "preprod_ack_bound"
"""A ``session.info`` key: ``(deadline, postgres)`` of a session :func:`bound` binds."""


def bound(session: Session, postgres: bool) -> None:
    """Bind ``session`` (in a worker thread) to the ack deadline, when there is one;
    ``postgres``: with a statement timeout (False for SQLite, and for reads). The
    listeners are the Session class's, registered once: listening on each session
    anew cost more CPU than the ``start`` transaction's statements."""
    deadline = _DEADLINE.get()
    if deadline is not None:
        session.info[_BOUND] = (deadline, postgres)


@event.listens_for(Session, "after_begin")
def _on_begin(session: Session, _transaction: Any, connection: Any) -> None:
    if (bound_to := session.info.get(_BOUND)) is None:
        return
    deadline, postgres = bound_to
    milliseconds = max(1, int(time_left(deadline, "transaction") * 1000))
    if postgres:
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = {milliseconds}")


@event.listens_for(Session, "before_commit")
def _on_commit(session: Session) -> None:
    if (bound_to := session.info.get(_BOUND)) is not None:
        time_left(bound_to[0], "commit")
