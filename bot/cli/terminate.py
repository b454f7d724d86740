"""SIGTERM stops a command as Ctrl-C does.

A CI runner cancelling a job, ``docker stop`` or ``kill`` send SIGTERM, and a job started
in the background of a script never sees Ctrl-C at all (its shell ignores SIGINT for it).
Python's default for SIGTERM ends the process on the spot: a run it executed stayed
``running`` and the reports CI asked for were never written. Here the command's task is
cancelled instead, as asyncio cancels it on Ctrl-C, so the engine records the run as
cancelled and ``preprod check`` still writes its reports."""

from __future__ import annotations

import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class Terminated(Exception):
    """The command was stopped by SIGTERM, after it cleaned up as on Ctrl-C."""


async def stopped_by_sigterm(work: Coroutine[Any, Any, T]) -> T:
    """``work``, cancelled on SIGTERM; then :class:`Terminated`. Off the main thread (or
    where the loop cannot watch signals) SIGTERM keeps its default. asyncio is imported
    here: this module is imported by every command, ``--help`` included."""
    import asyncio

    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    terminated = False

    def terminate() -> None:
        nonlocal terminated
        terminated = True
        task.cancel()

    try:
        loop.add_signal_handler(signal.SIGTERM, terminate)
        watching = True
    except (NotImplementedError, RuntimeError, ValueError):
        watching = False
    try:
        return await work
    except asyncio.CancelledError:
        if terminated:
            raise Terminated from None
        raise
    finally:
        if watching:
            loop.remove_signal_handler(signal.SIGTERM)
