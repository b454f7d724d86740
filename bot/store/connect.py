"""Which database the store uses and how it connects: the URL (``--database``,
``$DATABASE_URL`` or the SQLite file under ``.preprod``) and the SQLAlchemy engine,
bounded so a stopped database answers in seconds, SQLite in WAL mode."""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, Engine
from sqlmodel import create_engine

from bot.store.faults import Timeouts
from bot.store.writer_turn import take_turns

DATABASE_ENV = "DATABASE_URL"
DEFAULT_DATABASE = "sqlite:///.preprod/preprod.db"


def database_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get(DATABASE_ENV) or DEFAULT_DATABASE


def make_engine(url: str, timeouts: Timeouts | None = None) -> Engine:
    """The engine, its connections bounded by ``timeouts`` (bot/store/faults.py): a
    stopped or hung database answers with an error in seconds, not never."""
    bounds = timeouts or Timeouts()
    if url.startswith("sqlite:///"):
        file = Path(url.removeprefix("sqlite:///").split("?")[0]).expanduser()
        file.parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"check_same_thread": False, "timeout": bounds.sqlite_busy}
        engine = create_engine(url, connect_args=connect_args, pool_timeout=bounds.pool)
        event.listen(engine, "connect", _sqlite_pragmas)
        shared = None if file.name in ("", ":memory:") else file  # the file's, across processes
        take_turns(engine, bounds.sqlite_busy, shared)  # one writer at a time, acks first
        return engine
    connect = {
        "connect_timeout": max(1, math.ceil(bounds.connect)),
        # A server gone from the network (no reset) is noticed in ~30 s, not hours:
        # otherwise a worker thread waits on its socket for as long as the kernel does.
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        "tcp_user_timeout": 30_000,
    }
    engine = create_engine(url, pool_timeout=bounds.pool, connect_args=connect)
    ping_when_idle(engine, PING_IDLE)
    return engine


@contextmanager
def binary_results(connection: Connection) -> Iterator[Connection]:
    """PostgreSQL sends the results of the statements run on ``connection`` within the
    block in its binary format (elsewhere, and on SQLite, nothing changes).

    SQLAlchemy's psycopg dialect reads every result as text, where a ``bytea`` travels as
    hex (twice its size) and is decoded back: the insights read a month of rollups' sorted
    durations, ~1.8 MB, in 17 ms as text and 7 ms as binary. psycopg gives the same Python
    values either way (bytes, dates, ints, datetimes, parsed JSON). The hook is this
    connection's alone, for the block: one on the engine, for every statement of the
    process, made serve's steady acks on PostgreSQL slower (p99 ratio 3.1-6.1 against
    2.0-3.1 without, `bench/ack_latency.py`, alternating runs)."""
    if connection.dialect.name != "postgresql":
        yield connection
        return
    event.listen(connection, "before_cursor_execute", _binary)
    try:
        yield connection
    finally:
        event.remove(connection, "before_cursor_execute", _binary)


def _binary(_conn: Any, cursor: Any, _sql: str, _params: Any, _context: Any, _many: bool) -> None:
    from psycopg import pq  # loaded already: this connection's driver

    cursor.format = pq.Format.BINARY


PING_IDLE = 2.0
"""Seconds a pooled connection may rest before it is pinged at its next checkout."""
_RETURNED = "preprod_returned_at"


def ping_when_idle(engine: Engine, idle: float) -> None:
    """Ping a pooled connection before use only when it rested ``idle`` seconds or more.

    ``pool_pre_ping`` sent a ``SELECT 1`` round trip before every call, a third of a
    short ack's round trips. A connection used within the last seconds is used as it is;
    one found dead then fails its call, which ``RunStore`` tries once more on a fresh
    connection when nothing was committed (bot/store/runs.py), and SQLAlchemy replaces
    the pool's other connections of before the failure. A quiet pool (a stopped and
    restarted server, typically) is pinged as before, so callers outside ``RunStore``
    (the group commit, the clock) keep that protection."""
    dialect = engine.dialect

    def checked_in(_dbapi: Any, record: Any) -> None:
        if record is not None:
            record.info[_RETURNED] = time.monotonic()

    def checked_out(dbapi: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get(_RETURNED)
        if returned is None or time.monotonic() - returned < idle:
            return  # fresh from connect, or in use a moment ago
        try:
            dialect.do_ping(dbapi)
        except dialect.loaded_dbapi.Error as error:
            record.info.pop(_RETURNED, None)
            raise exc.DisconnectionError(f"a pooled connection was dead: {error}") from error

    event.listen(engine.pool, "checkin", checked_in)
    event.listen(engine.pool, "checkout", checked_out)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode, NORMAL syncs at checkpoints rather than at every commit: a commit
    # survives a crash or kill of any process (what the bot must survive) and only an
    # OS crash or power cut can roll the newest ones back. PostgreSQL for more.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class _Commits(threading.local):
    count = 0


_COMMITS = _Commits()
"""Commits sent by this thread (every store's engine counts them), so a call knows
whether a failure came before anything of it could have been committed."""


def _counted_commit(_connection: Any) -> None:
    _COMMITS.count += 1


def count_commits(engine: Engine) -> None:
    """Count ``engine``'s commits in :func:`commits_sent` (counted as they are sent)."""
    event.listen(engine, "commit", _counted_commit)


def commits_sent() -> int:
    """How many commits this thread has sent so far (compare two readings)."""
    return _COMMITS.count


def retry_safe(error: exc.DBAPIError, commits: int) -> bool:
    """Whether a call that failed with ``error`` may run again on a fresh connection: the
    connection was found dead (a server restart or a killed backend: what a pre-ping
    caught) before the call sent a commit (``commits``: how many it sent), so the server
    kept none of it."""
    return bool(error.connection_invalidated) and commits == 0
