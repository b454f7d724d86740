"""Which database the store uses and how it connects: the URL (``--database``,
``$DATABASE_URL`` or the SQLite file under ``.preprod``) and the SQLAlchemy engine,
bounded so a stopped database answers in seconds, SQLite in WAL mode."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import create_engine

from bot.store.faults import Timeouts

DATABASE_ENV = "DATABASE_URL"
DEFAULT_DATABASE = "sqlite:///.preprod/preprod.db"


def database_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get(DATABASE_ENV) or DEFAULT_DATABASE


def make_engine(url: str, timeouts: Timeouts | None = None) -> Engine:
    """The engine, its connections bounded by ``timeouts`` (bot/store/faults.py): a
    stopped or hung database answers with an error in seconds, not never."""
    bounds = timeouts or Timeouts()
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"check_same_thread": False, "timeout": bounds.sqlite_busy}
        engine = create_engine(url, connect_args=connect_args, pool_timeout=bounds.pool)
        event.listen(engine, "connect", _sqlite_pragmas)
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
    return create_engine(url, pool_pre_ping=True, pool_timeout=bounds.pool, connect_args=connect)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode, NORMAL syncs at checkpoints rather than at every commit: a commit
    # survives a crash or kill of any process (what the bot must survive) and only an
    # OS crash or power cut can roll the newest ones back. PostgreSQL for more.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
