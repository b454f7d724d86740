"""One SQLite writer at a time in this process, and the ack path's first.

SQLite lets one connection write at a time. A second writer in the same process used to
meet the lock in SQLite's busy handler, which sleeps 1, 2, 5, 10, 15, 20... ms between
tries whatever happens meanwhile: behind the runs' writes (results, audit events,
outbox), a ``start``'s replay-guard claim and run insert slept tens of milliseconds with
the database idle half the time. Here each writing connection takes this process's turn
before its first write and gives it back at commit or rollback: a waiter wakes the moment
the turn is free, and a waiter on the ack path (bot/store/faults.py ``on_ack_path``)
goes before the others. Across processes (workers, replicas on one host, the command
line), the process's turn is also the file's (bot/store/file_turn.py).

Only writes take the turn: reads in WAL mode never wait for a writer."""

from __future__ import annotations

import re
import threading
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from bot.store.faults import DeadlinePassed, ack_deadline, on_ack_path, time_left
from bot.store.file_turn import FileTurn, Tried

_WAITING = "waiting for the database's writer"
YIELD_S = 0.0005
"""How long a writer that gave way to an ack's write waits before it queues again."""
_WRITES = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER)\b", re.IGNORECASE)


class WriterTurn:
    """The process's one turn to write, ack-path waiters first."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._holder: object | None = None
        self._urgent = 0
        """Ack-path waiters: while there are any, the others wait."""

    def take(self, holder: object, *, urgent: bool, timeout: float | None) -> bool:
        """Wait for the turn (at most ``timeout`` seconds); whether ``holder`` has it."""
        with self._changed:
            if urgent:
                self._urgent += 1
            try:
                free = self._changed.wait_for(
                    lambda: self._holder is None and (urgent or self._urgent == 0), timeout
                )
                if free:
                    self._holder = holder
                return free
            finally:
                if urgent:
                    self._urgent -= 1
                    if not self._urgent:
                        self._changed.notify_all()

    def give_back(self, holder: object) -> None:
        with self._changed:
            if self._holder is holder:
                self._holder = None
                self._changed.notify_all()

    def holder(self) -> object | None:
        return self._holder


def _take_both(
    turn: WriterTurn, shared: FileTurn | None, holder: object, urgent: bool, until: float
) -> bool:
    """The process's turn, then the file's, before ``until``. A writer off the ack path
    gives both back while an ack's write waits for the file's (in this process or
    another), and queues again behind it."""
    while True:
        if not turn.take(holder, urgent=urgent, timeout=until - time.monotonic()):
            return False
        if shared is None:
            return True
        tried = shared.take(until - time.monotonic(), give_way=not urgent)
        if tried is Tried.TAKEN:
            return True
        turn.give_back(holder)
        if tried is Tried.TIMED_OUT:
            return False
        time.sleep(YIELD_S)


def take_turns(engine: Engine, busy_timeout: float, database: Path | None = None) -> WriterTurn:
    """Make ``engine``'s (SQLite) connections take :class:`WriterTurn` before writing
    and give it back once their commit or rollback is done; a wait longer than
    ``busy_timeout`` (or past the ack deadline) fails as SQLite's own lock would have.
    With the ``database`` file, the turn is also the file's, across processes."""
    turn = WriterTurn()
    shared = FileTurn(database) if database is not None else None
    dialect = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def before_execute(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        dbapi = conn.connection.dbapi_connection
        if turn.holder() is dbapi or not _WRITES.match(statement):
            return
        deadline = ack_deadline()
        timeout = busy_timeout
        if deadline is not None:
            timeout = min(timeout, time_left(deadline, _WAITING))
        urgent = on_ack_path()
        until = time.monotonic() + timeout
        with shared.ack_waiting() if shared is not None and urgent else nullcontext():
            taken = _take_both(turn, shared, dbapi, urgent, until)
        if not taken:
            if deadline is not None:
                raise DeadlinePassed(_WAITING)
            raise OperationalError(statement, None, Exception("database is locked"))

    def give_back(dbapi: Any) -> None:
        if turn.holder() is dbapi:
            if shared is not None:
                shared.give_back()  # before the next writer of this process takes it
            turn.give_back(dbapi)

    def do_commit(dbapi: Any) -> None:
        try:
            commit(dbapi)
        finally:
            give_back(dbapi)

    def do_rollback(dbapi: Any) -> None:
        try:
            rollback(dbapi)
        finally:
            give_back(dbapi)

    def gone(dbapi: Any, *_: Any) -> None:  # returned or discarded without either
        give_back(dbapi)

    dialect.do_commit = do_commit  # type: ignore[method-assign,assignment]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign,assignment]
    event.listen(engine, "before_cursor_execute", before_execute)
    event.listen(engine.pool, "checkin", gone)
    event.listen(engine.pool, "invalidate", gone)
    return turn
