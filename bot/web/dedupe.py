"""Replayed Slack requests are acked quietly and change nothing.

A captured signed request stays valid for Slack's 5-minute window, so the same ``start``
posted twice would start two runs. Every command and interaction carries unique ids;
the first request with them is handed on, any later one gets an empty 200 (read-only
commands, harmless to answer twice, are not tracked). The ids are
claimed in the database (bot/store/seen.py), so this holds across replicas.

The body is parsed here (bot/web/body.py) before Bolt sees it: a signed body Bolt could
not read is a 400, not a 500 with a traceback."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from bot.slack.commands import Help, ListRuns, Report, Status, UsageError
from bot.slack.commands import parse as parse_command
from bot.store.seen import SeenRequests
from bot.web.body import Unreadable, parse
from bot.web.signed import Handler

log = logging.getLogger(__name__)
MAX_KEY = 255


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
    """Hands a request to ``handler`` only the first time its ids are seen."""

    def __init__(self, handler: Handler, seen: SeenRequests) -> None:
        self.handler = handler
        self.seen = seen

    async def __call__(self, request: Request) -> Response:
        try:
            payload = parse(await request.body(), request.headers)
        except Unreadable as exc:
            log.warning("refused a signed Slack request to %s: %s", request.url.path, exc)
            return PlainTextResponse("could not read the request", status_code=400)
        key = request_key(payload)
        if key is not None and not await self.seen.first_time(key):
            log.info("ignored a replayed Slack request (%s)", key.split(":", 1)[0])
            return Response(status_code=200)
        return await self.handler(request)
