"""The stand-in's picture of a workspace: users, groups, channels, messages, views.

Plain state that the Web API methods change and tests read: what a person would see in
Slack after the bot's calls (messages updated in place, threads, ephemerals, the Home
tab, open modals).
"""

from __future__ import annotations

import copy
import itertools
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

Json = dict[str, Any]


@dataclass
class User:
    """A member, as ``users.info`` describes one."""

    id: str
    name: str
    real_name: str
    tz: str = "Europe/Berlin"

    def to_slack(self, team_id: str) -> Json:
        """The ``user`` object of ``users.info``."""
        offset = datetime.now(ZoneInfo(self.tz)).utcoffset()
        return {
            "id": self.id,
            "team_id": team_id,
            "name": self.name,
            "real_name": self.real_name,
            "tz": self.tz,
            "tz_offset": int(offset.total_seconds()) if offset else 0,
            "is_bot": False,
            "deleted": False,
            "profile": {"real_name": self.real_name, "display_name": self.name},
        }


@dataclass
class Message:
    """One message as people see it; ``history`` keeps the versions before each edit."""

    channel: str
    ts: str
    text: str
    blocks: list[Json]
    user: str
    bot_id: str | None = None
    thread_ts: str | None = None
    replies: list[str] = field(default_factory=list)
    history: list[tuple[str, list[Json]]] = field(default_factory=list)
    ephemeral_to: str | None = None
    metadata: Json | None = None
    """``{"event_type", "event_payload"}`` as posted; history shows it on request."""

    @property
    def edit_count(self) -> int:
        """How many times ``chat.update`` (or ``replace_original``) changed it."""
        return len(self.history)

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    def edit(self, text: str | None, blocks: list[Json] | None) -> None:
        """Change in place, remembering the previous version."""
        self.history.append((self.text, copy.deepcopy(self.blocks)))
        if text is not None:
            self.text = text
        if blocks is not None:
            self.blocks = blocks

    def elements(self) -> Iterator[tuple[str | None, Json]]:
        """Every interactive element with the ``block_id`` of the block holding it."""
        for block in self.blocks:
            block_id = block.get("block_id")
            for el in block.get("elements", []) if block.get("type") == "actions" else []:
                yield block_id, el
            if isinstance(block.get("accessory"), dict):
                yield block_id, block["accessory"]

    def find_action(self, action_id: str, block_id: str | None = None) -> tuple[str | None, Json]:
        """The element with that ``action_id`` (in that block, if given); KeyError if none."""
        for bid, el in self.elements():
            if el.get("action_id") == action_id and (block_id is None or bid == block_id):
                return bid, el
        raise KeyError(f"no element with action_id {action_id!r} in message {self.ts}")

    def button_labels(self) -> list[str]:
        """The visible text of every button, for quick assertions."""
        return [el["text"]["text"] for _, el in self.elements() if el.get("type") == "button"]

    def to_slack(self, team_id: str, *, with_metadata: bool = False) -> Json:
        """The ``message`` object Slack returns and puts in interaction payloads."""
        out: Json = {"type": "message", "text": self.text, "user": self.user, "ts": self.ts}
        out["team"] = team_id
        if self.bot_id:
            out["bot_id"] = self.bot_id
        if self.blocks:
            out["blocks"] = copy.deepcopy(self.blocks)
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        if self.replies:
            out["reply_count"] = len(self.replies)
        if self.history:
            out["edited"] = {"user": self.user, "ts": self.ts}
        if with_metadata and self.metadata is not None:
            out["metadata"] = copy.deepcopy(self.metadata)
        return out


@dataclass
class Channel:
    """A channel, DM or group DM. ``messages`` is what the channel itself shows."""

    id: str
    name: str
    dm_user: str | None = None
    by_ts: dict[str, Message] = field(default_factory=dict)

    @property
    def messages(self) -> list[Message]:
        """Top-level messages, oldest first (thread replies live in ``thread()``)."""
        return [m for m in self.by_ts.values() if not m.is_reply]

    @property
    def all_messages(self) -> list[Message]:
        """Every message including thread replies, in posting order."""
        return list(self.by_ts.values())

    def message(self, ts: str) -> Message:
        """The message with that ``ts``; KeyError if unknown."""
        return self.by_ts[ts]

    def thread(self, ts: str) -> list[Message]:
        """The replies under ``ts``, oldest first (the parent is not included)."""
        return [self.by_ts[r] for r in self.by_ts[ts].replies]


