"""The one ASGI application: Slack events (Bolt), the run pages, health.

``preprod serve`` runs it under uvicorn; ``preprod socket`` runs the same Bolt app over
Socket Mode for a workspace without a public URL."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bot.config.loader import load_config
from bot.config.schema import Config
from bot.gate.actions import Gate
from bot.gate.roles import RoleDirectory
from bot.reports import render_html
from bot.settings import Settings
from bot.slack.client import SlackClient
from bot.slack.dispatch import Dispatcher
from bot.slack.runs import RunManager
from bot.store.runs import RunStore
from bot.web.metrics import gather as gather_metrics
from bot.web.metrics import render as render_metrics
from bot.web.pages import render_run_list
from handlers import register_all

log = logging.getLogger(__name__)
EXPIRY_INTERVAL = 60.0


@dataclass
class Bot:
    """Everything a running bot holds, built once at start-up."""

    settings: Settings
    config: Config
    store: RunStore
    slack: SlackClient
    manager: RunManager
    bolt: AsyncApp
    gate: Gate
    _expiry: asyncio.Task[None] | None = None

    def start(self, every: float = EXPIRY_INTERVAL) -> None:
        """Background duties: runs past their sign-off deadline are announced expired."""
        self._expiry = asyncio.create_task(self._expire_forever(every))

    async def _expire_forever(self, every: float) -> None:
        try:
            await self.manager.recover()
        except Exception:
            log.exception("marking interrupted runs failed")
        while True:
            try:
                await self.gate.expire_due()
            except Exception:
                log.exception("checking sign-off deadlines failed; trying again later")
            await asyncio.sleep(every)

    async def aclose(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        await self.manager.aclose()
        await self.slack.aclose()


def build_bot(settings: Settings, config: Config | None = None) -> Bot:
    config = config or load_config(settings.config_path)
    store = RunStore(settings.database_url)
    slack = SlackClient(settings.bot_token, base_url=settings.api_url)
    gate = Gate(config, store, slack, settings, RoleDirectory(config, slack.usergroup_members))
    manager = RunManager(config, store, slack, settings, gate)
    bolt = AsyncApp(
        client=slack.web_client,
        signing_secret=settings.signing_secret or None,
        # Bolt's own "unhandled request" warnings are noise for events we do not use.
        raise_error_for_unhandled_request=False,
    )
    register_all(bolt, Dispatcher(manager), gate)
    return Bot(settings, config, store, slack, manager, bolt, gate)


def create_app(bot: Bot) -> Starlette:
    slack_handler = AsyncSlackRequestHandler(bot.bolt)

    async def slack_events(request: Request) -> Response:
        return await slack_handler.handle(request)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "active_runs": len(bot.manager.tasks)})

    async def metrics(request: Request) -> Response:
        snapshot = await gather_metrics(
            bot.store,
            active_runs=len(bot.manager.tasks),
            slack_calls=bot.slack.metrics(),
            progress_updates=dict(bot.manager.coalescer.stats),
        )
        return Response(render_metrics(snapshot), media_type=CONTENT_TYPE_LATEST)

    async def runs(request: Request) -> Response:
        return HTMLResponse(render_run_list(await bot.store.list_runs(100), bot.settings))

    async def run_report(request: Request) -> Response:
        try:
            report = await bot.store.report(int(request.path_params["run_id"]))
        except LookupError:
            return HTMLResponse("<h1>No such run</h1>", status_code=404)
        return HTMLResponse(render_html(report))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        bot.start()
        yield
        await bot.aclose()

    return Starlette(
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/healthz", healthz),
            Route("/metrics", metrics),
            Route("/runs", runs),
            Route("/runs/{run_id:int}", run_report),
        ],
        lifespan=lifespan,
    )
