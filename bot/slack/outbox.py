"""Posting exactly once: every message a run owes its thread goes through here under a
key (see bot/store/outbox.py). Slack carries the key back in the message's metadata, so a
message whose ``ts`` was lost in a crash is found again instead of posted twice."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal, NamedTuple

from bot.slack.client import JSON, NotWanted, SlackCallError, SlackClient, SlackRetriesExhausted
from bot.store.batch import Write
from bot.store.leases import process_id
from bot.store.models import SlackThread
from bot.store.outbox import OutboxStore
from bot.store.runs import RunStore

log = logging.getLogger(__name__)
PROCESS = process_id()
"""Who claims the messages this process sends."""

EVENT_TYPE = "preprod_message"
CLAIM_STALE = 15.0
"""Seconds a claim to send holds without a ts; past it the claimer is taken for dead. A
send may wait on Slack's 1-a-second channel limit behind other messages, so a live claim
can last several seconds; a dead one delays that message by this much after a crash."""
WAIT_STEP, WAIT_CAP = 0.2, 2.0
"""Seconds between two reads of a message another process claimed: the first soon, then
twice as long each time, at most ``WAIT_CAP``. A claimed message often waits seconds
behind Slack's one-a-second channel pace: read every 0.2 s, the runs serve handed to its
workers while their threads waited for the channel (bench/ack_latency's steady phase)
read their rows five times a second each, 43 % of a worker's samples in a burst."""
RENEW_AFTER = 1 / 3
"""Of ``CLAIM_STALE``: how old a claim is renewed before its message goes. A younger one
cannot have been taken over (that takes ``CLAIM_STALE`` of silence), so a message that
goes at once, the usual case, is two database calls (recorded, then sent), not three."""
LOOKBACK = 200
"""Messages searched for a lost key: a thread's replies, or the channel's newest."""


_TURNS: dict[tuple[int, str, str], tuple[asyncio.Lock, int]] = {}
"""Per event loop, claimer and key: the lock its senders queue on, and how many."""


@asynccontextmanager
async def _one_at_a_time(owner: str, key: str) -> AsyncIterator[None]:
    turn = (id(asyncio.get_running_loop()), owner, key)
    lock, waiting = _TURNS.get(turn, (asyncio.Lock(), 0))
    _TURNS[turn] = (lock, waiting + 1)
    try:
        async with lock:
            yield
    finally:
        lock, waiting = _TURNS[turn]
        if waiting == 1:
            del _TURNS[turn]
        else:
            _TURNS[turn] = (lock, waiting - 1)


class OutboxBusy(Exception):
    """Another live process keeps a claim on the message; try again later."""


def transient(exc: BaseException) -> bool:
    """Slack failing for now (5xx, 429, timeouts past the client's own retries) or another
    process sending the message: an owed message is tried again later, never given up."""
    return isinstance(exc, SlackRetriesExhausted | OutboxBusy)


def gone_for_good(exc: BaseException) -> bool:
    """A Slack error that no retry mends (``channel_not_found``, ``message_not_found``)."""
    return isinstance(exc, SlackCallError) and not transient(exc)


class Posted(NamedTuple):
    ts: str
    now: bool
    """True when this call posted it (with the content given); False when it was there."""
    kept: bool = False
    """True when this call recorded the ts, and with it the post's ``keep`` write."""


Keep = Callable[[str], Write]
"""Given a message's ts, a write made in the transaction that records it."""

ThreadMessage = Literal["progress_ts", "results_ts", "gate_ts"]
"""A message of a run's thread that the thread keeps the ts of."""


def kept_in(store: RunStore, thread: SlackThread, message: ThreadMessage) -> Keep:
    """A post's ``keep``: the run's thread stores the message's ts as ``message`` (the
    upsert leaves the thread's other messages as they are)."""

    def keep(ts: str) -> Write:
        where = SlackThread(
            run_id=thread.run_id, channel=thread.channel, parent_ts=thread.parent_ts
        )
        setattr(where, message, ts)
        return store.thread_write(where)

    return keep


class Outbox:
    def __init__(self, store: RunStore, slack: SlackClient) -> None:
        self.rows = OutboxStore(store)
        self.slack = slack
        self.owner = PROCESS

    async def post(
        self,
        key: str,
        channel: str,
        text: str,
        blocks: list[JSON] | None = None,
        *,
        thread_ts: str | None = None,
        run_id: int | None = None,
        payload: Mapping[str, Any] | None = None,
        keep: Keep | None = None,
    ) -> Posted:
        """Post the message recorded as ``key`` unless it was posted already (``payload``
        rides beside the key in the message's metadata, to be read back; ``keep``, the
        write made with its ts, when this call records that: ``Posted.kept``). Whoever
        records it first claims the sending; another process that wants it too waits for
        that one's ts, and takes over only once the claim has gone stale (its process died),
        looking in Slack first for what it may have sent. Within one process (where every
        claim is "ours") the senders of one key take turns."""
        async with _one_at_a_time(self.owner, key):
            return await self._post(key, channel, text, blocks, thread_ts, run_id, payload, keep)

    async def _post(
        self,
        key: str,
        channel: str,
        text: str,
        blocks: list[JSON] | None,
        thread_ts: str | None,
        run_id: int | None,
        payload: Mapping[str, Any] | None = None,
        keep: Keep | None = None,
    ) -> Posted:
        claim = _Claim(self.rows, key, self.owner)
        row, new = await self.rows.intend(key, channel, thread_ts, run_id, self.owner)
        if row.ts is not None:
            return Posted(row.ts, now=False)
        if not new:
            if not await claim.take():
                if ts := await self._wait_for(key):
                    return Posted(ts, now=False)
                if not await claim.take():
                    raise OutboxBusy(f"{key} is being sent by another process")
            if found := await self.find(key, row.channel, row.thread_ts):
                await self.rows.sent(key, found, keep(found) if keep else None)
                return Posted(found, now=False, kept=keep is not None)
        metadata = {"event_type": EVENT_TYPE, "event_payload": {**(payload or {}), "key": key}}
        try:
            ts = await self.slack.post_message(
                row.channel,
                text,
                blocks,
                thread_ts=row.thread_ts,
                delivered=lambda: self.find(key, row.channel, row.thread_ts),
                # The claim is renewed once the rate limit lets the message go: a long
                # wait behind the channel's other messages must not let it go stale
                # (another process would take it over and post it too).
                still_wanted=claim.still_ours,
                metadata=metadata,
            )
        except NotWanted:
            if ts := await self._wait_for(key):
                return Posted(ts, now=False)
            raise OutboxBusy(f"{key} is being sent by another process") from None
        await self.rows.sent(key, ts, keep(ts) if keep else None)
        return Posted(ts, now=True, kept=keep is not None)

    async def _wait_for(self, key: str) -> str | None:
        """The ts another process records for ``key``; None once its claim is stale or
        given up (a process that left the run to this one)."""
        deadline, pause = time.monotonic() + CLAIM_STALE, WAIT_STEP
        while time.monotonic() < deadline:
            await asyncio.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))
            pause = min(pause * 2, WAIT_CAP)
            row = await self.rows.get(key)
            if row is not None and row.ts:
                return row.ts
            if row is not None and row.claimed_by is None:
                return None
        return None

    async def posted(self, key: str) -> str | None:
        """The ts of a message already posted under ``key``."""
        row = await self.rows.get(key)
        return row.ts if row else None

    async def find(self, key: str, channel: str, thread_ts: str | None) -> str | None:
        """Look in Slack for a message carrying ``key`` (sent before a crash lost its ts)."""
        method, params = (
            ("conversations.replies", {"ts": thread_ts})
            if thread_ts
            else ("conversations.history", {})
        )
        try:
            data = await self.slack.api_call(
                method,
                http_verb="GET",
                params={"channel": channel, "limit": LOOKBACK, "include_all_metadata": "true",
                        **params},
            )  # fmt: skip
        except SlackCallError as exc:
            log.warning("cannot look for message %s in %s: %s", key, channel, exc.error)
            return None
        for message in data.get("messages", []):
            if _key_of(message) == key:
                return str(message["ts"])
        return None


class _Claim:
    """This process's claim on sending a key, and since when it holds for sure."""

    def __init__(self, rows: OutboxStore, key: str, owner: str) -> None:
        self.rows, self.key, self.owner = rows, key, owner
        self.since = time.monotonic()
        """Taken before the claim was stamped (the record made, or the last claim asked
        for): the claim is at most this old, whatever the calls' own latency."""

    async def take(self) -> bool:
        """Claim it now (free, ours, or stale); True when it is ours."""
        asked = time.monotonic()
        if not await self.rows.claim(self.key, self.owner, CLAIM_STALE):
            return False
        self.since = asked
        return True

    async def still_ours(self) -> bool:
        """Whether the message may go now: a claim younger than :data:`RENEW_AFTER` of
        :data:`CLAIM_STALE` is ours without asking; an older one is renewed, unless it
        was taken over meanwhile."""
        fresh = time.monotonic() - self.since < CLAIM_STALE * RENEW_AFTER
        return fresh or await self.take()


def _key_of(message: dict[str, Any]) -> str | None:
    metadata = message.get("metadata") or {}
    if metadata.get("event_type") != EVENT_TYPE:
        return None
    key = (metadata.get("event_payload") or {}).get("key")
    return str(key) if key is not None else None
