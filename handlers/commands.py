"""The ``/preprod`` slash command: parse, ack within Slack's 3 s, hand the rest to bot/."""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.engine.request import RequestError
from bot.slack.acks_first import after_the_acks
from bot.slack.blocks import Message, notice, usage_error
from bot.slack.commands import UsageError, parse
from bot.slack.dispatch import Dispatcher
from bot.slack.runs import ReplyError
from handlers.after_ack import spawn

log = logging.getLogger(__name__)


def register(app: AsyncApp, dispatcher: Dispatcher) -> None:
    @app.command("/preprod")
    async def preprod(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        try:
            command = parse(body.get("text", ""))
        except UsageError as exc:
            await _ack(ack, usage_error(str(exc)))
            return
        reply = await dispatcher.answer(command, body["user_id"], body["channel_id"])
        await _ack(ack, reply.message)
        if reply.then is not None:
            spawn(_follow_up(reply.then, respond), "a /preprod command")


async def _ack(ack: AsyncAck, message: Message) -> None:
    await ack(text=message.text, blocks=message.blocks, response_type="ephemeral")


async def _follow_up(work: Coroutine[Any, Any, object], respond: AsyncRespond) -> None:
    """Slow work after the ack, once the burst it came in is answered (acks first); a
    problem the user caused goes back to them privately."""
    try:
        await after_the_acks()
        await work
    except (RequestError, LookupError) as exc:
        message = notice(exc.reply if isinstance(exc, ReplyError) else str(exc).strip("'\""))
        await respond(text=message.text, blocks=message.blocks, response_type="ephemeral")
    except Exception:
        log.exception("a /preprod command failed after its ack")
        await respond(text="⚠️ Something went wrong on our side; see the bot's log.",
                      response_type="ephemeral")  # fmt: skip
