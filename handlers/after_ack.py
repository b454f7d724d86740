"""Work that follows an ack runs on a task of its own.

Bolt runs with ``process_before_response`` (bot/web/bot.py): it answers Slack when the
listener returns, rather than polling every 10 ms for the ack of a listener still
running. So a listener returns as soon as it has acked, and hands whatever follows
(a modal, a private reply, a run's start, the decision) to :func:`spawn`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)
_background: set[asyncio.Task[None]] = set()


def spawn(work: Coroutine[Any, Any, None], what: str) -> None:
    """Run ``work`` after the ack; a failure is logged as ``what`` failing. A reference
    is kept until it is done, so the task is not garbage-collected mid-flight."""
    task = asyncio.create_task(_logged(work, what))
    _background.add(task)
    task.add_done_callback(_background.discard)


async def _logged(work: Coroutine[Any, Any, None], what: str) -> None:
    try:
        await work
    except Exception:
        log.exception("%s failed after its ack", what)


def pending() -> int:
    """Work after acks still going on (for a graceful shutdown, and tests)."""
    return len(_background)
