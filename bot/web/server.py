"""Running the bot: uvicorn for HTTP (``preprod serve``), or Socket Mode (``preprod socket``).

Both stop the same way on SIGTERM or SIGINT (bot/web/shutdown.py): no new work, acks in
flight answered, runs handed over to another replica, within a bounded time."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
from types import FrameType

import uvicorn
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from bot.settings import Settings, SettingsError
from bot.web.app import create_app
from bot.web.bot import Bot, build_bot
from bot.web.shutdown import Stopping, log_hand_overs

log = logging.getLogger(__name__)

REQUEST_GRACE_S = 3
"""How long a stop waits for HTTP requests in flight (Slack wants its ack within 3 s)."""


def run_server(mode: str, host: str, port: int) -> int:
    logging.getLogger().setLevel(logging.INFO)
    for chatty in ("httpx", "httpcore", "slack_sdk", "slack_bolt"):  # per-request lines
        logging.getLogger(chatty).setLevel(logging.WARNING)
    if mode == "socket":
        settings = Settings.from_env(socket=True)
        asyncio.run(_socket_mode(settings))
        return 0
    settings = Settings.from_env()
    if refusal := settings.web_refusal():
        raise SettingsError(refusal)
    bot = build_bot(settings)
    config = uvicorn.Config(
        create_app(bot),
        host=host,
        port=port,
        log_level="info",
        access_log=False,
        timeout_graceful_shutdown=REQUEST_GRACE_S,
    )
    settle_heap()
    BoundedServer(config, bot).run()
    return 0


def settle_heap() -> None:
    """Move everything loaded at start-up (libraries, config, app) out of the collector's
    view: full collections then scan only what requests create, so they stop pausing the
    event loop for tens of milliseconds in front of an ack (see bench/ack_latency.py)."""
    gc.collect()
    gc.freeze()


class BoundedServer(uvicorn.Server):
    """uvicorn's own graceful stop (stop listening, answer the requests in flight, then
    the lifespan shutdown that hands runs over), bounded: uvicorn would wait for ever on
    the lifespan, and forces nothing on a second SIGTERM."""

    def __init__(self, config: uvicorn.Config, bot: Bot) -> None:
        super().__init__(config)
        self._first: tuple[int, FrameType | None] | None = None
        self.stopping = Stopping(bot, self._graceful)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._first = (sig, frame)
        self.stopping.signalled()

    def _graceful(self) -> None:
        assert self._first is not None
        super().handle_exit(*self._first)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        running = sorted(self.stopping.bot.manager.tasks)
        await super().shutdown(sockets)  # the lifespan's end closes the bot
        await log_hand_overs(self.stopping.bot, running)


async def _socket_mode(settings: Settings) -> None:
    bot = build_bot(settings)
    settle_heap()
    assert settings.app_token is not None
    handler = AsyncSocketModeHandler(bot.bolt, settings.app_token)
    stop = asyncio.Event()
    stopping = Stopping(bot, stop.set)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.signalled)
    bot.start()
    connecting = asyncio.ensure_future(handler.connect_async())  # type: ignore[no-untyped-call]
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([connecting, stopped], return_when=asyncio.FIRST_COMPLETED)
        if connecting.done() and not stopped.done():
            connecting.result()  # a connection that failed for good ends the process
            await stopped
    finally:
        connecting.cancel()
        stopped.cancel()
        await _acks_in_flight(REQUEST_GRACE_S)
        await handler.close_async()  # type: ignore[no-untyped-call]
        running = sorted(bot.manager.tasks)
        await bot.aclose()
        await log_hand_overs(bot, running)


async def _acks_in_flight(timeout: float) -> None:
    """Let the Socket Mode envelopes being handled finish (their acks go out on the
    socket still open); slack_sdk keeps no handle on them, so they are found by name."""
    pending = [
        task
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "__qualname__", "").endswith("run_message_listeners")
    ]
    if pending:
        await asyncio.wait(pending, timeout=timeout)
