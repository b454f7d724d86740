"""Latest-state-wins message updates, so 50 progress events cost a handful of ``chat.update``s.

``submit`` only records the newest state (a ``(text, blocks)`` pair or a render function that
is called at send time) and returns at once. One background task per key sends at most one
update per ``interval``, always the newest state, and skips a send that would repeat what
Slack already shows. ``flush``/``aclose`` send the final state immediately: when a run ends,
its last state must reach Slack. Send failures are logged and the newest state is retried
with backoff (doubling from ``interval`` up to ``backoff_cap``) until it lands: a state is never
dropped because Slack is down. Only a permanent error (``permanent(exc)``: the message or its
channel is gone) ends the retries, with a log line. Failures never reach the submitter.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import math
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, overload

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
Blocks = list[dict[str, Any]]
State = tuple[str, Blocks]
Render = Callable[[], State]
MessageKey = tuple[str, str]
"""``(channel, ts)`` of the message being updated."""


class MessageUpdater(Protocol):
    """What :meth:`Coalescer.for_messages` needs (``SlackClient`` fits)."""

    async def update_message(
        self, channel: str, ts: str, text: str, blocks: Blocks | None = None
    ) -> object: ...


@dataclass(eq=False)
class _Slot:
    pending: Render | State | None = None
    last_sent: State | None = None
    last_attempt: float = -math.inf
    failures: int = 0
    task: asyncio.Task[None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Coalescer(Generic[K]):
    """At most one send per key per ``interval``; the newest state always wins."""

    def __init__(
        self,
        send: Callable[[K, str, Blocks], Awaitable[object]],
        *,
        interval: float = 1.5,
        backoff_cap: float = 30.0,
        permanent: Callable[[Exception], bool] = lambda exc: False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be > 0")
        self._send = send
        self.interval = interval
        self.backoff_cap = max(backoff_cap, interval)
        self._permanent = permanent
        self._clock = clock
        self._slots: dict[K, _Slot] = {}
        self._closed = False
        self.stats: dict[str, int] = dict.fromkeys(
            ("submitted", "sent", "skipped", "failed", "dropped"), 0
        )
        """Counters for /metrics and the bench."""

    @classmethod
    def for_messages(
        cls,
        client: MessageUpdater,
        *,
        interval: float = 1.5,
        permanent: Callable[[Exception], bool] = lambda exc: False,
    ) -> Coalescer[MessageKey]:
        """A coalescer keyed by ``(channel, ts)`` that sends through ``client.update_message``."""

        async def send(key: MessageKey, text: str, blocks: Blocks) -> None:
            await client.update_message(key[0], key[1], text, blocks)

        return Coalescer(send, interval=interval, permanent=permanent)

    @overload
    def submit(self, key: K, state: Render) -> None: ...
    @overload
    def submit(self, key: K, state: str, blocks: Blocks | None = None) -> None: ...
    def submit(self, key: K, state: Render | str, blocks: Blocks | None = None) -> None:
        """Record the newest state for ``key``; never blocks, never raises on send trouble."""
        if self._closed:
            raise RuntimeError("Coalescer is closed")
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot()
        slot.pending = state if callable(state) else (state, list(blocks or []))
        self.stats["submitted"] += 1
        self._ensure_task(key, slot)

    def pending(self, key: K) -> bool:
        """True while ``key`` has a state Slack has not been sent yet."""
        slot = self._slots.get(key)
        return slot is not None and slot.pending is not None

    def busy(self) -> bool:
        """True while any key has a state Slack has not been sent yet (a run's final
        progress is submitted, not awaited: its run may be over already)."""
        return any(slot.pending is not None for slot in self._slots.values())

    async def flush(self, key: K) -> bool:
        """Send ``key``'s newest state now; False (and a retry scheduled) if sending failed."""
        slot = self._slots.get(key)
        if slot is None:
            return True
        delivered = await self._send_pending(key, slot)
        if delivered and slot.pending is None and self._slots.get(key) is slot:
            # The message is settled: forget it (and stop a drain task asleep on it).
            if slot.task is not None and not slot.task.done():
                slot.task.cancel()
            del self._slots[key]
        elif not delivered and not self._closed:
            self._ensure_task(key, slot)
        return delivered

    async def aclose(self) -> None:
        """Flush every key, then stop the background tasks."""
        self._closed = True
        keys = list(self._slots)
        results = await asyncio.gather(*(self.flush(key) for key in keys))
        for key, delivered in zip(keys, results, strict=True):
            if not delivered:
                log.error("final state for %r could not be delivered", key)
        tasks = [s.task for s in self._slots.values() if s.task is not None and not s.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._slots.clear()

    # ----------------------------------------------------------------- plumbing

    def _ensure_task(self, key: K, slot: _Slot) -> None:
        if slot.task is None or slot.task.done():
            slot.task = asyncio.get_running_loop().create_task(self._drain(key, slot))

    async def _drain(self, key: K, slot: _Slot) -> None:
        while slot.pending is not None:
            wait = slot.last_attempt + self._pause(slot) - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
            await self._send_pending(key, slot)

    async def _send_pending(self, key: K, slot: _Slot) -> bool:
        async with slot.lock:
            pending = slot.pending
            if pending is None:
                return True
            try:
                text, blocks = pending() if callable(pending) else pending
            except Exception:
                log.exception("rendering the state of %r failed; state dropped", key)
                self._settle(slot, pending, "dropped")
                return False
            if slot.last_sent == (text, blocks):
                self._settle(slot, pending, "skipped")
                return True
            slot.last_attempt = self._clock()
            try:
                await self._send(key, text, blocks)
            except Exception as exc:
                return self._failed(key, slot, pending, exc)
            slot.failures = 0
            slot.last_sent = (text, copy.deepcopy(blocks))
            self._settle(slot, pending, "sent")
            return True

    def _pause(self, slot: _Slot) -> float:
        """Between two sends: ``interval``; after failures, doubling up to ``backoff_cap``."""
        if slot.failures == 0:
            return self.interval
        return float(min(self.backoff_cap, self.interval * 2 ** (slot.failures - 1)))

    def _settle(self, slot: _Slot, pending: Render | State, outcome: str) -> None:
        self.stats[outcome] += 1
        if slot.pending is pending:  # nothing newer arrived meanwhile
            slot.pending = None

    def _failed(self, key: K, slot: _Slot, pending: Render | State, exc: Exception) -> bool:
        slot.failures += 1
        self.stats["failed"] += 1
        if self._permanent(exc):
            log.error("update of %r failed for good (%s); no more retries", key, exc)
            slot.failures = 0
            self._settle(slot, pending, "dropped")
        else:
            log.warning(
                "update of %r failed %d time(s) (%s); retrying in %.1fs",
                key, slot.failures, exc, self._pause(slot),
            )  # fmt: skip
        return False
