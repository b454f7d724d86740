"""A small browser view of the stand-in for ``make demo-slack``: one channel with its
threads, the buttons, a composer, open modals, and a switcher to act as any user.

Every action goes through the same signed requests the tests use (``send_command``,
``click``, ``submit_view``). The page follows changes as they happen: ``/ui/events`` is
a server-sent event stream that says "changed" after any Web API call, ``response_url``
post or action, and the page then fetches ``/ui/live`` (so a modal shows as soon as the
bot opens it, not at a reload).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from slack_standin import webpage
from slack_standin.driver import Driver
from slack_standin.webapi import post

KEEPALIVE = 15.0
"""Seconds between comment lines on an idle event stream (proxies drop silent ones)."""


class Changes:
    """A version number that waiters can sleep on: bumped after anything visible."""

    def __init__(self) -> None:
        self.version = 0
        self._event = asyncio.Event()

    def bump(self) -> None:
        self.version += 1
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, seen: int, timeout: float) -> None:
        """Until the version is no longer ``seen``, or ``timeout`` seconds."""
        if self.version == seen:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), timeout)


def split_command(text: str) -> tuple[str, str] | None:
    """What a Slack user types: ``/preprod start x`` -> (``/preprod``, ``start x``);
    text that does not start with a slash is a message (None)."""
    stripped = text.strip()
    if not stripped.startswith("/") or stripped == "/":
        return None
    command, _, rest = stripped.partition(" ")
    return command, rest.strip()


async def compose(standin: Driver, form: dict[str, str]) -> httpx.Response | None:
    """The composer: a slash command goes to the bot, anything else is a message."""
    user, channel, text = form.get("as", ""), form.get("in", ""), form.get("text", "")
    command = split_command(text)
    if command is None and form.get("command"):  # an explicit command field, as before
        command = (form["command"], text.strip())
    if command is not None:
        return await standin.send_command(command[1], user, channel, command[0])
    found = standin.workspace.channels.get(channel)
    if found is None:
        raise LookupError(f"no channel {channel}")
    if text.strip():
        post(standin.workspace, found, text.strip(), None, user=user)
    return None


def routes(standin: Driver, changes: Changes) -> list[Route]:
    """``GET /``, the live fragment and event stream, and the form posts; ``changes``
    wakes the pages when the workspace changed."""

    def who(request: Request) -> tuple[str, str]:
        user = request.query_params.get("as") or next(iter(standin.workspace.users), "")
        channel = request.query_params.get("in") or next(iter(standin.workspace.channels), "")
        return user, channel

    async def index(request: Request) -> Response:
        user, channel = who(request)
        note = request.query_params.get("note", "")
        html = webpage.page(
            standin.workspace, standin.modals(user), standin.home(user), user, channel, note
        )
        return HTMLResponse(html)

    async def live(request: Request) -> Response:
        user, channel = who(request)
        note = request.query_params.get("note", "")
        return HTMLResponse(
            webpage.live(standin.workspace, standin.modals(user), user, channel, note)
        )

    async def events(request: Request) -> Response:
        async def stream() -> AsyncIterator[str]:
            seen, idle = -1, 0.0
            while not standin.server.stopping:
                if changes.version != seen:
                    seen, idle = changes.version, 0.0
                    yield f"event: change\ndata: {seen}\n\n"
                elif idle >= KEEPALIVE:
                    idle = 0.0
                    yield ": keep-alive\n\n"
                await changes.wait(seen, 0.5)
                idle += 0.5

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    async def act(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        user, channel, note = form.get("as", ""), form.get("in", ""), ""
        path = request.url.path
        try:
            resp: httpx.Response | None = None
            if path.endswith("/command"):
                resp = await compose(standin, form)
            elif path.endswith("/click"):
                resp = await standin.click(
                    user,
                    form["ts"],
                    form["channel"],
                    form["action_id"],
                    form.get("value"),
                    form.get("block_id"),
                )
            elif path.endswith("/close"):
                standin.workspace.open_modals.pop(form.get("view_id", ""), None)
            else:
                values: dict[str, dict[str, Any]] = {}
                for key, value in form.items():
                    if key.startswith("v:"):
                        block_id, _, action_id = key[2:].partition(".")
                        values.setdefault(block_id, {})[action_id] = value
                resp = await standin.submit_view(user, form["view_id"], values)
            if resp is not None and resp.status_code != 200:
                note = f"the bot answered {resp.status_code}"
        except Exception as exc:  # shown on the page: a demo should explain, not crash
            note = f"{type(exc).__name__}: {exc}"
        changes.bump()
        query = urlencode({"as": user, "in": channel, "note": note})
        return RedirectResponse(f"/?{query}", status_code=303)

    return [
        Route("/", index, methods=["GET"]),
        Route("/ui/live", live, methods=["GET"]),
        Route("/ui/events", events, methods=["GET"]),
        *(Route(f"/ui/{name}", act, methods=["POST"]) for name in ("command", "click", "submit")),
        Route("/ui/close", act, methods=["POST"]),
    ]
