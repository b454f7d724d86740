"""The one ASGI application: Slack events (Bolt), the signed-in pages, health, metrics.

``preprod serve`` runs it under uvicorn; ``preprod socket`` too, without ``/slack/events``
(``slack_over_http=False``: Slack's events come over Socket Mode, for a workspace without
a public URL, and the route answers 404). Only ``/slack/events`` (signed by
Slack), ``/healthz`` (liveness), ``/readyz`` (readiness: bot/web/ready.py), the sign-in
routes and the public signing key (``/.well-known/preprod-signing-key.pem``) answer
without a session; ``/metrics`` wants the ``PREPROD_METRICS_TOKEN`` bearer token;
``/api/v1`` (bot/web/api.py) a pipeline token and nothing else; ``/github/webhook``
(bot/web/github_hook.py, only when the
GitHub App is configured) GitHub's signature."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import CONTENT_TYPE_LATEST
from slack_bolt.adapter.starlette.async_handler import to_starlette_response
from slack_bolt.request.async_request import AsyncBoltRequest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.audit.keys import KeyProblem, public_pem
from bot.signing import signing_key
from bot.slack.blocks import Message
from bot.slack.client import SlackCallError
from bot.slack.payloads import Salvaged
from bot.store.seen import SeenRequests
from bot.store.sessions import WebSessions
from bot.web.api import Api
from bot.web.api_http import client_gone
from bot.web.bot import Bot
from bot.web.dashboard import Dashboard
from bot.web.dedupe import Deduplicated
from bot.web.github_hook import GitHubHook
from bot.web.headers import SecurityHeaders
from bot.web.insights import InsightsPages
from bot.web.metrics import Health
from bot.web.metrics import gather as gather_metrics
from bot.web.metrics import render as render_metrics
from bot.web.names import DisplayNames
from bot.web.ready import ReadinessProbe
from bot.web.signed import SignedOnly
from bot.web.signin import SESSION_COOKIE, SignIn, stored_sessions
from bot.web.trail import AuditTrail, StoredAuditTrail

log = logging.getLogger(__name__)
WELL_KNOWN_KEY = "/.well-known/preprod-signing-key.pem"


def create_app(
    bot: Bot,
    trail: AuditTrail | None = None,
    sessions: WebSessions | None = None,
    *,
    slack_over_http: bool = True,
) -> Starlette:

    # Signed and within the size limit first, then once per Slack id, then Bolt.
    async def tell(where: Salvaged, message: Message) -> None:
        """A private answer where the person clicked (the claim could not be written)."""
        if where.channel is None or where.user is None:
            return
        try:
            await bot.slack.post_ephemeral(
                where.channel, where.user, message.text, message.blocks, where.thread_ts
            )
        except SlackCallError as exc:
            log.warning("could not tell %s privately: %s", where.user, exc)

    seen = SeenRequests(bot.store)

    async def dispatch(request: AsyncBoltRequest) -> Response:
        """Bolt's answer to the request read once at the edge (bot/web/body.py)."""
        return to_starlette_response(await bot.bolt.async_dispatch(request))

    deduplicated = Deduplicated(dispatch, seen, tell, bot.settings.ack_budget)
    guarded = SignedOnly(deduplicated, bot.settings.signing_secret)
    sessions = sessions or stored_sessions(bot.store, bot.settings)
    sign_in = SignIn(bot.settings, bot.gate.directory, sessions)
    names = DisplayNames(bot.slack.user_info)
    dashboard = Dashboard(bot.store, bot.gate, sign_in, trail or StoredAuditTrail(bot.store), names)
    insights = InsightsPages(bot.store, sign_in)
    api = Api(bot)
    github = GitHubHook(bot, api, bot.github) if bot.github is not None else None
    readiness = ReadinessProbe(bot.store, bot.slack.reachability, bot.settings)

    async def slack_events(request: Request) -> Response:
        return await guarded(request)

    async def healthz(request: Request) -> Response:
        """Liveness: the process answers. No database, so a database outage does not get
        the process restarted (that is ``/readyz``'s business)."""
        return JSONResponse({"status": "ok", "active_runs": len(bot.manager.tasks)})

    async def readyz(request: Request) -> Response:
        """Readiness, public like ``/healthz``: the parts and their reasons, no secrets."""
        found = await readiness.check()
        return JSONResponse(found.body(), status_code=found.http_status,
                            headers={"Cache-Control": "no-store"})  # fmt: skip

    async def metrics(request: Request) -> Response:
        if not _bearer_ok(request, bot.settings.metrics_token):
            return Response(
                "a bearer token (PREPROD_METRICS_TOKEN) is required\n",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="preprod metrics"'},
            )
        health = Health(
            await readiness.check(),
            readiness.last_seconds,
            readiness.probes,
            dict(readiness.db_errors),
            bot.slack.reachability.snapshot().errors_by_method,
        )
        snapshot = await gather_metrics(
            bot.store,
            active_runs=len(bot.manager.tasks),
            slack_calls=bot.slack.metrics(),
            progress_updates=dict(bot.manager.coalescer.stats),
            health=health,
        )
        return Response(render_metrics(snapshot), media_type=CONTENT_TYPE_LATEST)

    async def public_key(request: Request) -> Response:
        """The public half of the key that signs checkpoints: public, like ``/healthz``."""
        try:
            key = signing_key()
        except KeyProblem as exc:
            log.error("the signing key cannot be served: %s", exc)
            return PlainTextResponse("the signing key cannot be read\n", status_code=503)
        if key is None:
            return PlainTextResponse("no signing key is configured\n", status_code=404)
        return Response(public_pem(key.public_key()), media_type="application/x-pem-file")

    async def home(request: Request) -> Response:
        return RedirectResponse("/runs", status_code=302)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        bot.start()
        yield
        if github is not None:
            await github.aclose()
        await api.aclose()
        await deduplicated.aclose()
        await bot.aclose()
        readiness.close()

    return Starlette(
        routes=[
            *([Route("/slack/events", slack_events, methods=["POST"])] if slack_over_http else []),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Route(WELL_KNOWN_KEY, public_key),
            Route("/", home),
            *sign_in.routes(),
            *dashboard.routes(),
            *insights.routes(),
            *api.routes(),
            *(github.routes() if github is not None else []),
        ],
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(
                SessionMiddleware,
                secret_key=bot.settings.session_key(),
                session_cookie=SESSION_COOKIE,
                max_age=int(bot.settings.session_ttl),
                same_site="lax",
                https_only=True,
            ),
        ],
        lifespan=lifespan,
        exception_handlers={ClientDisconnect: client_gone},
    )


def _bearer_ok(request: Request, token: str | None) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time; no token set: refused."""
    if not token:
        return False
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    given_bytes, token_bytes = given.strip().encode(), token.encode()
    return scheme.lower() == "bearer" and hmac.compare_digest(given_bytes, token_bytes)
