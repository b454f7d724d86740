"""Webhooks out: signed as GitHub signs them, each attempt recorded with its answer.

GitHub sends ``X-GitHub-Event``, ``X-GitHub-Delivery`` (a GUID, the same on a
redelivery) and ``X-Hub-Signature-256`` (``sha256=`` + hex HMAC-SHA256 of the raw body
with the webhook secret), and never retries a failed delivery by itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from github_standin.app import utcnow

USER_AGENT = "GitHub-Hookshot/standin"


def sign(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class Delivery:
    """One attempt to deliver a webhook. ``dropped`` ones never left the stand-in (fault
    injection: the network lost them), so the bot saw nothing and the status is 0."""

    id: int
    guid: str
    event: str
    action: str | None
    body: bytes
    headers: dict[str, str]
    delivered_at: datetime
    redelivery: bool = False
    dropped: bool = False
    status_code: int = 0
    response_body: str = ""
    error: str | None = None
    duration: float = 0.0
    installation_id: int | None = None
    repository_id: int | None = None
    done: bool = False
    """The attempt is over (answered, failed or dropped): GitHub lists only those."""

    @property
    def payload(self) -> Any:
        return json.loads(self.body)

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def status(self) -> str:
        """The words GitHub's delivery list uses."""
        if self.ok:
            return "OK"
        if self.dropped or self.error:
            return "timed out" if self.dropped else f"failed to connect: {self.error}"
        return f"Invalid HTTP Response: {self.status_code}"

    def summary(self) -> dict[str, Any]:
        """This attempt as ``GET /app/hook/deliveries`` lists it."""
        return {
            "id": self.id,
            "guid": self.guid,
            "delivered_at": self.delivered_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "redelivery": self.redelivery,
            "duration": round(self.duration, 3),
            "status": self.status,
            "status_code": self.status_code,
            "event": self.event,
            "action": self.action,
            "installation_id": self.installation_id,
            "repository_id": self.repository_id,
            "throttled_at": None,
        }


def _ids(payload: Any) -> tuple[str | None, int | None, int | None]:
    if not isinstance(payload, dict):
        return None, None, None
    action = payload.get("action")
    inst = payload.get("installation")
    repo = payload.get("repository")
    return (
        action if isinstance(action, str) else None,
        inst.get("id") if isinstance(inst, dict) else None,
        repo.get("id") if isinstance(repo, dict) else None,
    )


class Hooks:
    """The App's webhook: where it goes, what was sent, and the drop knob."""

    def __init__(self, secret: str, url: str = "") -> None:
        self.secret = secret
        self.url = url
        self.deliveries: list[Delivery] = []
        self._drops = 0
        self._next_id = 1

    def drop(self, times: int = 1) -> None:
        """Lose the next ``times`` deliveries (recorded, never sent)."""
        self._drops += times

    def find(self, guid: str) -> Delivery:
        """The latest attempt of the delivery ``guid`` (KeyError if none)."""
        for delivery in reversed(self.deliveries):
            if delivery.guid == guid:
                return delivery
        raise KeyError(guid)

    def by_id(self, delivery_id: int) -> Delivery | None:
        return next((d for d in self.deliveries if d.id == delivery_id), None)

    async def deliver(self, client: httpx.AsyncClient, event: str, payload: Any) -> Delivery:
        body = json.dumps(payload, separators=(",", ":")).encode()
        return await self._send(client, event, body, str(uuid.uuid4()), redelivery=False)

    async def redeliver(self, client: httpx.AsyncClient, guid: str) -> Delivery:
        first = self.find(guid)
        return await self._send(client, first.event, first.body, guid, redelivery=True)

    async def _send(
        self, client: httpx.AsyncClient, event: str, body: bytes, guid: str, *, redelivery: bool
    ) -> Delivery:
        action, installation_id, repository_id = _ids(json.loads(body))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": guid,
            "X-GitHub-Hook-ID": "1",
            "X-Hub-Signature-256": sign(self.secret, body),
        }
        delivery = Delivery(
            self._next_id,
            guid,
            event,
            action,
            body,
            headers,
            utcnow(),
            redelivery,
            installation_id=installation_id,
            repository_id=repository_id,
        )
        self._next_id += 1
        self.deliveries.append(delivery)
        if self._drops > 0:
            self._drops -= 1
            delivery.dropped = delivery.done = True
            return delivery
        if not self.url:
            raise RuntimeError("no webhook URL: set GitHubStandIn.hooks.url to the bot's")
        started = time.monotonic()
        try:
            answer = await client.post(self.url, content=body, headers=headers, timeout=10.0)
        except httpx.HTTPError as err:
            delivery.error = type(err).__name__
        else:
            delivery.status_code, delivery.response_body = answer.status_code, answer.text
        delivery.duration = time.monotonic() - started
        delivery.done = True
        return delivery
