"""Who belongs to a role: its listed members plus its usergroup.

The gate asks a :class:`Directory`; :class:`RoleDirectory` answers from the config and a
usergroup lookup that the chat adapter supplies (in Slack, ``usergroups.users.list``,
Tier 2: 20 calls a minute, so answers are cached briefly). A lookup that fails raises
:class:`DirectoryUnavailable`, and the action that needed it records nothing."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from bot.config.schema import Config

CACHE_SECONDS = 300.0

Lookup = Callable[[str], Awaitable[list[str]]]
"""A usergroup's members, by the group's id."""


class DirectoryUnavailable(Exception):
    """Membership could not be checked now; the message names the role and the cause."""


class Directory(Protocol):
    """What the gate needs to know about people and roles."""

    def label(self, role: str) -> str: ...

    async def members(self, role: str) -> set[str]: ...

    async def roles_of(self, user: str) -> list[str]: ...

    async def waivers(self) -> set[str]: ...


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
            try:
                members |= await self._usergroup(found.usergroup)
            except DirectoryUnavailable as exc:
                raise DirectoryUnavailable(
                    f"Could not check your membership of {self.label(role)}: {exc}, try again."
                ) from exc
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
