"""The one ASGI application: Slack events (Bolt), the run pages, health.

``preprod serve`` runs it under uvicorn; ``preprod socket`` runs the same Bolt app over
Socket Mode for a workspace without a public URL."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import CONTENT_TYPE_LATEST
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bot.reports import render_html
from bot.store.seen import SeenRequests
from bot.web.bot import Bot
from bot.web.dedupe import Deduplicated
from bot.web.metrics import gather as gather_metrics
from bot.web.metrics import render as render_metrics
from bot.web.pages import render_run_list
from bot.web.signed import SignedOnly

log = logging.getLogger(__name__)


def create_app(bot: Bot) -> Starlette:
    slack_handler = AsyncSlackRequestHandler(bot.bolt)
    # Signed and within the size limit first, then once per Slack id, then Bolt.
    deduplicated = Deduplicated(slack_handler.handle, SeenRequests(bot.store))
    guarded = SignedOnly(deduplicated, bot.settings.signing_secret)

    async def slack_events(request: Request) -> Response:
        return await guarded(request)

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
