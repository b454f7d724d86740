"""Acks first: the work that follows an ack waits until no other Slack request is being
answered (for at most :data:`AT_MOST` seconds).

A burst (a digest at 09:00 sends ten people to click; a release train starts a dozen
runs) is answered request by request on one event loop. Each ``start`` acked early used
to open its thread and execute its run at once, and that work (Slack posts, checks, the
run's writes) took the CPU and the database from the acks still queued behind it. The
run is stored before its ack either way (nothing acked is lost); only its start waits
for the burst to be answered. The bound keeps a steady stream of requests from holding
runs back for long."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

AT_MOST = 1.0
"""Seconds follow-up work waits at most for the acks in flight."""

_answering = 0
_quiet: list[asyncio.Future[None]] = []


@contextmanager
def being_answered() -> Iterator[None]:
    """A Slack request is being answered until the block ends (bot/web/dedupe.py)."""
    global _answering
    _answering += 1
    try:
        yield
    finally:
        _answering -= 1
        if _answering == 0:
            _wake()


def answering_now() -> int:
    """How many Slack requests are being answered."""
    return _answering


def _wake() -> None:
    waiting, _quiet[:] = list(_quiet), []
    for future in waiting:
        if not future.done() and not future.get_loop().is_closed():
            future.set_result(None)


async def after_the_acks(at_most: float = AT_MOST) -> None:
    """Return once no request is being answered, or after ``at_most`` seconds."""
    if _answering == 0:
        return
    future = asyncio.get_running_loop().create_future()
    _quiet.append(future)
    try:
        await asyncio.wait({future}, timeout=at_most)
    finally:
        if future in _quiet:
            _quiet.remove(future)
