"""Checkpoints in Slack: posted in the audit channel by the checkpoint job (through the
outbox, once per slot) and read back from the channel's history by
``preprod audit verify --from-slack``. The line is in the message text, as a reader can
copy it; the head also rides in the message metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.audit.checkpoint import Checkpoint, read_lines
from bot.slack.client import SlackClient
from bot.slack.limits import Message, fit, fit_text
from bot.slack.outbox import Outbox
from bot.slack.render_run import context, section
from bot.slack.text import Mrkdwn, escape
from bot.store.reminders import ReminderKey
from bot.store.runs import RunStore

PAGE = 200
"""Messages asked for per ``conversations.history`` call."""
MAX_PAGES = 50
"""Pages read at most: the newest 10,000 messages of the channel."""


def checkpoint_message(checkpoint: Checkpoint) -> Message:
    """The checkpoint line in a code span (copied as is), and what it says for people."""
    line = Mrkdwn(f"`{escape(checkpoint.line)}`")
    signed = f"signed by {checkpoint.key}" if checkpoint.key else "unsigned"
    text = Mrkdwn(f"🔏 Checkpoint {escape(checkpoint.short)}: {line}")
    note = Mrkdwn(
        f"The audit trail's head at {escape(checkpoint.at.isoformat())} ({escape(signed)}). "
        "`preprod audit verify --from-slack` checks the trail against it."
    )
    return Message(fit_text(text), fit([section(text), context(note)]))


class SlackCheckpoints:
    """The :class:`bot.schedule.checkpoints.CheckpointPoster` of Slack."""

    def __init__(self, store: RunStore, slack: SlackClient) -> None:
        self.outbox = Outbox(store, slack)

    async def post_checkpoint(
        self, reminder: ReminderKey, channel: str, checkpoint: Checkpoint
    ) -> bool:
        return await self.post(reminder.key, channel, checkpoint)

    async def post(self, key: str, channel: str, checkpoint: Checkpoint) -> bool:
        message = checkpoint_message(checkpoint)
        payload = {"audit_seq": checkpoint.seq, "audit_head": checkpoint.head}
        posted = await self.outbox.post(key, channel, message.text, message.blocks, payload=payload)
        return posted.now


@dataclass
class Read:
    """What the audit channel's history held."""

    checkpoints: list[Checkpoint] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Messages that carry the mark but cannot be read."""
    messages: int = 0
    complete: bool = True
    """False when older messages were left unread (past ``MAX_PAGES``)."""


async def read_channel(
    slack: SlackClient, channel: str, *, page: int = PAGE, max_pages: int = MAX_PAGES
) -> Read:
    """Every checkpoint in ``channel``'s newest ``page * max_pages`` messages, newest
    first, a page at a time (Slack's cursor; else ``latest`` before the oldest seen)."""
    read = Read()
    params: dict[str, Any] = {"channel": channel, "limit": page}
    oldest: str | None = None
    for _ in range(max_pages):
        data = await slack.api_call("conversations.history", http_verb="GET", params=params)
        messages = [m for m in data.get("messages", []) if isinstance(m, dict)]
        fresh = [m for m in messages if oldest is None or str(m.get("ts", "")) < oldest]
        for message in fresh:
            text = str(message.get("text") or "")
            found, problems = read_lines(text.splitlines())
            read.checkpoints += found
            read.problems += [f"message {message.get('ts')}: {p}" for p in problems]
        read.messages += len(fresh)
        if fresh:
            oldest = min(str(m.get("ts", "")) for m in fresh)
        if not data.get("has_more"):
            return read
        if not fresh:  # paging went no further back: say so rather than stop quietly
            read.complete = False
            return read
        cursor = (data.get("response_metadata") or {}).get("next_cursor")
        params = {"channel": channel, "limit": page}
        params.update({"cursor": cursor} if cursor else {"latest": oldest, "inclusive": "false"})
    read.complete = False
    return read
