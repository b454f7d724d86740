"""Blue/green slots, a rollback and a failover between replicas, in front of the app.

A :class:`Deployment` holds two slots (``blue`` and ``green``), each running one version
of the app in two replicas (``a`` and ``b``). One slot is live; a request goes to its
serving replica. ``POST /ops/deploy`` puts a version in the idle slot (ready after a short
warm-up), ``/ops/switch`` makes the idle slot live, ``/ops/rollback`` goes back to the
other slot, ``/ops/crash`` stops the serving replica (the router notices within
``DETECT_S`` and fails over to the other one) and ``/ops/repair`` starts it again.

Defect switches: ``switch-drops`` stops the old slot before the new one takes traffic (a
window of 503s); ``rollback-stuck`` answers a rollback without switching.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from examples.target.settings import Settings

WARMUP_S = 0.2
DETECT_S = 0.3
SWITCH_GAP_S = 1.0
OTHER = {"blue": "green", "green": "blue"}

BuildInstance = Callable[[Settings], ASGIApp]


@dataclass
class Replica:
    name: str
    app: ASGIApp
    up: bool = True


@dataclass
class Slot:
    colour: str
    version: str
    replicas: list[Replica]
    ready_at: float = 0.0
    serving: int = 0
    down_since: float | None = None

    @property
    def ready(self) -> bool:
        return time.monotonic() >= self.ready_at


@dataclass
class Deployment:
    """The slots of one environment and the router that picks where a request goes."""

    settings: Settings
    build: BuildInstance
    previous_version: str
    slots: dict[str, Slot] = field(default_factory=dict)
    live: str = "green"
    gap_until: float = 0.0
    failovers: int = 0

    def __post_init__(self) -> None:
        self.slots = {
            "blue": self._slot("blue", self.previous_version, warm=True),
            "green": self._slot("green", self.settings.app_version, warm=True),
        }

    def _slot(self, colour: str, version: str, *, warm: bool = False) -> Slot:
        settings = replace(self.settings, app_version=version)
        replicas = [Replica(f"{colour}-{n}", self.build(settings)) for n in ("a", "b")]
        return Slot(colour, version, replicas, 0.0 if warm else time.monotonic() + WARMUP_S)

    @property
    def idle(self) -> str:
        return OTHER[self.live]

    def upstream(self) -> ASGIApp | None:
        """The replica that serves now, or None while nothing can (a 503)."""
        if time.monotonic() < self.gap_until:
            return None
        slot = self._detect()
        replica = slot.replicas[slot.serving]
        return replica.app if replica.up else None

    def _detect(self) -> Slot:
        """The live slot, failed over to a healthy replica once the serving one has been
        down for ``DETECT_S`` (what a load balancer's health checks would notice)."""
        slot = self.slots[self.live]
        healthy = [i for i, r in enumerate(slot.replicas) if r.up]
        down_for = time.monotonic() - (slot.down_since or 0.0)
        if not slot.replicas[slot.serving].up and healthy and down_for >= DETECT_S:
            slot.serving, slot.down_since = healthy[0], None
            self.failovers += 1
        return slot

    def serving(self) -> str:
        slot = self._detect()
        return slot.replicas[slot.serving].name

    def flip(self) -> None:
        """Make the idle slot live: at once, or (``switch-drops``) after a gap."""
        if self.settings.has("switch-drops"):
            self.gap_until = time.monotonic() + SWITCH_GAP_S
        self.live = self.idle

    def state(self) -> dict[str, object]:
        return {
            "live": self.live,
            "version": self.slots[self.live].version,
            "serving": self.serving(),
            "failovers": self.failovers,
            "slots": {
                c: {
                    "version": s.version,
                    "ready": s.ready,
                    "replicas": {r.name: "up" if r.up else "down" for r in s.replicas},
                }
                for c, s in self.slots.items()
            },
        }

    def routes(self) -> list[Route]:
        return [
            Route("/ops/state", self.get_state, methods=["GET"]),
            Route("/ops/deploy", self.post_deploy, methods=["POST"]),
            Route("/ops/switch", self.post_switch, methods=["POST"]),
            Route("/ops/rollback", self.post_rollback, methods=["POST"]),
            Route("/ops/crash", self.post_crash, methods=["POST"]),
            Route("/ops/repair", self.post_repair, methods=["POST"]),
        ]

    async def get_state(self, request: Request) -> Response:
        return JSONResponse(self.state())

    async def post_deploy(self, request: Request) -> Response:
        try:
            version = str((await request.json())["version"])[:64]
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": 'expected {"version": "<version>"}'}, status_code=400)
        self.slots[self.idle] = self._slot(self.idle, version)
        return JSONResponse({"deployed": version, "slot": self.idle})

    async def post_switch(self, request: Request) -> Response:
        if not self.slots[self.idle].ready:
            return JSONResponse({"error": f"slot {self.idle} is not ready"}, status_code=409)
        self.flip()
        return JSONResponse({"live": self.live, "version": self.slots[self.live].version})

    async def post_rollback(self, request: Request) -> Response:
        if not self.settings.has("rollback-stuck"):
            self.flip()
        return JSONResponse({"rolled_back": True, "live": self.live})

    async def post_crash(self, request: Request) -> Response:
        slot = self.slots[self.live]
        slot.replicas[slot.serving].up = False
        slot.down_since = time.monotonic()
        return JSONResponse({"crashed": slot.replicas[slot.serving].name})

    async def post_repair(self, request: Request) -> Response:
        for slot in self.slots.values():
            slot.down_since = None
            for replica in slot.replicas:
                replica.up = True
        return JSONResponse({"repaired": True, "serving": self.serving()})


class Router:
    """The environment's front door: operations routes, then the live replica."""

    def __init__(self, deployment: Deployment, control: ASGIApp, front: ASGIApp) -> None:
        self.deployment = deployment
        self.control = control
        self.front = front

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(("/ops/", "/store/", "/runbooks/")):
            await self.control(scope, receive, send)
            return
        await self.front(scope, receive, send)


def control_app(routes: list[Route]) -> ASGIApp:
    return Starlette(routes=routes)


async def no_upstream(scope: Scope, receive: Receive, send: Send) -> None:
    """What a load balancer answers when no replica can take the request."""
    await JSONResponse({"error": "no healthy upstream"}, status_code=503)(scope, receive, send)