@dataclass
class View:
    """A modal or Home tab as the app last set it; ``state`` holds submitted values."""

    id: str
    user_id: str
    payload: Json
    hash: str
    team_id: str
    app_id: str
    bot_id: str
    root_view_id: str | None = None
    previous_view_id: str | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def type(self) -> str:
        return str(self.payload.get("type", ""))

    @property
    def callback_id(self) -> str:
        return str(self.payload.get("callback_id", ""))

    @property
    def blocks(self) -> list[Json]:
        return list(self.payload.get("blocks", []))

    def to_slack(self, values: Json | None = None) -> Json:
        """The ``view`` object of ``views.*`` answers and ``view_submission`` payloads."""
        out = copy.deepcopy(self.payload)
        out.update(
            id=self.id,
            team_id=self.team_id,
            app_id=self.app_id,
            bot_id=self.bot_id,
            hash=self.hash,
            state={"values": values or {}},
            root_view_id=self.root_view_id or self.id,
            previous_view_id=self.previous_view_id,
            app_installed_team_id=self.team_id,
        )
        for key in ("callback_id", "private_metadata", "external_id"):
            out.setdefault(key, "")
        return out


@dataclass
class Trigger:
    user_id: str
    issued_at: float


@dataclass
class Workspace:
    """All the state; identifiers of the team and of the bot itself live here too."""

    users: dict[str, User] = field(default_factory=dict)
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    ephemerals: dict[str, list[Message]] = field(default_factory=dict)
    home_views: dict[str, View] = field(default_factory=dict)
    views: dict[str, View] = field(default_factory=dict)
    open_modals: dict[str, View] = field(default_factory=dict)
    triggers: dict[str, Trigger] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic
    trigger_ttl: float = 3.0
    team_id: str = "T0STANDIN"
    team_domain: str = "standin"
    app_id: str = "A0PREPROD"
    bot_id: str = "B0PREPROD"
    bot_user_id: str = "U0PREPROD"
    _last_us: int = 0
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def next_ts(self) -> str:
        """A fresh message ``ts``: Slack's ``seconds.micros``, strictly increasing."""
        self._last_us = max(time.time_ns() // 1000, self._last_us + 1)
        return f"{self._last_us // 1_000_000}.{self._last_us % 1_000_000:06d}"

    def new_id(self, prefix: str) -> str:
        """A fresh Slack-looking id (``V0000001A...``)."""
        return f"{prefix}{next(self._ids):07d}{secrets.token_hex(2).upper()}"

    def add_channel(self, channel_id: str, name: str, dm_user: str | None = None) -> Channel:
        return self.channels.setdefault(channel_id, Channel(channel_id, name, dm_user))

    def dm_channel(self, user_id: str) -> Channel:
        """The bot's DM with a user (what ``conversations.open`` returns)."""
        return self.add_channel("D" + user_id.removeprefix("U"), "directmessage", user_id)

    def resolve_channel(self, channel_id: str) -> Channel | None:
        """A channel by id; posting to a user id means the bot's DM with them, like Slack."""
        if channel_id in self.users:
            return self.dm_channel(channel_id)
        return self.channels.get(channel_id)

    def find_message(self, channel_id: str, ts: str) -> Message | None:
        channel = self.channels.get(channel_id)
        return channel.by_ts.get(ts) if channel else None

    def issue_trigger(self, user_id: str) -> str:
        """A ``trigger_id`` for ``views.open``, good for ``trigger_ttl`` seconds."""
        trigger_id = f"{time.time_ns() // 1000}.{secrets.randbelow(10**9)}.{secrets.token_hex(8)}"
        self.triggers[trigger_id] = Trigger(user_id, self.clock())
        return trigger_id

    def user_name(self, user_id: str) -> str:
        user = self.users.get(user_id)
        return user.name if user else user_id
