"""Cross-cutting behaviour: security headers, metrics, and the /api/* defects."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence

from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from examples.target.metrics import Metrics
from examples.target.settings import Settings

SECURITY_HEADERS: dict[str, str] = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
LEAKY_HEADERS: dict[str, str] = {"Server": "uvicorn/0.30.1", "X-Powered-By": "Python/3.11"}
FLAKY_RATE = 0.10
DEGRADE_MS_PER_REQUEST = 2.0
DEGRADE_MAX_IN_FLIGHT = 40


def response_headers(settings: Settings) -> dict[str, str]:
    """The headers every response carries, minus (or plus) what the defects say."""
    headers = dict(SECURITY_HEADERS)
    if settings.has("no-hsts"):
        del headers["Strict-Transport-Security"]
    if settings.has("no-csp"):
        del headers["Content-Security-Policy"]
    if settings.has("server-version"):
        headers.update(LEAKY_HEADERS)
    return headers


class TargetMiddleware:
    """Wraps the routed app: counts requests, adds headers, applies load-related defects."""

    def __init__(
        self, app: ASGIApp, routes: Sequence[BaseRoute], settings: Settings, metrics: Metrics
    ) -> None:
        self.app = app
        self.routes = routes
        self.settings = settings
        self.metrics = metrics
        self.headers = response_headers(settings)

    def route_label(self, scope: Scope) -> str:
        """The route template for metrics labels (``/api/items/{id}``), or ``other``."""
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return str(getattr(route, "path", "other"))
        return "other"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        label = self.route_label(scope)
        status = 500
        started = time.perf_counter()
        regress = self.settings.amount("regress") if scope["path"].startswith("/api/") else 0.0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                if regress:  # the release is N% slower: hold the answer N% of its time
                    await asyncio.sleep((time.perf_counter() - started) * regress / 100)
                status = int(message["status"])
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers[name] = value
            await send(message)

        self.metrics.in_flight += 1
        try:
            early = await self.api_defects(scope) if scope["path"].startswith("/api/") else None
            if early is not None:
                await early(scope, receive, send_with_headers)
            else:
                await self.app(scope, receive, send_with_headers)
        finally:
            self.metrics.in_flight -= 1
            self.metrics.record(label, status)

    async def api_defects(self, scope: Scope) -> Response | None:
        """``degrade`` and ``flaky``: an error response to send instead, or None."""
        if self.settings.has("degrade"):
            in_flight = self.metrics.in_flight
            await asyncio.sleep(DEGRADE_MS_PER_REQUEST * in_flight / 1000)
            if in_flight > DEGRADE_MAX_IN_FLIGHT:
                return JSONResponse({"error": "overloaded"}, status_code=503)
        if self.settings.has("flaky") and random.random() < FLAKY_RATE:
            return JSONResponse({"error": "internal server error"}, status_code=500)
        return None
