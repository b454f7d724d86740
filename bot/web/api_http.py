"""The API's HTTP edges: its one error shape, bounded JSON bodies read into pydantic
models, and the ``Idempotency-Key`` header."""

from __future__ import annotations

import json
import logging
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)
MAX_BODY = 16 * 1024
MAX_KEY = 200


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error(status: int, code: str, message: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="preprod api"'} if status == 401 else {}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    body = {"error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


def answer(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return json_body(encoded(model), status, headers)


def encoded(model: BaseModel) -> bytes:
    """The model as compact JSON, in one pass (pydantic's own encoder)."""
    return model.model_dump_json().encode()


def json_body(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer already encoded (once, for every waiter woken by one decision)."""
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def problem_of(exc: ValidationError) -> str:
    """The first problem as one line: ``source.kind: Input should be 'github', ...``."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return f"{where}: {first['msg']}"[:300]


async def read_json(request: Request, model: type[M]) -> M:
    """The body, at most 16 KiB, as ``model``: 413 past the bound, 400 when it is not a
    JSON object, 422 when a field is wrong."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise ApiError(413, "too_large", f"the body is over {MAX_BODY // 1024} KiB")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise ApiError(413, "too_large", f"the body is over {MAX_BODY // 1024} KiB")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "bad_json", "the body is not JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_json", "the body is not a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, "invalid", problem_of(exc)) from None


def idempotency_key(request: Request, *, required: bool) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        if required:
            raise ApiError(400, "no_idempotency_key", "the Idempotency-Key header is required")
        return None
    if not key or len(key) > MAX_KEY or not key.isprintable() or not key.isascii():
        raise ApiError(
            400,
            "bad_idempotency_key",
            f"the Idempotency-Key must be 1 to {MAX_KEY} printable ASCII characters",
        )
    return key


CLIENT_GONE = 499
"""The status logged for a request whose client left mid-body (nginx's convention)."""


async def client_gone(request: Request, exc: Exception) -> Response:
    """A client that closed its connection before sending the whole body (a pipeline
    killed, a proxy's time-out) is no fault of ours: one info line, not a traceback, and
    nothing was stored (every body reader reads the whole body before acting). The answer
    goes nowhere; uvicorn drops it."""
    log.info("%s %s: the client left before sending its body", request.method, request.url.path)
    return Response(status_code=CLIENT_GONE)
