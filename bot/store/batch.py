"""Group commit of the engine's check writes (a check running, a check's result).

A commit per write cost each check two transactions and two worker-thread hops, more
than its request to a nearby service (bench/engine.py). Writes are queued instead and
one worker thread commits whatever is queued in one transaction, again and again while
more arrives: checks that finish together are recorded together. A caller that awaits
its write returns only once that transaction has committed, so a result is still stored
before it is announced; a write queued without waiting (the "running" mark of a check
that is safe to repeat) is committed in order before any later write.

A batch that fails for a reason of one write (a lost lease, a missing check) is written
again one write a transaction, so each write meets its own outcome; a database fault
fails them all, as it would have failed each."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.store.audit import HEAD_KEPT
from bot.store.faults import cause, is_database_fault

log = logging.getLogger(__name__)

Write = Callable[[Session], None]
"""Changes made in the caller's transaction; the group commits."""


SOON = 0.1
"""Seconds a write nobody waits for may wait for company: a check that ends sooner has
its "running" mark replaced by its result, in one transaction."""


@dataclass
class _Pending:
    write: Write
    what: str
    """For the log, when a write nobody waits for fails."""
    key: Hashable
    """A later write with the same key in the same batch replaces a queued ``soon`` one."""
    waited: bool
    done: Future[None] = field(default_factory=Future)


class GroupCommit:
    """One queue of writes per database, committed in batches by one thread at a time."""

    def __init__(self, engine: Engine, info: dict[str, Any] | None = None) -> None:
        """``info``: given to each batch's session (the store's clock, say)."""
        self._engine = engine
        self._info = info or {}
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._draining = False

    async def write(self, write: Write, what: str, key: Hashable = None) -> None:
        """Queue ``write`` and return once it is committed (raise what it raised)."""
        pending = _Pending(write, what, key, waited=True)
        self._queue_write(pending, start=True)
        # Shielded: a cancelled caller's write is committed all the same (as a write
        # begun in a worker thread always was), and the future stays the drainer's.
        await asyncio.shield(asyncio.wrap_future(pending.done))

    def write_soon(self, write: Write, what: str, key: Hashable = None) -> None:
        """Queue ``write`` without waiting: committed within :data:`SOON` seconds, in
        order before any later write, unless a later write of the same ``key`` comes
        first and replaces it (a failure is logged)."""
        self._queue_write(_Pending(write, what, key, waited=False), start=False)
        asyncio.get_running_loop().call_later(SOON, self._start)

    def _queue_write(self, pending: _Pending, *, start: bool) -> None:
        with self._lock:
            self._queue.append(pending)
        if start:
            self._start()

    def _start(self) -> None:
        """Start a drainer unless one runs (or nothing is queued)."""
        with self._lock:
            if self._draining or not self._queue:
                return
            self._draining = True
        try:
            asyncio.get_running_loop().run_in_executor(None, self._drain)
        except BaseException:  # no worker thread (the loop is closing): nothing drains
            self._stop(RuntimeError("the database writer could not start"))
            raise

    def _drain(self) -> None:
        """Commit batches until the queue is empty (in a worker thread; one at a time)."""
        while True:
            with self._lock:
                batch, self._queue = self._queue, []
                if not batch:
                    self._draining = False
                    return
            try:
                self._commit(_replace(batch))
            except BaseException:
                for pending in batch:
                    self._settle(pending, RuntimeError("the database writer stopped"))
                self._stop(RuntimeError("the database writer stopped"))
                raise

    def _stop(self, error: Exception) -> None:
        """Fail whatever is queued and let the next write start a drainer afresh."""
        with self._lock:
            left, self._queue, self._draining = self._queue, [], False
        for pending in left:
            self._settle(pending, error)

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            self._apply(batch)
        except Exception as exc:
            if len(batch) == 1 or is_database_fault(exc):
                for pending in batch:
                    self._settle(pending, exc)
                return
            for pending in batch:  # one write's problem: each meets its own outcome
                try:
                    self._apply([pending])
                except Exception as own:
                    self._settle(pending, own)
                else:
                    self._settle(pending, None)
            return
        for pending in batch:
            self._settle(pending, None)

    def _apply(self, batch: list[_Pending]) -> None:
        with Session(self._engine, expire_on_commit=False, info=self._info) as session:
            session.info[HEAD_KEPT] = None  # one transaction, one commit: keep the head
            for pending in batch:
                pending.write(session)
            session.commit()

    @staticmethod
    def _settle(pending: _Pending, error: Exception | None) -> None:
        if error is not None and not pending.waited:
            log.warning("%s was not stored: %s", pending.what, cause(error))
        if pending.done.done():
            return
        if error is None:
            pending.done.set_result(None)
        else:
            pending.done.set_exception(error)


def _replace(batch: list[_Pending]) -> list[_Pending]:
    """The batch without the ``soon`` writes a later write of the same key replaces
    (settled as done: what they would have written is superseded)."""
    kept: list[_Pending] = []
    later: set[Hashable] = set()
    for pending in reversed(batch):
        if not pending.waited and pending.key is not None and pending.key in later:
            pending.done.set_result(None)
            continue
        later.add(pending.key)
        kept.append(pending)
    return kept[::-1]
