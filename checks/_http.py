"""Shared plumbing of the HTTP-based checks (http, security_headers, auth_required):
one wording for "cannot reach", one way to time a request, one evidence format, so the
three kinds read alike in Slack and in reports."""

from __future__ import annotations

import errno
import re
import socket
import ssl
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import httpx

from checks._body import DEFAULT_MAX_BODY, SAFE_ENCODINGS, Body, read_body
from checks._http_options import HttpCheckOptions as HttpCheckOptions
from checks._http_options import RelativePath as RelativePath
from checks.base import CheckResult
from checks.context import CREDENTIAL_HEADERS, CheckContext
from checks.redact import MASK, Redactor

BODY_LIMIT = 1000
"""Characters of a response body kept in evidence: enough to see the error, not a dump."""

_CREDENTIAL_LIKE = re.compile(r"(?i)auth|token|api[_-]?key|secret|session|cookie|password")
_SHOWN_AS_IS = frozenset({"www-authenticate", "proxy-authenticate"})
"""Challenges, not credentials: reviewers of an auth check want to see them."""


@dataclass(frozen=True)
class Exchange:
    """One request's answer: status and headers, the body as far as it was kept, and
    the wall time to read it."""

    response: httpx.Response
    body: Body
    elapsed_ms: float


def transport_reason(exc: BaseException) -> str:
    """A short human reason for a transport failure ("connection refused"), found by
    walking the exception chain: httpx wraps the interesting OS/SSL error deep inside."""
    if isinstance(exc, httpx.TimeoutException):
        phase = {
            httpx.ConnectTimeout: "connecting",
            httpx.ReadTimeout: "waiting for the response",
            httpx.WriteTimeout: "sending the request",
            httpx.PoolTimeout: "waiting for a connection",
        }.get(type(exc), "")
        return f"timed out {phase}{_timeout_of(exc)}".replace("  ", " ").strip()
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return f"TLS certificate verification failed ({current.verify_message})"
        if isinstance(current, ssl.SSLError):
            return f"TLS handshake failed ({current.reason or current})"
        if isinstance(current, socket.gaierror):
            return f"cannot resolve host ({current.strerror or current})"
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, ConnectionResetError):
            return "connection reset by peer"
        if isinstance(current, OSError) and current.errno in (
            errno.EHOSTUNREACH,
            errno.ENETUNREACH,
        ):
            return "host unreachable"
        current = current.__cause__ or current.__context__
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"protocol error ({exc})"
    return str(exc) or type(exc).__name__


def _timeout_of(exc: httpx.TimeoutException) -> str:
    """`` after 10 s`` from the request's timeout settings, when httpx recorded them."""
    try:
        timeouts = exc.request.extensions.get("timeout", {})
    except RuntimeError:  # an exception raised without a request attached
        return ""
    values = [v for v in timeouts.values() if isinstance(v, int | float)]
    return f" after {max(values):g} s" if values else ""


def cannot_reach(url: httpx.URL | str, exc: BaseException) -> str:
    """The one wording of every check for a target it could not talk to:
    ``cannot reach https://127.0.0.1:9/: connection refused``."""
    return f"cannot reach {url}: {transport_reason(exc)}"


def unreachable(
    ctx: CheckContext, url: httpx.URL | str, exc: BaseException, *, evidence: str = ""
) -> CheckResult:
    """The ``error`` result for a target we could not talk to, naming the URL."""
    summary = ctx.redact(cannot_reach(url, exc))
    text = "\n".join(part for part in (evidence, f"{summary} ({type(exc).__name__})") if part)
    return CheckResult.error(summary, evidence=ctx.redact(text))


async def timed_send(
    client: httpx.AsyncClient, request: httpx.Request, *, max_body: int = DEFAULT_MAX_BODY
) -> Exchange:
    """Send, then stream the body keeping at most ``max_body`` bytes, within the
    client's read timeout for the whole body (an endless trickle must end too); the
    wall time covers both. Only encodings we can inflate with a bound are accepted."""
    request.headers["Accept-Encoding"] = SAFE_ENCODINGS
    deadline = client.timeout.read or client.timeout.connect or 10.0
    started = time.perf_counter()
    response = await client.send(request, stream=True)
    body = await read_body(response, max_body, deadline)
    return Exchange(response, body, (time.perf_counter() - started) * 1000.0)


