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

from bot.gate.events import GateEvent
from bot.store.requests import Requests

log = logging.getLogger(__name__)

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
