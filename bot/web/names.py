"""People's display names for the web pages, where Slack would show a name instead of an
id: ``users.info`` through the bot's Slack client, bounded and cached.

A page never waits on Slack for long: every name it lacks is asked for at once, within
:data:`BUDGET` seconds in all, and whatever did not answer in time is shown as its id
(and asked again after :data:`RETRY`, not on every page). A name, once known, is kept for
:data:`TTL`; the cache holds at most :data:`MAX_NAMES` people."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

log = logging.getLogger(__name__)

BUDGET = 1.0
"""Seconds a page may spend on the names it lacks, all of them together."""
TTL = 3600.0
"""Seconds a known name is kept (a renamed person shows the new name within this)."""
RETRY = 60.0
"""Seconds before a lookup that failed or timed out is tried again."""
MAX_NAMES = 2000
MAX_NAME = 80
"""Characters of a name shown."""

USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")
"""What a Slack user id looks like; other actors (``system``, ``github:...``) are kept."""

Lookup = Callable[[str], Awaitable[Mapping[str, Any]]]


def display_name(user: Mapping[str, Any]) -> str | None:
    """The name Slack shows for a ``users.info`` user: the profile's display name, else
    the real name, else the handle; None when it has none."""
    profile = user.get("profile")
    profile = profile if isinstance(profile, Mapping) else {}
    for candidate in (
        profile.get("display_name"),
        profile.get("real_name"),
        user.get("real_name"),
        user.get("name"),
    ):
        if isinstance(candidate, str) and candidate.strip():
            return " ".join(candidate.split())[:MAX_NAME]
    return None


def shown(user_id: str, names: Mapping[str, str]) -> str:
    """``Sam Sre (U0SRE1)`` when the name is known, else the id alone."""
    name = names.get(user_id)
    return f"{name} ({user_id})" if name and name != user_id else user_id


class DisplayNames:
    """Names by user id, looked up through ``lookup`` (``SlackClient.user_info``)."""

    def __init__(
        self,
        lookup: Lookup,
        *,
        budget: float = BUDGET,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lookup = lookup
        self.budget = budget
        self.clock = clock
        self._known: dict[str, tuple[str | None, float]] = {}
        """id -> (name or None for "not found / failed", until when it holds)."""

    async def names(self, ids: Iterable[str]) -> dict[str, str]:
        """The names of ``ids`` that are known now or found within the budget."""
        now = self.clock()
        wanted = {i for i in ids if USER_ID.fullmatch(i)}
        missing = [i for i in wanted if self._known.get(i, (None, 0.0))[1] <= now]
        if missing:
            await self._fetch(missing, now)
        found: dict[str, str] = {}
        for user_id in wanted:
            name = self._known.get(user_id, (None, 0.0))[0]
            if name:
                found[user_id] = name
        return found

    async def _fetch(self, missing: list[str], now: float) -> None:
        tasks = {user_id: asyncio.ensure_future(self._one(user_id)) for user_id in missing}
        done, pending = await asyncio.wait(tasks.values(), timeout=self.budget)
        for task in pending:
            task.cancel()
        if len(self._known) + len(missing) > MAX_NAMES:
            self._known.clear()  # rare: a fresh start beats tracking recency
        for user_id, task in tasks.items():
            name = task.result() if task in done else None
            self._known[user_id] = (name, now + (TTL if name else RETRY))
        if pending:
            log.info("display names: %d not answered within %.1f s", len(pending), self.budget)

    async def _one(self, user_id: str) -> str | None:
        try:
            return display_name(await self.lookup(user_id))
        except Exception as exc:  # a page must not fail on Slack: the id is shown instead
            log.info("display name of %s not found: %s", user_id, exc)
            return None
