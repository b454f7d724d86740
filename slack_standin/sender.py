"""Requests to the bot, built and signed exactly as Slack builds and signs them.

Slash commands are form fields; interactions are one form field ``payload=<json>``.
Every request carries ``X-Slack-Request-Timestamp`` and ``X-Slack-Signature`` (``v0=`` +
hex HMAC-SHA256 of ``v0:{ts}:{body}``). The wrong-secret / old-timestamp knobs exist so
the bot's 401 path can be tested with otherwise perfect requests.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from slack_standin.workspace import Json, Message, View, Workspace

FORM = "application/x-www-form-urlencoded"
VERIFICATION_TOKEN = "standin-verification-token"


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """Slack's request signature for ``body`` sent at ``timestamp``."""
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class Sender:
    """Posts signed requests to the bot's events URL."""

    signing_secret: str
    bot_url: str
    client: httpx.AsyncClient

    async def send(
        self,
        body: bytes | str,
        headers: dict[str, str] | None = None,
        *,
        signed: bool = True,
        secret: str | None = None,
        timestamp: int | None = None,
    ) -> httpx.Response:
        """POST ``body``; signed with ``secret`` (default: the real one) at ``timestamp``
        (default: now). Headers given explicitly win over the computed ones."""
        raw = body.encode() if isinstance(body, str) else body
        ts = int(time.time()) if timestamp is None else timestamp
        out = {"Content-Type": FORM}
        if signed:
            out["X-Slack-Request-Timestamp"] = str(ts)
            out["X-Slack-Signature"] = sign(secret or self.signing_secret, ts, raw)
        out.update(headers or {})
        if not self.bot_url:
            raise RuntimeError("no bot_url: set SlackStandIn.bot_url to the bot's events URL")
        return await self.client.post(self.bot_url, content=raw, headers=out)

    async def send_form(self, fields: dict[str, str], **kw: Any) -> httpx.Response:
        return await self.send(urlencode(fields), **kw)

    async def send_payload(self, payload: Json, **kw: Any) -> httpx.Response:
        return await self.send_form({"payload": json.dumps(payload)}, **kw)


def _user(ws: Workspace, user_id: str) -> Json:
    name = ws.user_name(user_id)
    return {"id": user_id, "username": name, "name": name, "team_id": ws.team_id}


def _common(ws: Workspace, kind: str, user_id: str, trigger_id: str) -> Json:
    return {
        "type": kind,
        "user": _user(ws, user_id),
        "api_app_id": ws.app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id,
        "team": {"id": ws.team_id, "domain": ws.team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
    }


def channel_name(ws: Workspace, channel_id: str) -> str:
    channel = ws.channels.get(channel_id)
    return channel.name if channel else channel_id


def command_fields(
    ws: Workspace,
    *,
    command: str,
    text: str,
    user_id: str,
    channel_id: str,
    response_url: str,
    trigger_id: str,
) -> dict[str, str]:
    """The form fields of a slash command."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": ws.team_id,
        "team_domain": ws.team_domain,
        "channel_id": channel_id,
        "channel_name": channel_name(ws, channel_id),
        "user_id": user_id,
        "user_name": ws.user_name(user_id),
        "command": command,
        "text": text,
        "api_app_id": ws.app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }


def block_actions_payload(
    ws: Workspace,
    *,
    user_id: str,
    message: Message,
    block_id: str | None,
    element: Json,
    value: str | None,
    response_url: str,
    trigger_id: str,
) -> Json:
    """A ``block_actions`` payload for a click on a button of a stored message."""
    container: Json = {
        "type": "message",
        "message_ts": message.ts,
        "channel_id": message.channel,
        "is_ephemeral": message.ephemeral_to is not None,
    }
    if message.thread_ts:
        container["thread_ts"] = message.thread_ts
    action: Json = {
        "action_id": element.get("action_id"),
        "block_id": block_id,
        "text": element.get("text", {"type": "plain_text", "text": "", "emoji": True}),
        "type": element.get("type", "button"),
        "action_ts": f"{time.time():.6f}",
    }
    if value is not None:
        action["value"] = value
    if element.get("style"):
        action["style"] = element["style"]
    payload = _common(ws, "block_actions", user_id, trigger_id)
    payload.update(
        container=container,
        channel={"id": message.channel, "name": channel_name(ws, message.channel)},
        message=message.to_slack(ws.team_id),
        state={"values": {}},
        response_url=response_url,
        actions=[action],
    )
    return payload


def state_values(values: dict[str, dict[str, Any]]) -> Json:
    """``{block_id: {action_id: "text"}}`` in Slack's ``view.state.values`` shape; a dict
    value (e.g. a select's ``selected_option``) is passed through as the whole entry."""
    out: Json = {}
    for block_id, actions in values.items():
        out[block_id] = {
            action_id: value
            if isinstance(value, dict)
            else {"type": "plain_text_input", "value": value}
            for action_id, value in actions.items()
        }
    return out


def view_submission_payload(
    ws: Workspace,
    *,
    user_id: str,
    view: View,
    values: dict[str, dict[str, Any]],
    trigger_id: str,
) -> Json:
    """A ``view_submission`` payload for a modal the bot opened."""
    payload = _common(ws, "view_submission", user_id, trigger_id)
    payload.update(view=view.to_slack(state_values(values)), response_urls=[])
    return payload
