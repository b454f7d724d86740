"""Acks first: the work that follows an ack waits until no other Slack request is being
answered (for at most :data:`AT_MOST` seconds).

A burst (a digest at 09:00 sends ten people to click; a release train starts a dozen
runs) is answered request by request on one event loop. Each ``start`` acked early used
to open its thread and execute its run at once, and that work (Slack posts, checks, the
run's writes) took the CPU and the database from the acks still queued behind it. The
run is stored before its ack either way (nothing acked is lost); only its start waits
for the burst to be answered. The bound keeps a steady stream of requests from holding
runs back for long.

"No request being answered" is not enough: a burst reaches the process one request at
a time (each client sends as fast as it can sign and connect), and the process answers
each faster than the next arrives, so it was idle between two of them many times in a
burst, and the runs started in those gaps took the CPU from the rest of the burst
(bench/ack_latency: 1.5-2.5 ms of CPU per request of the burst against 0.7 without
``start``). So the work also waits until no request has arrived for :data:`QUIET`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

AT_MOST = 1.0
"""Seconds follow-up work waits at most for the acks in flight."""
QUIET = 0.01
"""Seconds without a new request that end a burst (a steady 50 a second leaves 20)."""

_answering = 0
_arrived = float("-inf")
"""When (the event loop's clock) the last request began to be answered."""
_quiet: list[asyncio.Future[None]] = []


@contextmanager
def being_answered() -> Iterator[None]:
    """A Slack request is being answered until the block ends (bot/web/dedupe.py)."""
    global _answering, _arrived
    _answering += 1
    _arrived = asyncio.get_running_loop().time()
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
    """Return once no request is being answered and none arrived for :data:`QUIET`
    seconds, or after ``at_most`` seconds."""
    loop = asyncio.get_running_loop()
    until = loop.time() + at_most
    while True:
        now = loop.time()
        calm = now - _arrived
        if (_answering == 0 and calm >= QUIET) or now >= until:
            return
        if _answering == 0:
            await asyncio.sleep(min(QUIET - calm, until - now))
            continue
        future = loop.create_future()
        _quiet.append(future)
        try:
            await asyncio.wait({future}, timeout=until - now)
        finally:
            if future in _quiet:
                _quiet.remove(future)
