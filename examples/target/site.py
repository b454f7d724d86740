"""The whole target: the environment under test and, by host name, its production twin.

Requests for host ``localhost`` reach a second, independent deployment that plays
production (the previous version, never any defect), so that a ``parity`` check has a
production to compare with on one machine; any other host (``127.0.0.1``) reaches the
environment under test. Each environment is a :class:`Deployment` (blue/green slots of
app replicas) with its own datastore, behind a front door that answers ``/healthz`` from
the store's health too and adds the deployment's families to ``/metrics``.
"""

from __future__ import annotations

import os
from dataclasses import replace

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from examples.target import ops
from examples.target.datastore import DataStore
from examples.target.deploy import BuildInstance, Deployment, Router, no_upstream
from examples.target.settings import Settings

PRODUCTION_HOST = "localhost"
DEFAULT_PREVIOUS_VERSION = "2.13.0"


class Front:
    """Where traffic enters one environment: health, metrics, then the live replica."""

    def __init__(self, settings: Settings, deployment: Deployment, store: DataStore) -> None:
        self.deployment = deployment
        self.store = store
        self.registry = ops.registry(settings, deployment, store)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        upstream = self.deployment.upstream()
        if scope["type"] != "http" or upstream is None:
            await (upstream or no_upstream)(scope, receive, send)
            return
        if scope["path"] == "/healthz" and self.store.health() != "ok":
            health = {"status": "degraded", "checks": {"datastore": self.store.health()}}
            await JSONResponse(health)(scope, receive, send)
        elif scope["path"] == "/metrics":
            status, headers, body = await _captured(upstream, scope, receive)
            if status == 200:
                body += ops.exposition(self.registry)
            response = Response(body, status_code=status)
            response.raw_headers = [h for h in headers if h[0] != b"content-length"]
            response.raw_headers.append((b"content-length", str(len(body)).encode()))
            await response(scope, receive, send)
        else:
            await upstream(scope, receive, send)


RawHeaders = list[tuple[bytes, bytes]]


async def _captured(app: ASGIApp, scope: Scope, receive: Receive) -> tuple[int, RawHeaders, bytes]:
    """Run ``app`` and keep its whole response instead of sending it."""
    status = [500]
    headers: RawHeaders = []
    body = bytearray()

    async def keep(message: Message) -> None:
        if message["type"] == "http.response.start":
            status[0] = int(message["status"])
            headers.extend(message.get("headers", []))
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    await app(scope, receive, keep)
    return status[0], headers, bytes(body)


def environment(settings: Settings, build: BuildInstance, previous_version: str) -> ASGIApp:
    store = DataStore(
        lagging_replica=settings.has("restore-loses-data"),
        degraded=settings.has("health-degraded"),
    )
    deployment = Deployment(settings, build, previous_version)
    control = Starlette(routes=[*deployment.routes(), *store.routes(), *ops.routes(settings)])
    return Router(deployment, control, Front(settings, deployment, store))


class Site:
    """Name-based virtual hosting: production for ``localhost``, the environment else."""

    def __init__(self, staging: ASGIApp, production: ASGIApp) -> None:
        self.staging = staging
        self.production = production

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = Headers(scope=scope).get("host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        app = self.production if name.lower() == PRODUCTION_HOST else self.staging
        await app(scope, receive, send)


def build_site(settings: Settings, build: BuildInstance) -> ASGIApp:
    previous = os.environ.get("TARGET_PREVIOUS_VERSION") or DEFAULT_PREVIOUS_VERSION
    # Production keeps no state files: the scan report and audit log in the state
    # directory are the environment's under test (with its defects).
    production = replace(settings, app_version=previous, defects=(), state_dir="")
    return Site(
        environment(settings, build, previous),
        environment(production, build, previous),
    )
