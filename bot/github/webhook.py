"""Checking a webhook from GitHub before anything reads it: a bounded body, the
``X-Hub-Signature-256`` HMAC over the raw bytes (compared in constant time), then the
event name and the ``X-GitHub-Delivery`` GUID (the same on a redelivery: the key to
deduplicate on). Only then is the body parsed as JSON. Pure except ``read_bounded``.

Body cap: GitHub drops payloads over 25 MB, but the one event the gate takes,
``deployment_protection_rule``, is ~10 KB (a repository, an organization, a sender, an
optional deployment). ``MAX_BODY`` is 1 MiB: a hundred times that, and small enough that
unauthenticated senders cannot make the bot buffer much before the signature is checked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_BODY = 1024 * 1024
SIGNATURE_HEADER = "x-hub-signature-256"
EVENT_HEADER = "x-github-event"
DELIVERY_HEADER = "x-github-delivery"


def seen_key(guid: str) -> str:
    """The seen-requests key a delivery is claimed under (a redelivery: the same)."""
    return f"github:delivery:{guid}"


class WebhookProblem(ValueError):
    """Why a webhook is refused (one line); ``status`` is the HTTP answer to give."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Webhook:
    event: str
    delivery: uuid.UUID
    payload: dict[str, Any]

    @property
    def action(self) -> str | None:
        action = self.payload.get("action")
        return action if isinstance(action, str) else None


def signature(secret: str, body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256 of ``body``: what GitHub puts in the header."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is the signature of the raw ``body`` (constant-time compare)."""
    if not secret or not header:
        return False
    return hmac.compare_digest(signature(secret, body).encode(), header.strip().encode())


def delivery_id(header: str | None) -> uuid.UUID:
    """The ``X-GitHub-Delivery`` GUID."""
    try:
        return uuid.UUID((header or "").strip())
    except ValueError:
        raise WebhookProblem("X-GitHub-Delivery: expected a GUID") from None


async def read_bounded(chunks: AsyncIterable[bytes], limit: int = MAX_BODY) -> bytes:
    """The body, read until ``limit`` bytes; past it, 413 without reading the rest."""
    body = bytearray()
    async for chunk in chunks:
        body.extend(chunk)
        if len(body) > limit:
            raise WebhookProblem(f"body larger than {limit} bytes", status=413)
    return bytes(body)


def check(headers: Mapping[str, str], body: bytes, secret: str) -> Webhook:
    """A webhook whose signature holds, with its event, delivery GUID and JSON payload.

    ``headers`` may use any case. The signature is checked over the raw body first: an
    unsigned or forged request is refused (401) before any of it is parsed.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    if len(body) > MAX_BODY:
        raise WebhookProblem(f"body larger than {MAX_BODY} bytes", status=413)
    if not signature_ok(secret, body, lower.get(SIGNATURE_HEADER)):
        raise WebhookProblem("X-Hub-Signature-256: missing or wrong", status=401)
    delivery = delivery_id(lower.get(DELIVERY_HEADER))
    event = lower.get(EVENT_HEADER, "").strip()
    if not event or len(event) > 64 or not event.replace("_", "").isalnum():
        raise WebhookProblem("X-GitHub-Event: expected an event name")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookProblem("body: expected JSON") from None
    if not isinstance(payload, dict):
        raise WebhookProblem("body: expected a JSON object")
    return Webhook(event, delivery, payload)
