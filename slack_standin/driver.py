"""The people in the workspace: slash commands, clicks and modal submissions to the bot.

A mixin of ``SlackStandIn``: it builds each request from the stored workspace (the
clicked message with its blocks, the open modal), hands out ``trigger_id``s and
``response_url``s, sends signed, and shows the bot's answer the way Slack would.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from slack_standin import sender, views
from slack_standin.responses import ResponseTarget, apply_response
from slack_standin.serving import StandInServer
from slack_standin.workspace import Json, Message, View, Workspace


@dataclass
class Delivery:
    """One request the stand-in sent to the bot, and how the bot answered."""

    kind: str
    payload: Json
    status: int
    elapsed: float
    body: str


class Driver:
    """Requests to the bot; expects the attributes ``SlackStandIn`` sets up."""

    workspace: Workspace
    server: StandInServer
    signing_secret: str
    bot_url: str
    clock: Callable[[], float]
    deliveries: list[Delivery]
    _targets: dict[str, ResponseTarget]
    _client: httpx.AsyncClient | None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://127.0.0.1:{self.server.port}"

    def modals(self, user_id: str) -> list[View]:
        """The user's open modals, bottom of the stack first."""
        return [v for v in self.workspace.open_modals.values() if v.user_id == user_id]

    def home(self, user_id: str) -> View | None:
        """The user's published App Home view, if any."""
        return self.workspace.home_views.get(user_id)

    def find_message(self, channel_id: str, ts: str) -> Message:
        """A stored message, ephemerals included; LookupError if there is none."""
        msg = self.workspace.find_message(channel_id, ts)
        if msg is None:
            every = (m for ms in self.workspace.ephemerals.values() for m in ms)
            msg = next((m for m in every if m.ts == ts and m.channel == channel_id), None)
        if msg is None:
            raise LookupError(f"no message {ts} in {channel_id}")
        return msg

    def find_modal(self, user_id: str, view: str) -> View:
        """An open modal of the user by view id or ``callback_id`` (the latest one)."""
        for modal in reversed(self.modals(user_id)):
            if view in (modal.id, modal.callback_id):
                return modal
        open_ = [(m.id, m.callback_id) for m in self.modals(user_id)]
        raise LookupError(f"{user_id} has no open modal {view!r}; open: {open_}")

    def _sender(self) -> sender.Sender:
        if self._client is None:
            raise RuntimeError("start the stand-in first (await standin.start())")
        return sender.Sender(self.signing_secret, self.bot_url, self._client)

    def _new_target(self, channel_id: str, user_id: str, message_ts: str | None = None) -> str:
        rid = self.workspace.new_id("R")
        self._targets[rid] = ResponseTarget(rid, channel_id, user_id, self.clock(), message_ts)
        return f"{self.url}/response/{rid}"

    async def _deliver(self, kind: str, payload: Json, form: bool, **kw: Any) -> httpx.Response:
        out = self._sender()
        started = time.perf_counter()
        if form:
            resp = await out.send_form({k: str(v) for k, v in payload.items()}, **kw)
        else:
            resp = await out.send_payload(payload, **kw)
        elapsed = time.perf_counter() - started
        self.deliveries.append(Delivery(kind, payload, resp.status_code, elapsed, resp.text))
        return resp

    async def send_command(
        self,
        text: str,
        user_id: str = "U1",
        channel_id: str = "C0RELEASES",
        command: str = "/preprod",
        *,
        secret: str | None = None,
        timestamp: int | None = None,
    ) -> httpx.Response:
        """A slash command from ``user_id`` in ``channel_id``; a non-empty ack body is shown
        the way Slack shows it (ephemeral unless ``response_type: in_channel``)."""
        ws = self.workspace
        fields = sender.command_fields(
            ws,
            command=command,
            text=text,
            user_id=user_id,
            channel_id=channel_id,
            response_url=self._new_target(channel_id, user_id),
            trigger_id=ws.issue_trigger(user_id),
        )
        resp = await self._deliver("command", fields, True, secret=secret, timestamp=timestamp)
        if resp.status_code == 200 and resp.content.strip():
            try:
                ack: Any = resp.json()
            except ValueError:
                ack = {"text": resp.text}
            target = ResponseTarget("ack", channel_id, user_id, self.clock())
            apply_response(ws, target, ack, self.clock())
        return resp

    async def click(
        self,
        user_id: str,
        message_ts: str,
        channel_id: str,
        action_id: str,
        value: str | None = None,
        block_id: str | None = None,
        *,
        secret: str | None = None,
        timestamp: int | None = None,
    ) -> httpx.Response:
        """A button click (``block_actions``) on a stored message. The button is looked up
        by ``action_id`` (and ``block_id``); one no longer there is still clicked, with
        the given ``value``, as a stale client would."""
        ws = self.workspace
        msg = self.find_message(channel_id, message_ts)
        try:
            found_block, element = msg.find_action(action_id, block_id)
        except KeyError:
            found_block = block_id or "standin_stale_block"
            text = {"type": "plain_text", "text": action_id, "emoji": True}
            element = {"type": "button", "action_id": action_id, "text": text}
        payload = sender.block_actions_payload(
            ws,
            user_id=user_id,
            message=msg,
            block_id=found_block,
            element=element,
            value=value if value is not None else element.get("value"),
            response_url=self._new_target(channel_id, user_id, msg.ts),
            trigger_id=ws.issue_trigger(user_id),
        )
        return await self._deliver(
            "block_actions", payload, False, secret=secret, timestamp=timestamp
        )

    async def submit_view(
        self,
        user_id: str,
        view: str,
        values: dict[str, dict[str, Any]] | None = None,
        private_metadata: str | None = None,
        *,
        secret: str | None = None,
        timestamp: int | None = None,
    ) -> httpx.Response:
        """Submit an open modal (by view id or ``callback_id``) with ``{block_id:
        {action_id: value}}``; the bot's answer closes it, or (``response_action``) shows
        errors (``View.errors``), updates, pushes or clears."""
        ws = self.workspace
        modal = self.find_modal(user_id, view)
        trigger_id = ws.issue_trigger(user_id)
        payload = sender.view_submission_payload(
            ws, user_id=user_id, view=modal, values=values or {}, trigger_id=trigger_id
        )
        if private_metadata is not None:
            payload["view"]["private_metadata"] = private_metadata
        resp = await self._deliver(
            "view_submission", payload, False, secret=secret, timestamp=timestamp
        )
        if resp.status_code == 200:
            self._after_submission(modal, resp)
        return resp

    def _after_submission(self, modal: View, resp: httpx.Response) -> None:
        try:
            answer: Any = resp.json() if resp.content.strip() else {}
        except ValueError:
            answer = {}
        action = answer.get("response_action") if isinstance(answer, dict) else None
        opened = self.workspace.open_modals
        if action == "errors":
            modal.errors = dict(answer.get("errors") or {})
        elif action == "update" and isinstance(answer.get("view"), dict):
            modal.payload, modal.errors = answer["view"], {}
        elif action == "push" and isinstance(answer.get("view"), dict):
            pushed = views.new_view(self.workspace, modal.user_id, answer["view"], modal.id)
            opened[pushed.id] = pushed
        elif action == "clear":
            for stale in self.modals(modal.user_id):
                opened.pop(stale.id, None)
        else:
            opened.pop(modal.id, None)

    async def send_raw(
        self,
        body: bytes | str,
        headers: dict[str, str] | None = None,
        *,
        signed: bool = True,
        secret: str | None = None,
        timestamp: int | None = None,
    ) -> httpx.Response:
        """Any body to the bot; signed like Slack unless ``signed=False``; explicit
        ``headers`` win over the computed ones."""
        return await self._sender().send(
            body, headers, signed=signed, secret=secret, timestamp=timestamp
        )
