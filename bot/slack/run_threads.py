"""Opening a run's thread without holding the run up: the part of the run manager that
starts a thread's publisher, tells how its first try went, and what follows from it (a
run left to the workers, a run the channel refuses stopped)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from bot.engine.runner import Engine
from bot.slack.client import SlackClient
from bot.slack.coalesce import Coalescer, MessageKey
from bot.slack.opening import opening_reply
from bot.slack.outbox import Outbox, gone_for_good
from bot.slack.publisher import Note, ThreadPublisher
from bot.slack.state import RunState
from bot.slack.text import Mrkdwn
from bot.store.faults import cause, is_database_fault
from bot.store.leases import Leases
from bot.store.models import RunStatus
from bot.store.runs import RunStore

log = logging.getLogger(__name__)

HANDOFF_S = 1.0
"""How long a process that executes no run keeps a new run before the workers get it
while its thread has not opened yet."""
OPEN_PATIENCE_S = 10.0
"""How long the requester's follow-up waits for the thread's first try before saying that
Slack is failing (the client's own retries of a 5xx or a 429 take seconds, more than this
in an outage)."""


class ThreadOpening:
    """What :class:`bot.slack.runs.RunManager` holds, as far as opening threads needs."""

    slack: SlackClient
    store: RunStore
    leases: Leases
    coalescer: Coalescer[MessageKey]
    tasks: dict[int, asyncio.Task[None]]
    engines: dict[int, Engine]
    publishers: dict[int, ThreadPublisher]
    opening: set[int]

    async def _leave_to_workers(
        self, run_id: int, publisher: ThreadPublisher, where: str
    ) -> tuple[Mrkdwn, bool] | None:
        """Release a run to the workers once its thread opened, or after
        :data:`HANDOFF_S` while Slack is slow or failing (the worker that claims it opens
        the owed thread): Slack never holds a run up. What the requester is told."""
        first = asyncio.ensure_future(self._first_try(run_id, publisher))
        done, _ = await asyncio.wait([first], timeout=HANDOFF_S)
        if not done:
            await self.leases.release(run_id)  # a worker claims it at its next poll
        told = opening_reply(where, await first)
        # opened: nothing is queued; not opened: the worker opens it, unhindered by claims
        await (publisher.close() if told is None else publisher.abandon())
        stopped = told is not None and told[1]
        if stopped and done:
            await self._stop_unthreaded(run_id, publisher)  # which releases it
        elif stopped:  # a worker may execute it already: it stops it
            await self.leases.request_cancel(run_id, "preprod")
        elif done:  # (not done: released above, once; a second UPDATE would match nothing)
            await self.leases.release(run_id)
        return told

    async def _first_try(self, run_id: int, publisher: ThreadPublisher) -> BaseException | None:
        """How the first try to open a run's thread went, waiting at most
        :data:`OPEN_PATIENCE_S`; logged when it failed."""
        try:
            problem = await asyncio.wait_for(publisher.opened(), OPEN_PATIENCE_S)
        except TimeoutError:
            problem = TimeoutError(f"no answer from Slack in {OPEN_PATIENCE_S:g}s")
        if problem is not None and is_database_fault(problem):
            log.warning(
                "run %s: the database is failing (%s); it goes on, its thread owed",
                run_id,
                cause(problem),
            )
        elif problem is not None and not gone_for_good(problem):
            log.warning(
                "run %s: Slack is failing (%s); it goes on, its thread owed", run_id, problem
            )
        return problem

    async def _stop_unthreaded(self, run_id: int, publisher: ThreadPublisher) -> None:
        """A run whose channel refuses its thread for good: stopped and FAILED (the
        requester is told to invite the bot and start again)."""
        log.error("run %s: its thread cannot be posted (%s); run FAILED", run_id, publisher.gone)
        task, engine = self.tasks.get(run_id), self.engines.get(run_id)
        if task is not None and engine is not None:
            engine.handing_over = True  # ended below as FAILED, not as cancelled
            task.cancel()
            await asyncio.wait([task])
        self.publishers.pop(run_id, None)
        await publisher.abandon()
        await self.store.finish_run(run_id, RunStatus.FAILED)
        await self.leases.release(run_id)

    def _open(
        self,
        engine: Engine,
        state: RunState,
        channel: str,
        generation: int,
        note: Note | None = None,
    ) -> ThreadPublisher:
        """A publisher listening to ``engine`` whose thread opens in the background (owed
        until Slack answers): the run never waits for Slack."""
        publisher = ThreadPublisher(
            self.slack, self.coalescer, self.store, state, channel, generation=generation
        )
        publisher.begin(note)
        engine.listeners.append(publisher)
        return publisher

    async def _owed_channel(self, run_id: int, fallback: str) -> str:
        """Where a run's thread is owed when it has none yet (its opener stopped while
        Slack failed): the channel its parent message was recorded for, else ``fallback``
        (the release channel)."""
        row = await Outbox(self.store, self.slack).rows.get(f"run:{run_id}:parent")
        return row.channel if row is not None else fallback

    @contextmanager
    def _opening(self, run_id: int) -> Iterator[None]:
        self.opening.add(run_id)
        try:
            yield
        finally:
            self.opening.discard(run_id)

    async def _still_ours(self, run_id: int, publisher: ThreadPublisher) -> bool:
        """Whether this process still holds the run once its thread is open; if another
        process took it meanwhile (this one stalled past the lease), it is left to it."""
        if run_id not in self.tasks and await self.leases.renew(run_id):
            return True
        log.warning("run %s: taken over while its thread was opened; left to its owner", run_id)
        await publisher.abandon()
        return False
