"""A check's start and result written through a database blip, not lost with it.

When the database fails for a few seconds while checks execute (a restart, a full disk,
a hang past the statement timeout), the write of one check's result used to fail, stop
the run, cancel the checks running beside it and leave them all to run again on resume:
the target saw every interrupted check twice. The write is tried again instead, with
capped backoff, while the failure is the database's and for at most ``PATIENCE``
seconds; past that the run is interrupted and resumed as before (bot/slack/runs.py).
Writes are fenced by the run's lease: if another process took the run meanwhile, the
write fails with ``LeaseLost`` and is not tried again."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.store.faults import cause, is_database_fault

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_FIRST = 0.25
RETRY_CAP = 2.0
PATIENCE = 300.0
"""Seconds a finished check waits for the database to store its result."""


async def through_blips(
    what: str, write: Callable[[], Awaitable[T]], patience: float | None = None
) -> T:
    """``write()``, tried again while the database fails, for up to ``patience`` s
    (``PATIENCE`` by default)."""
    pause = RETRY_FIRST
    deadline = time.monotonic() + (PATIENCE if patience is None else patience)
    while True:
        try:
            return await write()
        except Exception as exc:
            if not is_database_fault(exc) or time.monotonic() + pause > deadline:
                raise
            log.warning("cannot %s yet (%s); again in %.2gs", what, cause(exc), pause)
        await asyncio.sleep(pause)
        pause = min(pause * 2, RETRY_CAP)