def strip_credentials(client: httpx.AsyncClient) -> None:
    """Belt and braces for "without credentials": besides the standard credential
    headers the context already drops, remove any header whose name looks like one
    (``X-Auth-Token``, ``X-Session``), since a leaked custom token defeats the test."""
    for name in list(client.headers.keys()):
        if name.lower() in CREDENTIAL_HEADERS or _CREDENTIAL_LIKE.search(name):
            del client.headers[name]


def has_credentials(headers: httpx.Headers) -> bool:
    return any(
        name.lower() in CREDENTIAL_HEADERS or _CREDENTIAL_LIKE.search(name) for name in headers
    )


def header_lines(headers: httpx.Headers, indent: str = "    ") -> list[str]:
    """Headers for evidence, credential values masked before the redactor even runs;
    a Set-Cookie keeps its name and attributes (what reviewers need), not its value."""
    lines = []
    for name, value in headers.multi_items():
        lower = name.lower()
        if lower == "set-cookie":
            first, _, attrs = value.partition(";")
            cookie_name = first.partition("=")[0].strip()
            # Not "set-cookie: name=..." so the redactor's key=value rule keeps the name.
            lines.append(f"{indent}{name} ({cookie_name}): {MASK}" + (f";{attrs}" if attrs else ""))
            continue
        elif lower not in _SHOWN_AS_IS and (
            lower in CREDENTIAL_HEADERS or _CREDENTIAL_LIKE.search(lower)
        ):
            value = MASK
        lines.append(f"{indent}{name}: {value}")
    return lines


def body_excerpt(body: Body, limit: int = BODY_LIMIT) -> str:
    text = body.text
    if len(text) > limit:
        kept = "kept" if body.truncated else "in all"
        return f"{text[:limit]}... ({len(text)} chars {kept})"
    return text


def status_line(response: httpx.Response, elapsed_ms: float) -> str:
    """``GET https://host/healthz -> 200 OK in 12 ms``."""
    request = response.request
    phrase = f" {response.reason_phrase}" if response.reason_phrase else ""
    return (
        f"{request.method} {request.url} -> {response.status_code}{phrase} in {elapsed_ms:.0f} ms"
    )


def exchange_evidence(
    exchange: Exchange,
    *,
    problems: Sequence[str] = (),
    request_headers: bool = False,
    response_headers: bool = False,
    body: bool = False,
) -> list[str]:
    """One request/response as evidence lines (not yet redacted: callers redact the
    whole text once, through the context)."""
    response = exchange.response
    lines = [status_line(response, exchange.elapsed_ms)]
    lines.extend(f"  {note}" for note in exchange.body.notes())
    if request_headers:
        lines.append("  request headers:")
        lines.extend(header_lines(response.request.headers))
    if response_headers:
        lines.append("  response headers:")
        lines.extend(header_lines(response.headers))
    if body and exchange.body.data:
        lines.append("  body:")
        lines.extend(f"    {line}" for line in body_excerpt(exchange.body).splitlines())
    lines.extend(f"  ! {problem}" for problem in problems)
    return lines


def first_and_more(problems: Sequence[str]) -> str:
    """The summary of several problems: the first, then how many more."""
    if len(problems) <= 1:
        return problems[0] if problems else ""
    return f"{problems[0]} (+{len(problems) - 1} more)"


def or_list(items: Iterable[object]) -> str:
    """``401 or 403``, ``200, 201 or 204``."""
    words = [str(item) for item in items]
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} or {words[-1]}"


def evidence_redactor(ctx: CheckContext) -> Redactor:
    """The context's redactor plus the target's own credential values, so a token the
    server echoes back bare (no ``Bearer`` prefix to pattern-match) is masked too."""
    secrets: list[str] = []
    for name, value in ctx.target.headers.items():
        if name.lower() in CREDENTIAL_HEADERS or _CREDENTIAL_LIKE.search(name):
            secrets.append(value)
            secrets.extend(value.split()[1:])  # the token of "Bearer <token>"
    return ctx.redactor.with_secrets(secrets)
