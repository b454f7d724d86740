"""Slack's request signature, checked before anything reads the body's meaning.

Bolt parses the body before it verifies the signature (so an unsigned malformed body was
a 500 with a traceback), logs refusals with the whole body at INFO, and takes any body
size. This layer sits in front of it: the body is read in chunks up to a limit (413
beyond, without reading the rest), the timestamp and the signature are checked, and a
refusal is one log line without the body and a 401. The HMAC is computed over the raw
bytes (slack_sdk's verifier decodes them as UTF-8 first, which raises on a binary body)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Message

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
"""Slack's largest payloads (a modal of 100 blocks with its state) stay far below this."""
WINDOW = 5 * 60
"""Slack's replay window: a request signed further from now than this is refused."""

Handler = Callable[[Request], Awaitable[Response]]


class TooLarge(Exception):
    """The body is over the limit; nothing more of it is read."""


@dataclass
class SignedOnly:
    """Hands only signed requests within the size limit to ``handler``."""

    handler: Handler
    signing_secret: str
    max_body: int = MAX_BODY
    clock: Callable[[], float] = time.time

    async def __call__(self, request: Request) -> Response:
        declared = request.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > self.max_body:
            return self._refuse(request, 413, f"body of {declared} bytes declared")
        try:
            body = await read_bounded(request.stream(), self.max_body)
        except TooLarge:
            return self._refuse(request, 413, f"body over {self.max_body} bytes")
        problem = self.problem(
            body,
            request.headers.get("x-slack-request-timestamp"),
            request.headers.get("x-slack-signature"),
        )
        if problem is not None:
            return self._refuse(request, 401, f"{problem} ({len(body)} bytes)")
        return await self.handler(replayed(request, body))

    def problem(self, body: bytes, timestamp: str | None, signature: str | None) -> str | None:
        """Why the request is not Slack's, or None when it is."""
        if not self.signing_secret.strip():
            return "no signing secret is configured"
        if not timestamp or not signature:
            return "no signature"
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            return "a malformed timestamp"
        if abs(self.clock() - int(timestamp)) > WINDOW:
            return "a timestamp outside the 5-minute window"
        if not hmac.compare_digest(
            expected(self.signing_secret, timestamp, body), signature.encode("utf-8", "replace")
        ):
            return "a bad signature"
        return None

    def _refuse(self, request: Request, status: int, why: str) -> Response:
        client = request.client.host if request.client else "?"
        log.warning("refused a request to %s from %s: %s", request.url.path, client, why)
        message = "request too large" if status == 413 else "invalid request signature"
        return PlainTextResponse(message, status_code=status)


def expected(secret: str, timestamp: str, body: bytes) -> bytes:
    """Slack's signature: ``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    mac = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return b"v0=" + mac.hexdigest().encode()


async def read_bounded(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """The whole body, or :class:`TooLarge` as soon as it passes ``limit`` bytes."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise TooLarge
        parts.append(chunk)
    return b"".join(parts)


def replayed(request: Request, body: bytes) -> Request:
    """The same request with its (already read) body readable again by the next layer."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)
