"""A stop that always ends, and ends cleanly when it can.

The first SIGTERM (or SIGINT) starts the graceful stop: no new work, acks in flight
answered, runs handed over (Locust killed, leases released) by ``Bot.aclose``. That can
hang on a slow Slack or database, and a deploy waits for no one: a second signal, or
``LIMIT_S`` after the first, ends the process at once, after killing Locust and
releasing every lease this process still holds, so another replica resumes its runs now
rather than when the leases would have expired."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from sqlalchemy import update
from sqlmodel import Session, col

from bot.store.models import Run, RunStatus
from bot.store.runs import RunStore
from bot.web.bot import Bot
from checks.load import children

log = logging.getLogger(__name__)

LIMIT_S = 10.0
"""From the first stop signal to the end of the process, at most."""
EXIT_FORCED = 1


async def log_hand_overs(bot: Bot, runs: list[int]) -> None:
    """Once the bot is closed (``Bot.aclose`` hands every executing run over), one line a
    run that was executing here: which ones another process will now resume."""
    for run_id in runs:
        run = await bot.store.get_run(run_id)
        if run is not None and run.status == RunStatus.RUNNING and run.lease_owner is None:
            log.info("run %s handed over: lease released, another process resumes it", run_id)
        else:
            log.warning("run %s was not handed over (status %s)", run_id, run and run.status)


def release_leases_now(store: RunStore, owner: str) -> int:
    """Give up every run ``owner`` still holds, in one UPDATE on this thread (the event
    loop may be the thing that is stuck); how many runs were released."""
    with Session(store.engine) as session:
        result = session.connection().execute(
            update(Run)
            .where(col(Run.lease_owner) == owner, col(Run.status) == RunStatus.RUNNING)
            .values(lease_owner=None, lease_expires=None)
        )
        session.commit()
        return int(result.rowcount)


class Stopping:
    """What stop signals do. ``graceful`` starts the clean stop; ``signalled`` is called
    for each signal, from a signal handler or the event loop."""

    def __init__(self, bot: Bot, graceful: Callable[[], None], limit_s: float = LIMIT_S) -> None:
        self.bot = bot
        self.graceful = graceful
        self.limit_s = limit_s
        self.started = False
        self._timer: threading.Timer | None = None

    def signalled(self) -> None:
        if self.started:
            self.force("a second stop signal")
        self.started = True
        log.info("stopping: no new work; handing running runs over (at most %.0f s)", self.limit_s)
        self._timer = threading.Timer(
            self.limit_s, self.force, args=(f"the stop took more than {self.limit_s:.0f} s",)
        )
        self._timer.daemon = True
        self._timer.start()
        self.graceful()

    def force(self, why: str) -> None:
        """End the process now: Locust first, then the leases, then ``os._exit``."""
        killed = children.kill_all()
        try:
            released = release_leases_now(self.bot.store, self.bot.manager.leases.owner)
        except Exception:  # the database may be what hangs; the leases will expire
            log.exception("could not release the leases")
            released = 0
        log.error(
            "forced exit after %s: %d Locust process group(s) killed, %d run(s) released",
            why,
            killed,
            released,
        )
        logging.shutdown()
        os._exit(EXIT_FORCED)
