"""Which threads a blocking database call runs on: the ack path has its own.

Every ``RunStore`` call is synchronous SQLAlchemy pushed to a thread. By default that is
the event loop's default executor (``asyncio.to_thread``: 6 threads on 2 cores), which
the runs executing in this process fill with their writes (check started, result, audit
event, outbox): a person's ack queued behind them. Calls made on the ack path (inside
:func:`bot.store.faults.answering`, so before Slack's 3 s) go to a small pool of their
own instead, so they wait only for each other and for the database itself. The
context (the ack deadline that :func:`bot.store.faults.bound` reads) goes with them."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from bot.store.faults import on_ack_path

T = TypeVar("T")

ACK_THREADS = 4
"""Threads for the ack path's calls: a burst's replay-guard claims go in one batch
(bot/store/seen.py), so these mostly carry the run inserts and the reads of
``status`` / ``list``; more would only contend for the GIL and the writer lock."""

_lane: ThreadPoolExecutor | None = None
_made = threading.Lock()


def _ack_lane() -> ThreadPoolExecutor:
    """One pool per process, made on first use (threads start only when needed)."""
    global _lane
    with _made:
        if _lane is None:
            _lane = ThreadPoolExecutor(ACK_THREADS, thread_name_prefix="preprod-ack")
        return _lane


async def in_thread(work: Callable[[], T]) -> T:
    """``work()`` in a worker thread: the ack lane on the ack path, else the default
    executor; the caller's context variables go with it either way."""
    if not on_ack_path():
        return await asyncio.to_thread(work)
    context = contextvars.copy_context()
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_ack_lane(), context.run, work)
