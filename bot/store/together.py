"""Writes made before an ack, committed together: a burst's callers share transactions.

A burst (a digest sends ten people to click at once; a release train starts a dozen runs)
used to cost a transaction and a worker-thread hop per request, each queued behind the
others for the writer's lock. Here, while one group's transaction is in flight, new
items wait; the moment it ends, all of them go in the next one. No timer holds a lone
item back. Each caller is answered only once its group has committed (or failed: then
every caller of the group gets the error, and nothing of the group is recorded), so
nothing is acknowledged that is not stored. The group's transaction is bound by the
earliest ack deadline of its callers (bot/store/faults.py), so it commits nothing after
any of them was told otherwise."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from bot.store.faults import ack_deadline, deadline_at

I = TypeVar("I")  # noqa: E741 - an item, as R is a result
R = TypeVar("R")


@dataclass
class _Waiting(Generic[I, R]):
    item: I
    answer: asyncio.Future[R]
    deadline: float | None


class Together(Generic[I, R]):
    """Items written in groups by ``write``, which returns a result per item, in order."""

    def __init__(self, write: Callable[[list[I]], Awaitable[list[R]]], most: int) -> None:
        self._write_group = write
        self._most = most
        self._waiting: list[_Waiting[I, R]] = []
        self._writing: asyncio.Task[None] | None = None

    async def add(self, item: I) -> R:
        """``item``'s result, once the group it went in has committed."""
        answer: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        waiting = _Waiting(item, answer, ack_deadline())
        self._waiting.append(waiting)
        self._next_group()
        return await waiting.answer

    def _next_group(self) -> None:
        """Start writing the waiting items, unless a group is being written."""
        if self._writing is not None or not self._waiting:
            return
        self._writing = asyncio.get_running_loop().create_task(self._write())
        self._writing.add_done_callback(self._written)

    def _written(self, _task: asyncio.Task[None]) -> None:
        self._writing = None
        self._next_group()

    async def _write(self) -> None:
        # taken when the task starts: what arrived in the same turn of the loop goes too
        group, self._waiting = self._waiting[: self._most], self._waiting[self._most :]
        deadlines = [waiting.deadline for waiting in group if waiting.deadline is not None]
        try:
            with deadline_at(min(deadlines, default=None)):
                results = await self._write_group([waiting.item for waiting in group])
            if len(results) != len(group):  # a caller left waiting would wait for ever
                raise RuntimeError(f"{len(results)} results for a group of {len(group)}")
        except asyncio.CancelledError:
            for waiting in group:
                waiting.answer.cancel()
            raise
        except Exception as exc:  # the database failed: nobody of the group is recorded
            for waiting in group:
                if not waiting.answer.done():
                    waiting.answer.set_exception(exc)
            return
        for waiting, result in zip(group, results, strict=True):  # lengths checked above
            if not waiting.answer.done():
                waiting.answer.set_result(result)
