"""Slack's per-method rate tiers, so a bot that floods the Web API sees what Slack answers.

Pure apart from an injected clock: ``check()`` decides whether one more call fits the
method's tier and, when it does not, how many seconds ``Retry-After`` should say.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

TIER_PER_MINUTE: dict[int, int] = {1: 1, 2: 20, 3: 50, 4: 100}

METHOD_TIERS: dict[str, int] = {
    "chat.update": 3,
    "chat.delete": 3,
    "chat.postEphemeral": 4,
    "views.open": 4,
    "views.publish": 4,
    "views.update": 4,
    "views.push": 4,
    "usergroups.users.list": 2,
    "conversations.open": 3,
    "conversations.history": 3,
    "conversations.replies": 3,
    "users.info": 4,
}
"""Tiers from SLACK.md; a method not listed here is treated as Tier 3."""

AUTH_TEST_PER_MINUTE = 600
"""``auth.test`` and ``chat.getPermalink`` are "special" (very generous); this keeps them
finite."""
SPECIAL = frozenset({"auth.test", "chat.getPermalink"})

POST_MESSAGE_PER_SECOND = 1.0
"""``chat.postMessage``: about one message a second per channel, short bursts tolerated."""


def per_minute(method: str) -> int:
    """The calls a minute allowed for a (non-``chat.postMessage``) method."""
    if method in SPECIAL:
        return AUTH_TEST_PER_MINUTE
    return TIER_PER_MINUTE[METHOD_TIERS.get(method, 3)]


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    """Sliding one-minute windows per method; a token bucket per channel for posts."""

    clock: Callable[[], float]
    post_message_burst: int = 5
    _windows: dict[str, deque[float]] = field(default_factory=dict)
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def check(self, method: str, channel: str | None = None) -> int | None:
        """Count one call. ``None`` if it is allowed, else the ``Retry-After`` seconds."""
        now = self.clock()
        if method == "chat.postMessage":
            return self._check_post(channel or "", now)
        window = self._windows.setdefault(method, deque())
        while window and window[0] <= now - 60.0:
            window.popleft()
        if len(window) >= per_minute(method):
            return max(1, math.ceil(window[0] + 60.0 - now))
        window.append(now)
        return None

    def _check_post(self, channel: str, now: float) -> int | None:
        burst = float(self.post_message_burst)
        bucket = self._buckets.setdefault(channel, _Bucket(tokens=burst, updated=now))
        elapsed = max(0.0, now - bucket.updated)
        bucket.tokens = min(burst, bucket.tokens + elapsed * POST_MESSAGE_PER_SECOND)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - bucket.tokens) / POST_MESSAGE_PER_SECOND))

    def reset(self) -> None:
        """Forget every counted call (e.g. between phases of a test)."""
        self._windows.clear()
        self._buckets.clear()
