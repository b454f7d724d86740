"""Group commit of the engine's check writes (a check running, a check's result).

A commit per write cost each check two transactions and two worker-thread hops, more
than its request to a nearby service (bench/engine.py). Writes are queued instead and
one worker thread commits whatever is queued in one transaction, again and again while
more arrives: checks that finish together are recorded together. A caller that awaits
its write returns only once that transaction has committed, so a result is still stored
before it is announced; a write queued without waiting (the "running" mark of a check
that is safe to repeat) is committed in order before any later write. The writer lets
a batch gather for :data:`GATHER` before it takes it, and a write may leave work for
the end of its transaction (:func:`before_commit`): the check writes of a batch are
made there together, a statement for all (bot/store/marks.py).

A batch that fails for a reason of one write (a lost lease, a missing check) is written
again one write a transaction, so each write meets its own outcome; a database fault
fails them all, as it would have failed each."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from bot.store.audit import HEAD_KEPT, write_kept
from bot.store.faults import cause, is_database_fault
from bot.store.pipeline import pipelined

log = logging.getLogger(__name__)

Write = Callable[[Session], None]
"""Changes made in the caller's transaction; the group commits."""


GATHER = 0.05
"""Seconds the writer lets a batch gather before it takes it: a transaction's own cost (a
session, the trail's lock and head, the commit: a millisecond or two of CPU, and five
round trips on PostgreSQL) is the same however few writes it carries, and checks of a
nearby service end one every millisecond or so; the first write waits this long for the
next ones, unless a write says nothing else is coming (``hurry``: the last check of a
stage's batch). The checks do not wait for it: a check's slot is free before its result
is written. 50 ms, not 20: a run of 200 nearby checks made 4 batches, not 8, about 13 ms
less CPU on either database (bench/engine.py), and a result is still shown well within
a person's notice; the ack path does not gather (its writes commit alone)."""

SOON = 0.1
"""Seconds a write nobody waits for may wait for company: a check that ends sooner has
its "running" mark replaced by its result, in one transaction."""
_BEFORE_COMMIT = "preprod_before_commit"
"""A ``session.info`` key: what :func:`commit_writes` runs once the writes are made."""


@dataclass
class _Pending:
    write: Write
    what: str
    """For the log, when a write nobody waits for fails."""
    key: Hashable
    """A later write with the same key in the same batch replaces a queued ``soon`` one."""
    waited: bool
    waiter: asyncio.Future[None] | None = None
    """The caller's future, on its event loop (None: nobody waits)."""
    settled: bool = False
    error: Exception | None = None
    queued_at: float = field(default_factory=time.monotonic)
    """When it was queued: the batch is taken once its first waited write has waited
    :data:`GATHER`."""


