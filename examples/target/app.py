"""The target's routes, assembled into one ASGI app with :func:`build_app`."""

from __future__ import annotations

import asyncio
import hmac
import random
import secrets
import time
from collections import deque

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from examples.target.compliance import compliance_routes
from examples.target.metrics import Metrics
from examples.target.middleware import TargetMiddleware
from examples.target.settings import SERVICE, Settings
from examples.target.site import build_site

SLOW_SECONDS = 1.2
CONTENTION_SECONDS = 0.35
"""Slower than the load check's p95 limit (300 ms), faster than smoke's max_ms (500 ms)."""
QUOTE_SECONDS = (0.25, 0.35)
"""What pricing a cart takes (a backend call): the endpoint with real work, where a
``regress`` release shows (bench/regression.py)."""
CONTENTION_RATE = 20
"""Item requests per second above which ``contention`` slows them down."""
ITEMS: list[dict[str, object]] = [
    {"id": n, "name": f"item-{n:02d}", "price_cents": 199 + 100 * n, "in_stock": n % 4 != 0}
    for n in range(1, 21)
]
INDEX_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>checkout-api</title></head>
<body><h1>checkout-api</h1><p>Example target for preprod.</p></body></html>
"""


class Routes:
    """Endpoint handlers bound to one process's settings and metrics."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.item_times: deque[float] = deque()

    async def index(self, request: Request) -> Response:
        response = HTMLResponse(INDEX_HTML)
        cookie = f"session={secrets.token_urlsafe(16)}; Path=/"
        if not self.settings.has("insecure-cookie"):
            cookie += "; Secure; HttpOnly; SameSite=Lax"
        response.headers.append("Set-Cookie", cookie)
        return response

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def version(self, request: Request) -> Response:
        return JSONResponse(
            {
                "service": SERVICE,
                "version": self.settings.app_version,
                "runtime": "python3.11",
                "schema": "42",
                "flags": {"new_checkout": True},
            }
        )

    async def _item_defects(self) -> Response | None:
        if self.settings.has("slow"):
            await asyncio.sleep(SLOW_SECONDS)
        if self.settings.has("errors"):
            return JSONResponse({"error": "internal server error"}, status_code=500)
        return None

    async def items(self, request: Request) -> Response:
        return await self._item_defects() or JSONResponse(ITEMS)

    async def quote(self, request: Request) -> Response:
        """Prices a cart: 250 to 350 ms of (simulated) backend work."""
        await asyncio.sleep(random.uniform(*QUOTE_SECONDS))
        return JSONResponse({"total_cents": sum(int(str(i["price_cents"])) for i in ITEMS[:3])})

    def _busy(self) -> bool:
        """Whether item requests arrive faster than ``CONTENTION_RATE`` a second."""
        now = time.monotonic()
        self.item_times.append(now)
        while self.item_times[0] < now - 1:
            self.item_times.popleft()
        return len(self.item_times) > CONTENTION_RATE

    async def item(self, request: Request) -> Response:
        if self.settings.has("contention") and self._busy():
            await asyncio.sleep(CONTENTION_SECONDS)  # a few requests (smoke) stay fast
        if (failure := await self._item_defects()) is not None:
            return failure
        raw = request.path_params["id"]
        found = [item for item in ITEMS if str(item["id"]) == raw]
        if not found:
            return JSONResponse({"error": f"no item {raw}"}, status_code=404)
        return JSONResponse(found[0])

    def authorised(self, request: Request) -> bool:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            credentials.strip().encode(), self.settings.token.encode()
        )

    def _unauthorised(self) -> Response:
        return JSONResponse(
            {"error": "authentication required"},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="checkout-api"'},
        )

    async def admin(self, request: Request) -> Response:
        if not (self.settings.has("open-admin") or self.authorised(request)):
            return self._unauthorised()
        return JSONResponse({"admin": True, "service": SERVICE})

    async def private(self, request: Request) -> Response:
        if not self.authorised(request):
            return self._unauthorised()
        return JSONResponse({"private": True, "orders_today": 1234})

    async def metrics_text(self, request: Request) -> Response:
        return PlainTextResponse(
            self.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "internal server error"
    return JSONResponse({"error": detail}, status_code=status)


def build_app(settings: Settings) -> ASGIApp:
    """The whole target: app instances behind blue/green slots (examples/target/site.py)."""
    return build_site(settings, build_instance)


def build_instance(settings: Settings) -> ASGIApp:
    """One instance of the app: routes wrapped in :class:`TargetMiddleware`."""
    metrics = Metrics(SERVICE, settings.app_version)
    handlers = Routes(settings, metrics)
    routes = [
        Route("/", handlers.index),
        Route("/healthz", handlers.healthz),
        Route("/version", handlers.version),
        Route("/api/items", handlers.items),
        Route("/api/items/{id}", handlers.item),
        Route("/api/quote", handlers.quote),
        Route("/admin", handlers.admin),
        Route("/api/private", handlers.private),
        Route("/metrics", handlers.metrics_text),
        *compliance_routes(settings),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    return TargetMiddleware(app, routes, settings, metrics)
