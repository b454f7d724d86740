"""Running the bot: uvicorn for HTTP (``preprod serve``), or Socket Mode (``preprod socket``)."""

from __future__ import annotations

import asyncio
import gc
import logging

import uvicorn
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from bot.settings import Settings
from bot.web.app import create_app
from bot.web.bot import build_bot

log = logging.getLogger(__name__)


def run_server(mode: str, host: str, port: int) -> int:
    logging.getLogger().setLevel(logging.INFO)
    for chatty in ("httpx", "httpcore", "slack_sdk", "slack_bolt"):  # per-request lines
        logging.getLogger(chatty).setLevel(logging.WARNING)
    if mode == "socket":
        settings = Settings.from_env(socket=True)
        asyncio.run(_socket_mode(settings))
        return 0
    app = create_app(build_bot(Settings.from_env()))
    settle_heap()
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
    return 0


def settle_heap() -> None:
    """Move everything loaded at start-up (libraries, config, app) out of the collector's
    view: full collections then scan only what requests create, so they stop pausing the
    event loop for tens of milliseconds in front of an ack (see bench/ack_latency.py)."""
    gc.collect()
    gc.freeze()


async def _socket_mode(settings: Settings) -> None:
    bot = build_bot(settings)
    settle_heap()
    assert settings.app_token is not None
    handler = AsyncSocketModeHandler(bot.bolt, settings.app_token)
    bot.start()
    try:
        await handler.start_async()  # type: ignore[no-untyped-call]
    finally:
        await bot.aclose()
