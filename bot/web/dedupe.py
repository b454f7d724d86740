"""Replayed Slack requests are acked quietly and change nothing.

A captured signed request stays valid for Slack's 5-minute window, so the same ``start``
posted twice would start two runs. Every command and interaction carries unique ids;
the first request with them is handed on, any later one gets an empty 200 (read-only
commands, harmless to answer twice, are not tracked). The ids are
claimed in the database (bot/store/seen.py), so this holds across replicas.

The body is parsed here (bot/web/body.py) before Bolt sees it: a signed body Bolt could
not read is a 400, not a 500 with a traceback.

When the database fails, nothing is dropped silently (bot/slack/unavailable.py): a claim
that cannot be written is answered "the bot's database is unavailable, nothing was
recorded" within the ack budget; a claim written for a request whose handler then could
not record it is let go again (retried in the background while the database is down),
so the same request sent again is handled rather than ignored as a replay."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.request.async_request import AsyncBoltRequest
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from bot.slack.acks_first import being_answered
from bot.slack.actions import REASON_BLOCK
from bot.slack.blocks import Message
from bot.slack.commands import Help, ListRuns, Report, Status, UsageError
from bot.slack.commands import parse as parse_command
from bot.slack.payloads import Salvaged, salvage
from bot.slack.unavailable import failed, is_unavailable, of_payload, watching
from bot.store.faults import answering, request_started
from bot.store.seen import KEEP, SeenRequests
from bot.web.body import Parsed, Unreadable, parse

log = logging.getLogger(__name__)
MAX_KEY = 255
BACKSTOP = 0.4
"""Seconds past the ack budget after which the handler is no longer waited for (it
bounds its own database work by the budget; this catches whatever else hangs)."""
RELEASE_EVERY = 1.0
Tell = Callable[[Salvaged, Message], Awaitable[None]]
"""Shows a person a private message where they clicked (chat.postEphemeral)."""
Dispatch = Callable[[AsyncBoltRequest], Awaitable[Response]]
"""Answers a request Bolt can read (the app's dispatch)."""


def request_key(payload: dict[str, Any]) -> str | None:
    """The ids that make this command or interaction unique, or None when it has none
    (an event, or a payload too malformed to name; the next layers refuse those)."""
    trigger = _text(payload.get("trigger_id"))
    if "command" in payload:
        if not trigger or not changes_something(payload.get("text")):
            return None
        return _bounded(f"command:{trigger}")
    kind = _text(payload.get("type"))
    if kind == "block_actions":
        actions = payload.get("actions")
        actions = actions if isinstance(actions, list) else []
        ids = [trigger, *(_text(a.get("action_ts")) for a in actions if isinstance(a, dict))]
    elif kind in ("view_submission", "view_closed"):
        view = payload.get("view")
        view = view if isinstance(view, dict) else {}
        ids = [trigger, _text(view.get("id")), _text(view.get("hash"))]
    else:
        return None
    if not any(ids):
        return None
    return _bounded(f"{kind}:" + ":".join(ids))


READ_ONLY = (Status, ListRuns, Report, Help)


def changes_something(text: object) -> bool:
    """Whether ``/preprod text`` acts (start, cancel, rerun, outcome). A replayed read-only
    command (status, list, report, help, or one answered with the usage) just answers
    again, so no id is claimed for it: one database write fewer on the ack path of the
    commands people send most."""
    try:
        return not isinstance(parse_command(text if isinstance(text, str) else ""), READ_ONLY)
    except UsageError:
        return False


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _bounded(key: str) -> str:
    """Keys fit the column; a long one is replaced by its digest (still unique)."""
    if len(key) <= MAX_KEY:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


class Deduplicated:
    """Hands a request to ``handler`` only the first time its ids are seen; answers
    honestly, within ``budget`` seconds, when the database cannot take the claim."""

    def __init__(
        self, dispatch: Dispatch, seen: SeenRequests, tell: Tell | None = None, budget: float = 2.5
    ) -> None:
        self.dispatch = dispatch
        self.seen = seen
        self.tell = tell
        self.budget = budget
        self._releasing: set[asyncio.Task[None]] = set()

    async def __call__(self, request: Request) -> Response:
        with request_started(), being_answered():
            latest = asyncio.get_running_loop().time() + self.budget + BACKSTOP
            try:
                parsed = parse(await request.body(), request.headers, request.query_params)
            except Unreadable as exc:
                log.warning("refused a signed Slack request to %s: %s", request.url.path, exc)
                return PlainTextResponse("could not read the request", status_code=400)
            return await self._once(parsed, latest)

    async def _once(self, parsed: Parsed, latest: float) -> Response:
        payload = parsed.payload
        key = request_key(payload)
        if key is not None:
            try:
                async with answering(self.budget):
                    first = await self.seen.first_time(key)
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                return self._unavailable(payload, exc)
            if not first:
                log.info("ignored a replayed Slack request (%s)", key.split(":", 1)[0])
                return Response(status_code=200)
        with watching() as unrecorded:
            try:
                async with asyncio.timeout_at(latest):
                    response = await self.dispatch(parsed.bolt)
            except TimeoutError as exc:
                response = self._unavailable(payload, exc)
        if key is not None and unrecorded.cause is not None:
            self._release(key)
        return response

    def _unavailable(self, payload: dict[str, Any], exc: BaseException) -> Response:
        """The private answer, in the form this kind of request is answered."""
        where = salvage(payload, None)
        attempt = of_payload(payload)
        message = failed(attempt, where.user or str(payload.get("user_id", "someone")), exc)
        if "command" in payload:
            body = {"response_type": "ephemeral", "text": message.text, "blocks": message.blocks}
            return JSONResponse(body)
        if payload.get("type") == "view_submission":
            errors = {REASON_BLOCK: attempt.sentence()}
            return JSONResponse({"response_action": "errors", "errors": errors})
        if self.tell is not None and where.user is not None:
            self._spawn(self.tell(where, message))
        return Response(status_code=200)

    def _release(self, key: str) -> None:
        """Let the claim go, now or, while the database is still down, a little later
        (for as long as a replay would be refused anyway)."""

        async def release() -> None:
            loop = asyncio.get_running_loop()
            until = loop.time() + KEEP.total_seconds()
            while True:
                try:
                    await self.seen.release(key)
                    return
                except Exception as exc:
                    if not is_unavailable(exc) or loop.time() > until:
                        log.warning("could not let the claim %s go: %s", key, exc)
                        return
                await asyncio.sleep(RELEASE_EVERY)

        self._spawn(release())

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def aclose(self) -> None:
        """Wait briefly for claims being let go and answers being told."""
        if self._releasing:
            await asyncio.wait(self._releasing, timeout=2.0)
