"""Pipelines waiting on a run's decision (``GET /api/v1/runs/{id}?wait=S``), without a
thread each: every waiter is an asyncio future.

Two things wake them: the gate's own events in this process (``RunDecided``,
``PanelChanged``: the decision carried by the view), and ONE poller task per process
that, while anyone waits, reads the recorded decisions of every waited run in one
query about once a second (a decision taken on another replica). The poller stops when
the last waiter leaves."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from bot.gate.events import GateEvent
from bot.store.requests import Requests

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
POLL_EVERY = 1.0
MAX_WAIT = 60
"""Seconds a request may wait at most (``?wait=``)."""


class Waiters:
    def __init__(self, requests: Requests, poll_every: float = POLL_EVERY) -> None:
        self.requests = requests
        self.poll_every = poll_every
        self.waiting: defaultdict[int, dict[asyncio.Future[str], str]] = defaultdict(dict)
        """Per run: each waiter's future and the decision it saw when it began."""
        self.poller: asyncio.Task[None] | None = None
        self.polls = 0
        """Queries the poller made (the tests and the bench read it)."""

    def count(self) -> int:
        return sum(len(futures) for futures in self.waiting.values())

    async def __call__(self, event: GateEvent) -> None:
        """A gate listener: wake the waiters of the run whose decision changed."""
        self.wake(event.view.run_id, event.view.decision.outcome.value)

    def wake(self, run_id: int, decision: str) -> None:
        for future, seen in list(self.waiting.get(run_id, {}).items()):
            if decision != seen and not future.done():
                future.set_result(decision)

    async def wait(self, run_id: int, seen: str, seconds: float) -> str | None:
        """Wait until run ``run_id``'s decision is no longer ``seen`` (the new one) or
        ``seconds`` pass (None)."""
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.waiting[run_id][future] = seen
        self._ensure_poller()
        try:
            async with asyncio.timeout(seconds):
                return await future
        except TimeoutError:
            return None
        finally:
            mine = self.waiting.get(run_id)
            if mine is not None:
                mine.pop(future, None)
                if not mine:
                    del self.waiting[run_id]

    def _ensure_poller(self) -> None:
        if self.poller is None or self.poller.done():
            self.poller = asyncio.create_task(self._poll())

    async def _poll(self) -> None:
        while self.waiting:
            await asyncio.sleep(self.poll_every)
            if not self.waiting:
                break
            try:
                found = await self.requests.outcomes(list(self.waiting))
                self.polls += 1
            except Exception:
                log.exception("reading the waited runs' decisions failed; trying again")
                continue
            for run_id, (outcome, _) in found.items():
                self.wake(run_id, outcome)

    async def aclose(self) -> None:
        if self.poller is not None:
            self.poller.cancel()
            await asyncio.gather(self.poller, return_exceptions=True)


class Shared(Generic[K, V]):
    """Concurrent reads of one key share the one read in flight: a crowd of pipelines
    polling one run (or using one token) costs one database read, not one each (500
    waiters re-polling at once queued 500 x a handful of reads ahead of the deciding
    click). A read joined is never older than the moment it started, within a request's
    own round trip of the one that asked first."""

    def __init__(self) -> None:
        self.flying: dict[K, asyncio.Future[V]] = {}
        self.reads = 0
        """Reads actually made (the tests read it)."""

    async def __call__(self, key: K, read: Callable[[], Awaitable[V]]) -> V:
        task = self.flying.get(key)
        if task is None:
            self.reads += 1
            task = asyncio.ensure_future(read())
            self.flying[key] = task
            task.add_done_callback(lambda done: self._landed(key, done))
        return await asyncio.shield(task)

    def _landed(self, key: K, task: asyncio.Future[V]) -> None:
        if self.flying.get(key) is task:
            del self.flying[key]
        if not task.cancelled():
            task.exception()  # retrieved: each sharer gets it from its own await
