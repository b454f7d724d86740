"""Cancelling runs: the part of the run manager that stops a run executing here (and
shows it in Slack), records a cancel for the process that executes it elsewhere, and
follows the cancels other processes recorded for runs executing here."""

from __future__ import annotations

import asyncio
import logging

from bot.engine.runner import Engine
from bot.gate.actions import Gate
from bot.slack.publisher import ThreadPublisher
from bot.slack.run_threads import ThreadOpening
from bot.slack.state import RunState
from bot.store.faults import cause, is_database_fault
from bot.store.models import RunStatus

log = logging.getLogger(__name__)


class Cancelling(ThreadOpening):
    """What :class:`bot.slack.runs.RunManager` holds, as far as cancels need."""

    gate: Gate | None
    telling: set[asyncio.Task[None]]

    async def follow_cancel_requests(self) -> list[int]:
        """Cancel the runs executing here that someone asked another process to cancel.
        Returns once they are stopped (recorded cancelled); telling Slack goes on in the
        background, since it waits on the channel's pace (a second or more a message) and
        the next request, on this loop, must not wait behind it."""
        requests = await self.leases.take_cancel_requests(list(self.tasks))
        for run_id, user in requests.items():
            log.info("run %s: cancel requested by %s", run_id, user)
            if (publisher := await self._stop_cancelled(run_id, user)) is not None:
                telling = asyncio.create_task(self._tell_cancelled_later(run_id, publisher, user))
                self.telling.add(telling)
                telling.add_done_callback(self.telling.discard)
        return list(requests)

    async def request_cancel(self, run_id: int, user: str) -> bool:
        """Record a cancel for the process that executes the run (another replica or a
        worker); False when the run is no longer running."""
        return await self.leases.request_cancel(run_id, user)

    async def cancel(self, run_id: int, user: str) -> bool:
        """Stop a running run and show it; False when it is not running here."""
        publisher = await self._stop_cancelled(run_id, user)
        if publisher is None:
            return False
        await self._tell_cancelled(run_id, publisher, user)
        return True

    async def _stop_cancelled(self, run_id: int, user: str) -> ThreadPublisher | None:
        """Cancel the run's task and wait for it (the engine records the run cancelled);
        its publisher, or None when it was not running here or finished just before."""
        task = self.tasks.get(run_id)
        if task is None:
            return None
        if (engine := self.engines.get(run_id)) is not None:
            engine.cancelled_by = user  # for the audit trail
        task.cancel()
        await asyncio.wait([task])
        return self.publishers.pop(run_id, None)

    async def _tell_cancelled(self, run_id: int, publisher: ThreadPublisher, user: str) -> None:
        await publisher.cancelled(user)
        if self.gate is not None:
            await self.gate.refresh(run_id)

    async def _tell_cancelled_later(
        self, run_id: int, publisher: ThreadPublisher, user: str
    ) -> None:
        """:meth:`_tell_cancelled` on a task of its own: a failure is logged here, since
        nobody awaits it."""
        try:
            await self._tell_cancelled(run_id, publisher, user)
        except Exception as exc:
            if not is_database_fault(exc):
                log.exception("run %s: showing its cancel failed", run_id)
                return
            log.warning(
                "run %s: its cancel is not shown, the database failed (%s)", run_id, cause(exc)
            )

    async def stop(self, run_id: int, user: str) -> None:
        """Stop a run's checks wherever they execute (a superseded run): here at once,
        elsewhere through a cancel request its owner follows."""
        if not await self.cancel(run_id, user):
            await self.request_cancel(run_id, user)

    async def _cancel_unstarted(
        self, run_id: int, engine: Engine, state: RunState, channel: str, user: str
    ) -> None:
        """A claimed run someone cancelled before any process began it: end it unrun."""
        run = await self.store.get_run(run_id)
        generation = run.generation if run else 1
        publisher = self._open(engine, state, channel, generation)
        await self.store.finish_run(run_id, RunStatus.CANCELLED, actor=user)
        await publisher.cancelled(user)
        await self.leases.release(run_id)
        if self.gate is not None:
            await self.gate.refresh(run_id)
