"""Buttons and modals of the sign-off panel, and the App Home. Each listener acks at once,
then asks the gate (bot/gate/actions.py), which authorises, records and decides; the
panel and the announcement follow from its events. Refusals come back privately."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.gate.actions import Gate, Refused
from bot.gate.policy import MIN_REASON, Vote
from bot.slack.actions import (
    APPROVE,
    ATTEST,
    ATTEST_MODAL,
    OPEN_RUN,
    REASON_BLOCK,
    REASON_INPUT,
    REJECT,
    REJECT_MODAL,
    WAIVE,
    WAIVE_MODAL,
    Target,
)
from bot.slack.client import SlackClient
from bot.slack.home import publish_home
from bot.slack.render_decision import (
    attest_modal,
    notice_refused,
    reason_required_error,
    reject_modal,
    waive_modal,
)
from bot.slack.runs import RunManager

Body = dict[str, Any]
Click = Callable[[str, Target, str], Awaitable[None]]
Reasoned = Callable[[str, Target, str], Awaitable[object]]


def register(app: AsyncApp, gate: Gate, manager: RunManager, slack: SlackClient) -> None:
    async def open_reject(user: str, target: Target, trigger: str) -> None:
        await gate.check_sign(user, target)
        label = gate.directory.label(target.subject)
        await slack.open_view(trigger, reject_modal(target, label))

    async def open_waive(user: str, target: Target, trigger: str) -> None:
        _, failure = await gate.check_waive(user, target)
        await slack.open_view(trigger, waive_modal(target, failure.check_id, failure.summary))

    async def open_attest(user: str, target: Target, trigger: str) -> None:
        _, text = await gate.check_attest(user, target)
        await slack.open_view(trigger, attest_modal(target, text))

    async def approve_now(user: str, target: Target, trigger: str) -> None:
        await gate.sign(user, target, Vote.APPROVE)

    for action_id, act in (
        (APPROVE, approve_now),
        (REJECT, open_reject),
        (WAIVE, open_waive),
        (ATTEST, open_attest),
    ):
        app.action(action_id)(_on_click(slack, act))

    @app.action(OPEN_RUN)
    async def open_run(ack: AsyncAck) -> None:
        await ack()  # a link button: Slack opens the URL, the bot has nothing to do

    async def reject(user: str, target: Target, reason: str) -> object:
        return await gate.sign(user, target, Vote.REJECT, reason)

    app.view(REJECT_MODAL)(_with_reason(gate, slack, reject))
    app.view(WAIVE_MODAL)(_with_reason(gate, slack, gate.waive))

    @app.view(ATTEST_MODAL)
    async def attested(ack: AsyncAck, body: Body) -> None:
        await ack()
        user, target, text = _submitted(body)
        await _guarded(gate, slack, user, target, gate.attest(user, target, text))

    @app.event("app_home_opened")
    async def home(event: Body) -> None:
        if event.get("tab", "home") == "home":
            await publish_home(event["user"], gate, manager, slack)


def _on_click(slack: SlackClient, act: Click) -> Callable[[AsyncAck, Body], Awaitable[None]]:
    """A button listener: ack, decode the button, act; a refusal is told privately."""

    async def listener(ack: AsyncAck, body: Body) -> None:
        await ack()
        user = body["user"]["id"]
        try:
            target = _target(body["actions"][0].get("value") or "")
            await act(user, target, body["trigger_id"])
        except Refused as refused:
            channel = body.get("channel", {}).get("id") or body["container"]["channel_id"]
            message = body.get("message") or {}
            thread = message.get("thread_ts") or message.get("ts")
            text, blocks = notice_refused(str(refused))
            await slack.post_ephemeral(channel, user, text, blocks, thread_ts=thread)

    return listener


def _with_reason(
    gate: Gate, slack: SlackClient, act: Reasoned
) -> Callable[[AsyncAck, Body], Awaitable[None]]:
    """A modal listener whose text is required: too short, the modal shows the error and
    stays open; otherwise it closes and ``act`` records (a refusal is told privately)."""

    async def listener(ack: AsyncAck, body: Body) -> None:
        user, target, text = _submitted(body)
        if len(text.strip()) < MIN_REASON:
            await ack(response_action="errors", errors=reason_required_error())
            return
        await ack()
        await _guarded(gate, slack, user, target, act(user, target, text))

    return listener


def _target(value: str) -> Target:
    try:
        return Target.decode(value)
    except ValueError:
        raise Refused("This button is out of date; use the newest sign-off message.") from None


def _submitted(body: Body) -> tuple[str, Target, str]:
    view = body["view"]
    value = view["state"]["values"].get(REASON_BLOCK, {}).get(REASON_INPUT, {}).get("value")
    return body["user"]["id"], _target(view["private_metadata"]), value or ""


async def _guarded(
    gate: Gate, slack: SlackClient, user: str, target: Target, action: Awaitable[object]
) -> None:
    try:
        await action
    except Refused as refused:
        await _tell(gate, slack, user, target, str(refused))


async def _tell(gate: Gate, slack: SlackClient, user: str, target: Target, reason: str) -> None:
    """A private reply in the run's thread: refusals are explained, never silent."""
    thread = await gate.store.get_thread(target.run_id)
    if thread is None:
        return
    text, blocks = notice_refused(reason)
    await slack.post_ephemeral(thread.channel, user, text, blocks, thread_ts=thread.parent_ts)
