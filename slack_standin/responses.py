"""``response_url`` posts: the address the stand-in puts in the payloads it sends.

Bolt's ``respond()`` posts JSON to the payload's ``response_url`` rather than to the Web
API, so the stand-in owns those URLs and applies the posts to the workspace the way Slack
does: ephemeral by default, ``in_channel`` into the channel, ``replace_original`` /
``delete_original`` on the message the interaction came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from slack_standin.limits import validate_message
from slack_standin.webapi import post
from slack_standin.workspace import Json, Message, Workspace

MAX_USES = 5
TTL_SECONDS = 30 * 60


@dataclass
class ResponseTarget:
    """Where one ``response_url`` points: the conversation and, for clicks, the message."""

    id: str
    channel_id: str
    user_id: str
    created_at: float
    message_ts: str | None = None
    uses: int = 0


@dataclass
class RecordedResponse:
    """One post to a ``response_url`` and what the stand-in answered."""

    response_id: str
    body: Json
    status: int
    at: float
    target: ResponseTarget | None = field(default=None, repr=False)


def apply_response(
    ws: Workspace, target: ResponseTarget, body: Any, now: float
) -> tuple[int, Json]:
    """Apply one post; returns (HTTP status, JSON answer)."""
    if now - target.created_at > TTL_SECONDS:
        return 404, {"ok": False, "error": "expired_url"}
    if target.uses >= MAX_USES:
        return 404, {"ok": False, "error": "used_url"}
    if not isinstance(body, dict):
        return 400, {"ok": False, "error": "invalid_payload"}
    target.uses += 1
    channel = ws.resolve_channel(target.channel_id)
    original = ws.find_message(target.channel_id, target.message_ts or "")
    if original is None and target.message_ts:  # a click on an ephemeral message
        mine = ws.ephemerals.get(target.user_id, [])
        original = next((m for m in mine if m.ts == target.message_ts), None)
    if body.get("delete_original"):
        if original is not None and original.ephemeral_to:
            ws.ephemerals[original.ephemeral_to].remove(original)
        elif channel is not None and original is not None:
            channel.by_ts.pop(original.ts, None)
        return 200, {"ok": True}
    err = validate_message(body.get("text"), body.get("blocks"), body.get("attachments"))
    if err:
        return 400, err.body()
    if body.get("replace_original") and original is not None:
        original.edit(body.get("text"), body.get("blocks"))
    elif body.get("response_type") == "in_channel" and channel is not None:
        parent = channel.by_ts.get(str(body.get("thread_ts") or ""))
        post(ws, channel, body.get("text"), body.get("blocks"), parent)
    else:
        ws.ephemerals.setdefault(target.user_id, []).append(
            Message(
                channel=target.channel_id,
                ts=ws.next_ts(),
                text=str(body.get("text") or ""),
                blocks=list(body.get("blocks") or []),
                user=ws.bot_user_id,
                bot_id=ws.bot_id,
                thread_ts=body.get("thread_ts") or None,
                ephemeral_to=target.user_id,
            )
        )
    return 200, {"ok": True}
