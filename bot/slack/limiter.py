"""Proactive Web API rate limiter, so the bot stays under Slack's tiers instead of eating 429s.

Each method gets its own bucket, sized by the method's tier (Slack limits per method, per
workspace). ``chat.postMessage`` is special: one bucket per channel (about 1 message a second).
The buckets are GCRA ("virtual scheduling") token buckets: every caller reserves the next free
slot *before* it sleeps, so waiters are served in arrival order, nobody busy-loops and a crowd
of waiters does not wake up together to fight over one token.
"""

from __future__ import annotations

import asyncio
import enum
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[object]]


class Tier(enum.Enum):
    """Slack's rate tiers, plus the two special cases the bot uses."""

    T1 = "tier1"
    T2 = "tier2"
    T3 = "tier3"
    T4 = "tier4"
    POST_MESSAGE = "chat.postMessage"  # per channel
    SPECIAL = "special"  # auth.test, chat.getPermalink: generous, kept finite against loops


@dataclass(frozen=True)
class Rate:
    """A sustained rate and how many calls may go back to back before spacing starts."""

    per_minute: float
    burst: int = 1

    def __post_init__(self) -> None:
        if self.per_minute <= 0 or self.burst < 1:
            raise ValueError(f"bad rate {self!r}: per_minute must be > 0 and burst >= 1")

    @property
    def interval(self) -> float:
        """Seconds between calls at the sustained rate."""
        return 60.0 / self.per_minute


TIER_PER_MINUTE: Mapping[Tier, int] = {Tier.T1: 1, Tier.T2: 20, Tier.T3: 50, Tier.T4: 100}
"""Slack's published calls per minute for each tier."""

DEFAULT_RATES: Mapping[Tier, Rate] = {
    # A bucket lets its burst through on top of its sustained rate, so the sustained rate
    # is the tier less the burst: no rolling minute ever holds more than the tier allows.
    Tier.T1: Rate(1, burst=1),
    Tier.T2: Rate(20 - 3, burst=3),
    Tier.T3: Rate(50 - 5, burst=5),
    Tier.T4: Rate(100 - 10, burst=10),
    Tier.POST_MESSAGE: Rate(60, burst=3),
    Tier.SPECIAL: Rate(600, burst=20),
}

# From Slack's own SDK table (see /work/shared/SLACK.md); anything not listed is treated as T3.
METHOD_TIERS: Mapping[str, Tier] = {
    "chat.postMessage": Tier.POST_MESSAGE,
    "chat.update": Tier.T3,
    "chat.postEphemeral": Tier.T4,
    "chat.delete": Tier.T3,
    "views.open": Tier.T4,
    "views.publish": Tier.T4,
    "views.update": Tier.T4,
    "views.push": Tier.T4,
    "usergroups.users.list": Tier.T2,
    "usergroups.list": Tier.T2,
    "conversations.open": Tier.T3,
    "conversations.history": Tier.T3,
    "conversations.replies": Tier.T3,
    "conversations.info": Tier.T3,
    "users.info": Tier.T4,
    "auth.test": Tier.SPECIAL,
    "chat.getPermalink": Tier.SPECIAL,  # "special rate limits apply": generous
}
DEFAULT_TIER = Tier.T3

BucketKey = tuple[str, str | None]
_EPSILON = 1e-6


class _Bucket:
    """One GCRA bucket: ``tat`` is the theoretical arrival time of the next conforming call."""

    __slots__ = ("blocked_until", "interval", "tat", "tolerance")

    def __init__(self, rate: Rate) -> None:
        self.interval = rate.interval
        self.tolerance = (rate.burst - 1) * rate.interval
        self.tat = -math.inf
        self.blocked_until = -math.inf

    def reserve(self, now: float) -> float:
        """Book the next free slot and return when it starts (``<= now`` means go ahead)."""
        start = max(now, self.tat - self.tolerance, self.blocked_until)
        self.tat = max(self.tat, start) + self.interval
        return start

    def refund(self) -> None:
        """Give back a slot booked by a caller that gave up waiting (it was cancelled):
        without this, callers that time out would push every later caller further away."""
        self.tat -= self.interval

    def block(self, until: float) -> None:
        """Nobody goes before ``until``, and the burst allowance is spent when it ends."""
        if until > self.blocked_until:
            self.blocked_until = until
        self.tat = max(self.tat, until + self.tolerance)

    def idle(self, now: float) -> bool:
        """True when the bucket is indistinguishable from a fresh one (safe to forget)."""
        return self.tat <= now and self.blocked_until <= now


class RateLimiter:
    """Per-method (and per-channel for ``chat.postMessage``) token buckets for the Web API."""

    _PRUNE_AT = 1024

    def __init__(
        self,
        *,
        rates: Mapping[Tier, Rate] | None = None,
        method_tiers: Mapping[str, Tier] | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._rates = {**DEFAULT_RATES, **(rates or {})}
        self._tiers = {**METHOD_TIERS, **(method_tiers or {})}
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[BucketKey, _Bucket] = {}
        self.waited: dict[str, float] = {}
        """Total seconds callers spent waiting, per method (for /metrics)."""

    def tier_of(self, method: str) -> Tier:
        """The tier Slack puts ``method`` in (unknown methods: Tier 3)."""
        return self._tiers.get(method, DEFAULT_TIER)

    def _key(self, method: str, channel: str | None) -> BucketKey:
        # Only chat.postMessage is limited per channel; other methods share one bucket.
        return (method, channel if self.tier_of(method) is Tier.POST_MESSAGE else None)

    def _bucket(self, key: BucketKey) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._PRUNE_AT:
                self._prune()
            bucket = self._buckets[key] = _Bucket(self._rates[self.tier_of(key[0])])
        return bucket

    def _prune(self) -> None:
        now = self._clock()
        for key in [k for k, b in self._buckets.items() if b.idle(now)]:
            del self._buckets[key]

    async def acquire(self, method: str, channel: str | None = None) -> float:
        """Wait until a call to ``method`` (in ``channel``) may go out; return seconds waited."""
        bucket = self._bucket(self._key(method, channel))
        first = self._clock()
        while True:
            now = self._clock()
            start = bucket.reserve(now)
            if start <= now + _EPSILON:  # float dust is not worth a sleep
                break
            try:
                await self._sleep(start - now)
            except asyncio.CancelledError:
                bucket.refund()
                raise
            if bucket.blocked_until <= start:
                break
            # A 429 penalty arrived while we slept: our slot is void, book a new one.
        waited = max(0.0, self._clock() - first)
        if waited:
            self.waited[method] = self.waited.get(method, 0.0) + waited
        return waited

    def penalise(self, method: str, retry_after: float, channel: str | None = None) -> None:
        """Slack answered 429 anyway: hold every caller of that bucket for ``retry_after`` s.

        For ``chat.postMessage`` without a channel, every channel's bucket is held.
        """
        until = self._clock() + max(0.0, retry_after)
        if self.tier_of(method) is Tier.POST_MESSAGE and channel is None:
            buckets = [b for (m, _), b in self._buckets.items() if m == method]
        else:
            buckets = [self._bucket(self._key(method, channel))]
        for bucket in buckets:
            bucket.block(until)

    def blocked_for(self, method: str, channel: str | None = None) -> float:
        """Seconds left on a 429 penalty for this bucket (0 when none)."""
        bucket = self._buckets.get(self._key(method, channel))
        return 0.0 if bucket is None else max(0.0, bucket.blocked_until - self._clock())
