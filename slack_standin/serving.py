"""HTTP plumbing: uvicorn in the caller's event loop, and reading Slack-style calls.

Kept apart from the Slack behaviour so the stand-in can run inside a test's event loop
(socket bound to 127.0.0.1 port 0, no threads) or on a fixed port for the demo.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from typing import Self
from urllib.parse import parse_qsl

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request

from slack_standin.workspace import Json

KEEP_ALIVE_S = 75
"""Served apps keep idle connections as the bot's own server does (bot/web/server.py)."""
CLIENT_KEEP_ALIVE_S = 2.0
"""How long the stand-ins' own client keeps an idle connection for reuse."""


class Served:
    """A stand-in's life, shared by the Slack and GitHub ones: its app served on 127.0.0.1
    and an HTTP client for what it sends itself (events, webhooks), open between
    :meth:`start` and :meth:`stop`."""

    client_timeout = 5.0
    server: StandInServer
    _client: httpx.AsyncClient | None

    def _serve(self, app: Starlette) -> None:
        self.server = StandInServer(app)
        self._client = None

    async def start(self, port: int = 0) -> Self:
        """Serve on 127.0.0.1:``port`` (0 = a free one) in the running event loop."""
        await self.server.start(port)
        # idle connections are let go well before any server closes them (uvicorn: 5 s by
        # default), never reused in the instant the server closes them (a reset request)
        limits = httpx.Limits(keepalive_expiry=CLIENT_KEEP_ALIVE_S)
        self._client = httpx.AsyncClient(timeout=self.client_timeout, limits=limits)
        self._started()
        return self

    def _started(self) -> None:
        """What a stand-in does once its port is known."""

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        await self.server.stop()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class StandInServer:
    """uvicorn serving an app on a socket bound to 127.0.0.1."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None

    async def start(self, port: int = 0) -> None:
        """Bind (port 0 = any free one) and wait until uvicorn accepts connections."""
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say so, and
        # without it every answer waits ~40 ms (Nagle against delayed ACKs on loopback)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
        self._sock, self.port = sock, sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=2,  # an open event stream must not hold up a stop
            timeout_keep_alive=KEEP_ALIVE_S,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("slack stand-in stopped while starting")
            await asyncio.sleep(0.005)

    @property
    def stopping(self) -> bool:
        """True once asked to exit (``stop()`` or Ctrl-C): long-lived streams end then."""
        return self._server is None or self._server.should_exit

    async def wait(self) -> None:
        """Until the server exits (Ctrl-C, or ``stop()`` from elsewhere)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self) -> None:
        """Ask uvicorn to exit and wait for it; idempotent."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        if self._sock is not None:
            self._sock.close()
        self._server = self._task = self._sock = None


async def read_args(request: Request) -> tuple[Json, str | None]:
    """A Web API call's arguments (query string, then form or JSON body) and its token:
    ``Authorization: Bearer`` or, for non-JSON calls only, a ``token`` argument (as Slack)."""
    args: Json = dict(request.query_params)
    is_json = request.headers.get("content-type", "").startswith("application/json")
    if is_json:
        with contextlib.suppress(ValueError):
            data = json.loads(await request.body() or b"{}")
            if isinstance(data, dict):
                args.update(data)
    elif request.method == "POST":
        # parsed here rather than with request.form(), which needs python-multipart
        body = (await request.body()).decode("utf-8", "replace")
        args.update(parse_qsl(body, keep_blank_values=True))
    token_arg = args.pop("token", None)
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
    if token is None and not is_json and token_arg:
        token = str(token_arg)
    return args, token


def fault_answer(status: int, retry_after: int | None) -> tuple[int, dict[str, str], Json]:
    """What Slack answers when it limits a call (429) or fails (5xx)."""
    if status == 429:
        return 429, {"Retry-After": str(retry_after or 0)}, {"ok": False, "error": "ratelimited"}
    error = "internal_error" if status == 500 else "service_unavailable"
    return status, {}, {"ok": False, "error": error}
