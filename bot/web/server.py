"""Running the bot: uvicorn for HTTP (``preprod serve``), or Socket Mode (``preprod socket``).

Both serve the same web app (pages, ``/healthz``, ``/readyz``, ``/metrics``, ``/api``) on
``--host``/``--port``; in Socket Mode Slack's events come over the socket instead of
``POST /slack/events`` (not routed: 404), and uvicorn's lifespan starts and closes the
bot once for both. Both stop the same way on SIGTERM or SIGINT (bot/web/shutdown.py): no
new work, acks in flight answered, runs handed over to another replica, within a bounded
time."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
from types import FrameType

import uvicorn
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from bot.config.schema import Config
from bot.engine.heap import collect_less_often
from bot.settings import Settings, SettingsError
from bot.web.app import create_app
from bot.web.bot import Bot, build_bot
from bot.web.shutdown import Stopping, log_hand_overs
from checks.warm import load_for_runs

log = logging.getLogger(__name__)

REQUEST_GRACE_S = 3
"""How long a stop waits for HTTP requests in flight (Slack wants its ack within 3 s)."""


KEEP_ALIVE_S = 75
"""Seconds an idle keep-alive connection stays open: longer than the load balancers' idle
time-outs in front of the bot (60 s on AWS's ALB), so that none of them reuses a
connection the bot is closing at that moment (a reset for the request it just sent).
uvicorn's default, 5 s, is the idle time-out of many HTTP clients too, so the two raced."""


def run_server(mode: str, host: str, port: int) -> int:
    logging.getLogger().setLevel(logging.INFO)
    for chatty in ("httpx", "httpcore", "slack_sdk", "slack_bolt"):  # per-request lines
        logging.getLogger(chatty).setLevel(logging.WARNING)
    socket_mode = mode == "socket"
    settings = Settings.from_env(socket=socket_mode)
    if refusal := settings.web_refusal():
        raise SettingsError(refusal)
    bot = build_bot(settings)
    if bot.manager.executes:
        warm_up(bot.manager.config)
    config = uvicorn.Config(
        create_app(bot, slack_over_http=not socket_mode),
        host=host,
        port=port,
        log_level="info",
        access_log=False,
        timeout_graceful_shutdown=REQUEST_GRACE_S,
        timeout_keep_alive=KEEP_ALIVE_S,
    )
    settle_heap()
    if socket_mode:
        assert settings.app_token is not None
        server = SocketModeServer(config, bot, settings.app_token)
        server.run()
        server.raise_failure()
    else:
        BoundedServer(config, bot).run()
    return 0


def warm_up(config: Config) -> None:
    """Load what the first run of the config's plans would load (checks/warm.py), before
    the first ack waits behind it."""
    kinds = (spec.type for plan in config.plans.values() for spec in plan.checks)
    bundles = (env.ca_bundle for env in config.environments.values())
    for failure in load_for_runs(kinds, bundles):
        log.info("not loaded ahead of the first run: %s", failure)


def settle_heap() -> None:
    """Move everything loaded at start-up (libraries, config, app) out of the collector's
    view: full collections then scan only what requests create, so they stop pausing the
    event loop for tens of milliseconds in front of an ack (see bench/ack_latency.py)."""
    gc.collect()
    gc.freeze()
    collect_less_often()  # bot/engine/heap.py


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


class SocketModeServer(BoundedServer):
    """The web app under uvicorn plus Slack's Socket Mode in the same event loop: the
    socket connects once the lifespan has started the bot and the port listens, and is
    closed (acks in flight answered first) before the lifespan closes the bot. A
    connection that fails for good stops the server and ends the process with its error."""

    def __init__(self, config: uvicorn.Config, bot: Bot, app_token: str) -> None:
        super().__init__(config, bot)
        self.app_token = app_token
        self.handler: AsyncSocketModeHandler | None = None
        self.connecting: asyncio.Future[None] | None = None
        self.failure: BaseException | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.should_exit or not self.started:
            return
        self.handler = AsyncSocketModeHandler(self.stopping.bot.bolt, self.app_token)
        self.connecting = asyncio.ensure_future(self.handler.connect_async())  # type: ignore[no-untyped-call]

    async def on_tick(self, counter: int) -> bool:
        connecting = self.connecting
        failed = connecting is not None and connecting.done() and not connecting.cancelled()
        if failed and self.failure is None and connecting and connecting.exception():
            self.failure = connecting.exception()
            log.error("Socket Mode could not connect: %s", self.failure)
            return True
        return await super().on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.connecting is not None:
            self.connecting.cancel()
        if self.handler is not None:
            await _acks_in_flight(REQUEST_GRACE_S)
            await self.handler.close_async()  # type: ignore[no-untyped-call]
        await super().shutdown(sockets)

    def raise_failure(self) -> None:
        """After ``run``: the Socket Mode connection's error, if that is what ended it."""
        if self.failure is not None:
            raise self.failure


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