class GroupCommit:
    """One queue of writes per database, committed in batches by one thread at a time."""

    def __init__(
        self, engine: Engine, gather: float | None = None, info: dict[str, Any] | None = None
    ) -> None:
        """``info``: given to each batch's session (the store's clock, say)."""
        self._engine = engine
        self._gather = GATHER if gather is None else gather
        self._info = info or {}
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._draining = False
        self._hurried = threading.Event()
        """Set by a write that says nothing else is coming: take the queue now."""
        self._soon: tuple[asyncio.AbstractEventLoop, asyncio.TimerHandle] | None = None
        """The timer that starts a drainer for the writes nobody waits for: one at a time
        (a check's "running" mark is one such write; a timer each was a heap entry each)."""
        self._held = threading.local()
        """``connection``: the drain's, on the drainer's thread (a drainer that just
        ended may still be giving its back when the next one starts on another)."""

    async def write(
        self, write: Write, what: str, key: Hashable = None, hurry: bool = False
    ) -> None:
        """Queue ``write`` and return once it is committed (raise what it raised).
        ``hurry``: nothing else is coming soon; the batch is taken without gathering."""
        waiter = asyncio.get_running_loop().create_future()
        self._queue_write(_Pending(write, what, key, waited=True, waiter=waiter), start=False)
        if hurry:
            self._hurried.set()
        self._start()
        # A cancelled caller's write is committed all the same (as a write begun in a
        # worker thread always was): the queue holds it; its cancelled future is skipped.
        await waiter

    def write_soon(self, write: Write, what: str, key: Hashable = None) -> None:
        """Queue ``write`` without waiting: committed within :data:`SOON` seconds, in
        order before any later write, unless a later write of the same ``key`` comes
        first and replaces it (a failure is logged)."""
        self._queue_write(_Pending(write, what, key, waited=False), start=False)
        loop = asyncio.get_running_loop()
        soon = self._soon  # a timer due later on this loop starts a drainer soon enough
        if soon is None or soon[0] is not loop or soon[1].when() <= loop.time():
            self._soon = (loop, loop.call_later(SOON, self._start))

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
        """Commit batches until the queue is empty (in a worker thread; one at a time),
        each once its first waited write has waited :data:`GATHER` for company. The
        batches of one drain share a connection: checked out (and pinged) once, not
        once a batch; one a write failed on is given back and the next batch takes
        another."""
        try:
            self._drain_batches()
        finally:
            self._release()

    def _drain_batches(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                waited = (p.queued_at for p in self._queue if p.waited)
                pause = min(waited, default=now - self._gather) + self._gather - now
                if self._hurried.is_set():
                    self._hurried.clear()
                    pause = 0
                if pause <= 0:
                    batch, self._queue = _replace(self._queue), []
                    if not batch:
                        self._draining = False
                        return
            if pause > 0:
                self._hurried.wait(pause)  # in the worker thread: the event loop runs on
                continue
            try:
                self._commit(batch)
            except BaseException:
                for pending in batch:
                    self._settle(pending, RuntimeError("the database writer stopped"))
                self._stop(RuntimeError("the database writer stopped"))
                raise
            finally:
                _wake(batch)

    def _stop(self, error: Exception) -> None:
        """Fail whatever is queued and let the next write start a drainer afresh."""
        with self._lock:
            left, self._queue, self._draining = self._queue, [], False
        for pending in left:
            self._settle(pending, error)
        _wake(left)

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
        connection: Connection | None = getattr(self._held, "connection", None)
        if connection is None:
            connection = self._held.connection = self._engine.connect()
        try:
            with Session(connection, expire_on_commit=False, info=self._info) as session:
                commit_writes(session, [pending.write for pending in batch], connection)
        except BaseException:
            self._release()  # whatever the failure left of it: the next batch takes another
            raise

    def _release(self) -> None:
        """Give the drain's connection back to the pool (closed, if it broke)."""
        connection: Connection | None = getattr(self._held, "connection", None)
        self._held.connection = None
        if connection is not None:
            with contextlib.suppress(Exception):  # a broken one: the pool discards it
                connection.close()

    @staticmethod
    def _settle(pending: _Pending, error: Exception | None) -> None:
        """Its outcome (the first one given stands); its caller learns it in :func:`_wake`."""
        if pending.settled:
            return
        if error is not None and not pending.waited:
            log.warning("%s was not stored: %s", pending.what, cause(error))
        pending.settled, pending.error = True, error


def _wake(batch: list[_Pending]) -> None:
    """Tell the callers waiting on ``batch`` their outcomes: one call into each event
    loop a batch, not one a write (each such call wakes the loop through its pipe)."""
    loops: dict[asyncio.AbstractEventLoop, list[_Pending]] = {}
    for pending in batch:
        if pending.waiter is not None and pending.settled:
            loops.setdefault(pending.waiter.get_loop(), []).append(pending)
    for loop, waiting in loops.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is left waiting
            loop.call_soon_threadsafe(_resolve, waiting)


def _resolve(waiting: list[_Pending]) -> None:
    for pending in waiting:
        assert pending.waiter is not None
        if pending.waiter.done():
            continue
        if pending.error is None:
            pending.waiter.set_result(None)
        else:
            pending.waiter.set_exception(pending.error)


def commit_writes(session: Session, writes: list[Write], held: Connection | None = None) -> None:
    """Make ``writes`` in the session's transaction and commit them: the way every
    :data:`Write` is committed, in a batch or alone (their audit events are inserted
    together before the commit, bot/store/audit.py ``append_kept``). ``held``: the
    connection the session is bound to, which stays the caller's after the commit;
    the events and the commit are then sent together (a session of the engine's
    gives its connection back at the commit, before a pipeline could end)."""
    session.info[HEAD_KEPT] = None  # one transaction, one commit: keep the head
    for write in writes:
        write(session)
    for finish in session.info.pop(_BEFORE_COMMIT, []):
        finish(session)
    if not held:
        write_kept(session)
        session.commit()
        return
    with pipelined(held):  # the events and the commit: one round trip
        write_kept(session)
        session.commit()


def before_commit(session: Session, finish: Write) -> None:
    """Have :func:`commit_writes` run ``finish`` once the transaction's writes are made
    (before its audit events are inserted and it commits): for writes that are cheaper
    made together, once a transaction. Registered once; run in the order registered."""
    waiting: list[Write] = session.info.setdefault(_BEFORE_COMMIT, [])
    if finish not in waiting:
        waiting.append(finish)


def _replace(batch: list[_Pending]) -> list[_Pending]:
    """The batch without the ``soon`` writes a later write of the same key replaces
    (settled as done: what they would have written is superseded)."""
    kept: list[_Pending] = []
    later: set[Hashable] = set()
    for pending in reversed(batch):
        if not pending.waited and pending.key is not None and pending.key in later:
            pending.settled = True  # nobody waits for it: nothing to wake
            continue
        later.add(pending.key)
        kept.append(pending)
    return kept[::-1]
