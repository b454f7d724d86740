"""Buttons and modals of the sign-off panel, and the App Home.

What a person decides (an approval, a rejection, a waiver, a tick) is recorded by the gate
before Slack gets its ack: if the process dies first, Slack shows the person that it did
not work, and nothing half-done is left. The authorisation gets a budget inside Slack's
3 s; past it, nothing is recorded and the person is told to try again. Deciding and
announcing follow after the ack (the gate's sweep re-does them after a crash). Buttons
that only open a modal ack at once. Refusals come back privately.

Payloads are read into typed models (bot/slack/payloads.py) by a middleware before any
listener runs: a malformed one is acked, logged once and answered "could not read"."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.gate.actions import Gate
from bot.gate.policy import Vote
from bot.gate.refusals import Refused, TooSlow
from bot.gate.roles import DirectoryUnavailable
from bot.input_limits import MIN_REASON
from bot.slack.acks_first import after_the_acks
from bot.slack.actions import (
    APPROVE,
    ATTEST,
    ATTEST_MODAL,
    OPEN_RUN,
    REASON_BLOCK,
    REJECT,
    REJECT_MODAL,
    WAIVE,
    WAIVE_MODAL,
    Target,
)
from bot.slack.blocks import Message
from bot.slack.client import SlackCallError, SlackClient
from bot.slack.home import publish_home
from bot.slack.payloads import Click, Salvaged, Submission, Unreadable, check_bolt_can_read, read
from bot.slack.render_decision import (
    attest_modal,
    notice_refused,
    reason_required_error,
    reject_modal,
    waive_modal,
)
from bot.slack.runs import RunManager
from bot.slack.unavailable import (
    CLICKS,
    SUBMISSIONS,
    Attempt,
    failed,
    is_unavailable,
    let_go,
)
from bot.store.faults import answering, is_database_fault
from handlers.after_ack import spawn

log = logging.getLogger(__name__)
Body = dict[str, Any]
Act = Callable[[str, Target, str], Awaitable[object]]
Next = Callable[[], Awaitable[BoltResponse]]
CANNOT_READ = "Could not read this action."
AUTHORISE_WITHIN = 2.0
"""Seconds a recording action may spend on authorisation (a usergroup lookup) before the
ack, inside Slack's 3 s; the write itself is not cut short."""
NOT_NOW = (Refused, DirectoryUnavailable)
"""Why an action was not taken: told to the person privately, nothing recorded."""


def register(app: AsyncApp, gate: Gate, manager: RunManager, slack: SlackClient) -> None:
    app.use(Readable(gate, slack))
    budget = manager.settings.ack_budget

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

    async def approve(user: str, target: Target, _: str) -> object:
        return await gate.record_sign(user, target, Vote.APPROVE, within=AUTHORISE_WITHIN)

    app.action(APPROVE)(_recorded_click(gate, slack, approve, budget))
    for action_id, act in (
        (REJECT, open_reject),
        (WAIVE, open_waive),
        (ATTEST, open_attest),
    ):
        app.action(action_id)(_on_click(slack, act, CLICKS[action_id]))

    @app.action(OPEN_RUN)
    async def open_run(ack: AsyncAck) -> None:
        await ack()  # a link button: Slack opens the URL, the bot has nothing to do

    async def reject(user: str, target: Target, reason: str) -> object:
        return await gate.record_sign(user, target, Vote.REJECT, reason, within=AUTHORISE_WITHIN)

    async def waive(user: str, target: Target, justification: str) -> object:
        return await gate.record_waiver(user, target, justification, within=AUTHORISE_WITHIN)

    async def attest(user: str, target: Target, note: str) -> object:
        return await gate.record_tick(user, target, note, within=AUTHORISE_WITHIN)

    modals: tuple[tuple[str, Act, bool], ...] = (
        (REJECT_MODAL, reject, True),
        (WAIVE_MODAL, waive, True),
        (ATTEST_MODAL, attest, False),
    )
    for modal, submit, required in modals:
        app.view(modal)(_submitted(gate, slack, submit, SUBMISSIONS[modal], budget, required))

    @app.event("app_home_opened")
    async def home(event: Body) -> None:
        user = event.get("user")
        if event.get("tab", "home") == "home" and isinstance(user, str):
            spawn(publish_home(user, gate, manager, slack), "publishing the App Home")


class Readable(AsyncMiddleware):
    """Reads gate payloads into models before Bolt routes them: a malformed one is acked
    here, logged once and answered privately. A class rather than a function middleware,
    because Bolt builds a function's keyword arguments from the raw body first (with
    ``actions: []`` that is an IndexError and a 500)."""

    def __init__(self, gate: Gate, slack: SlackClient) -> None:
        self.gate, self.slack = gate, slack

    async def async_process(
        self, *, req: AsyncBoltRequest, resp: BoltResponse, next: Next
    ) -> BoltResponse | None:
        try:
            req.context["interaction"] = read(req.body)
            check_bolt_can_read(req.body)
        except Unreadable as bad:
            who = bad.salvaged.user or "someone"
            log.warning("could not read a %s from %s: %s", bad.kind, who, bad.why)
            spawn(_tell_unreadable(self.gate, self.slack, bad.salvaged), "telling an unreadable")
            return BoltResponse(status=200, body="")
        return await next()


