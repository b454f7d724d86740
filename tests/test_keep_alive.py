"""An idle keep-alive connection outlives the 5 s that uvicorn keeps by default and many
HTTP clients (httpx among them) reuse for: the two raced, and a request sent on a
connection the server was closing at that instant was reset (`httpx.ReadError` in
tests/test_dedupe.py on a quiet machine)."""

from __future__ import annotations

import asyncio

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bot.web import server
from slack_standin.serving import CLIENT_KEEP_ALIVE_S, StandInServer

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"


async def _ok(_: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def test_an_idle_connection_is_still_served_after_six_seconds() -> None:
    served = StandInServer(Starlette(routes=[Route("/", _ok)]))
    await served.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        for _ in range(2):
            writer.write(REQUEST)
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 200"), head
            await reader.readexactly(2)  # "ok"
            await asyncio.sleep(6)  # past uvicorn's default 5 s
        writer.close()
    finally:
        await served.stop()


def test_the_bot_keeps_connections_longer_than_load_balancers_and_clients_keep_them() -> None:
    assert server.KEEP_ALIVE_S > 60  # AWS ALB's idle time-out
    assert uvicorn.Config(Starlette()).timeout_keep_alive > CLIENT_KEEP_ALIVE_S
