"""Who belongs to a role: its listed members plus its Slack usergroup, looked up through
``usergroups.users.list`` and cached briefly (Tier 2: 20 calls a minute)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from bot.config.schema import Config

CACHE_SECONDS = 300.0

Lookup = Callable[[str], Awaitable[list[str]]]


class RoleDirectory:
    def __init__(
        self,
        config: Config,
        usergroup_members: Lookup,
        *,
        ttl: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._lookup = usergroup_members
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, set[str]]] = {}

    def label(self, role: str) -> str:
        found = self.config.roles.get(role)
        return (found.label if found else None) or role

    async def members(self, role: str) -> set[str]:
        found = self.config.roles.get(role)
        if found is None:
            return set()
        members = set(found.members)
        if found.usergroup:
            members |= await self._usergroup(found.usergroup)
        return members

    async def roles_of(self, user: str) -> list[str]:
        return [role for role in self.config.roles if user in await self.members(role)]

    async def waivers(self) -> set[str]:
        """Everyone in a role the policy lets waive."""
        found: set[str] = set()
        for role in self.config.policy.waivers_by:
            found |= await self.members(role)
        return found

    async def _usergroup(self, usergroup: str) -> set[str]:
        now = self._clock()
        cached = self._cache.get(usergroup)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        members = set(await self._lookup(usergroup))
        self._cache[usergroup] = (now, members)
        return members
