"""The scheduler of ``preprod serve`` and ``preprod socket``: APScheduler's
``AsyncIOScheduler`` with cron triggers in the config's time zone (daylight-saving
changes are the trigger's business). Its jobs hold no state: each asks the database what
is due (bot/schedule/jobs.py, bot/schedule/checkpoints.py). On start-up the digest and
checkpoint jobs run once, so one missed while the bot was down is published if it is
still within ``schedule.misfire_grace``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.config.cron import cron_trigger
from bot.config.schema import Config
from bot.schedule.checkpoints import Checkpoints
from bot.schedule.jobs import Reminders, job_specs

log = logging.getLogger(__name__)
MINUTE_JOB_GRACE = 60
"""Seconds a late every-minute job may still run (the next one follows anyway)."""
SLOT_JOBS = ("digest", "checkpoint")
"""Jobs once per slot, which may run late within ``schedule.misfire_grace``."""


class ReminderScheduler:
    def __init__(
        self, config: Config, reminders: Reminders, checkpoints: Checkpoints | None = None
    ) -> None:
        self.config = config
        self.reminders = reminders
        self.checkpoints = checkpoints
        self.scheduler = AsyncIOScheduler(timezone=config.zone)
        self.catch_up: asyncio.Task[None] | None = None

    def jobs(self) -> dict[str, Callable[[], Awaitable[object]]]:
        work: dict[str, Callable[[], Awaitable[object]]] = {
            "digest": self.reminders.digest,
            "reminders": self.reminders.remind,
            "deadlines": self.reminders.expire,
        }
        if self.checkpoints is not None:
            work["checkpoint"] = self.checkpoints.publish
        return work

    def start(self) -> None:
        """Add the jobs and start; then the start-up digest (inside a running loop)."""
        work = self.jobs()
        for spec in job_specs(self.config):
            if spec.name not in work:
                continue
            grace = self.config.schedule.misfire_grace if spec.name in SLOT_JOBS else None
            self.scheduler.add_job(
                _logged(spec.name, work[spec.name]),
                cron_trigger(spec.cron, self.config.zone),
                id=spec.name,
                name=spec.name,
                misfire_grace_time=int(grace or MINUTE_JOB_GRACE),
                coalesce=True,
                max_instances=1,
                replace_existing=True,
            )
        self.scheduler.start()
        self.catch_up = asyncio.create_task(self._start_up())

    async def _start_up(self) -> None:
        """What a slot job missed while the bot was down, if still within its grace."""
        await _logged("start-up digest", self.reminders.digest)()
        if self.checkpoints is not None:
            await _logged("start-up checkpoint", self.checkpoints.publish)()

    async def aclose(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.catch_up is not None:
            self.catch_up.cancel()


def _logged(
    what: str, job: Callable[[], Awaitable[object]]
) -> Callable[[], Coroutine[Any, Any, None]]:
    """A job whose failure is logged; the next fire time tries again."""

    async def run() -> None:
        try:
            result = await job()
        except Exception:
            log.exception("the %s job failed; it runs again at its next time", what)
        else:
            log.debug("the %s job: %s", what, result)

    return run