def _on_click(
    slack: SlackClient, act: Act, attempt: Attempt
) -> Callable[[AsyncAck, AsyncBoltContext], Awaitable[None]]:
    """A button listener: ack, act on the validated click; a refusal or a database that
    fails is told privately (after the ack: no deadline, the directory may be slow)."""

    async def listener(ack: AsyncAck, context: AsyncBoltContext) -> None:
        await ack()
        click = context["interaction"]
        assert isinstance(click, Click)
        spawn(acted(click), f"a click to {attempt.what}")

    async def acted(click: Click) -> None:
        where = Salvaged(channel=click.channel_id, thread_ts=click.thread_ts)
        try:
            await act(click.user.id, click.target, click.trigger_id)
        except NOT_NOW as refused:
            await _post(slack, click.user.id, where, str(refused))
        except Exception as exc:
            if not is_database_fault(exc):
                raise
            await _show(slack, click.user.id, where, failed(attempt, click.user.id, exc))

    return listener


def _recorded_click(
    gate: Gate, slack: SlackClient, record: Act, budget: float
) -> Callable[[AsyncAck, AsyncBoltContext], Awaitable[None]]:
    """A button that records: the ack follows the write (within the ``budget``), the
    decision follows the ack. A database that fails or hangs is told privately."""

    async def listener(ack: AsyncAck, context: AsyncBoltContext) -> None:
        click = context["interaction"]
        assert isinstance(click, Click)
        where = Salvaged(channel=click.channel_id, thread_ts=click.thread_ts)
        try:
            async with answering(budget):
                await record(click.user.id, click.target, click.trigger_id)
        except NOT_NOW as refused:
            _let_go_if_retryable(refused)
            await ack()
            spawn(_post(slack, click.user.id, where, str(refused)), "telling a refusal")
            return
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            await ack()
            told = _show(slack, click.user.id, where, failed(CLICKS[APPROVE], click.user.id, exc))
            spawn(told, "telling a failed approval")
            return
        await ack()
        spawn(_decide(gate, click.target.run_id), "deciding after an approval")

    return listener


def _let_go_if_retryable(refused: Exception) -> None:
    """Too slow to authorise, or Slack's directory down: nothing was recorded and the
    person is asked to try again, so the replay guard lets the request's ids go."""
    if isinstance(refused, (TooSlow, DirectoryUnavailable)):
        let_go(str(refused))


async def _decide(gate: Gate, run_id: int) -> None:
    """After the ack, once the burst it came in is answered (acks first): decide,
    announce, update the panel (the sweep re-does it after a crash, so a failure here is
    logged, never lost)."""
    try:
        await after_the_acks()
        await gate.refresh(run_id)
    except Exception:
        log.exception("deciding run %s after a click failed; the sweep will do it", run_id)


def _submitted(
    gate: Gate, slack: SlackClient, act: Act, attempt: Attempt, budget: float, required: bool
) -> Callable[[AsyncAck, AsyncBoltContext], Awaitable[None]]:
    """A modal listener. When the text is ``required`` and too short, the modal shows the
    error and stays open; otherwise ``act`` records (within the ``budget``), then the
    modal closes (the ack) and the run is decided (refusals told privately). When the
    database fails, the modal stays open with what was typed and says so."""

    async def listener(ack: AsyncAck, context: AsyncBoltContext) -> None:
        submission = context["interaction"]
        assert isinstance(submission, Submission)
        if required and len(submission.text.strip()) < MIN_REASON:
            await ack(response_action="errors", errors=reason_required_error())
            return
        user, target = submission.user.id, submission.target
        try:
            async with answering(budget):
                await act(user, target, submission.text)
        except NOT_NOW as refused:
            _let_go_if_retryable(refused)
            await ack()
            told = _tell(gate, slack, user, Salvaged(run_id=target.run_id), str(refused))
            spawn(told, "telling a refusal")
            return
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            failed(attempt, user, exc)
            await ack(response_action="errors", errors={REASON_BLOCK: attempt.sentence()})
            return
        await ack()  # the modal closes once what it says is stored
        spawn(_decide(gate, target.run_id), "deciding after a submission")

    return listener


async def _tell_unreadable(gate: Gate, slack: SlackClient, where: Salvaged) -> None:
    if where.user is not None:
        await _tell(gate, slack, where.user, where, CANNOT_READ)


async def _tell(gate: Gate, slack: SlackClient, user: str, where: Salvaged, reason: str) -> None:
    """A private reply where the action happened (or in the run's thread): refusals are
    explained, never silent. Nowhere to say it, it is only logged."""
    if where.channel is None and where.run_id is not None:
        thread = await gate.store.get_thread(where.run_id)
        if thread is not None:
            where = Salvaged(channel=thread.channel, thread_ts=thread.parent_ts)
    await _post(slack, user, where, reason)


async def _post(slack: SlackClient, user: str, where: Salvaged, reason: str) -> None:
    await _show(slack, user, where, notice_refused(reason))


async def _show(slack: SlackClient, user: str, where: Salvaged, message: Message) -> None:
    """A private message where the person clicked; nowhere to show it, it is logged."""
    text, blocks = message
    if where.channel is None:
        log.info("nowhere to tell %s: %s", user, text)
        return
    try:
        await slack.post_ephemeral(where.channel, user, text, blocks, thread_ts=where.thread_ts)
    except SlackCallError as exc:
        log.warning("could not tell %s privately (%s): %s", user, exc, text)
