"""``parity``: does the environment mirror production? JSON endpoints key by key, chosen
response headers, the TLS protocol and certificate issuer, and the set of routes that
answer. A green pre-production run that differs from production proves little, so every
difference is listed as ``where: staging value vs production value``."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

import httpx

from checks._body import TruncatedBody
from checks._http import (
    cannot_reach,
    evidence_redactor,
    first_and_more,
    strip_credentials,
    timed_send,
    transport_reason,
)
from checks.base import Check, CheckResult
from checks.context import CheckContext, verifying_context
from checks.parity.compare import ABSENT, Difference, count_values, judge_json, show
from checks.parity.options import HeaderSpec as HeaderSpec
from checks.parity.options import JsonEndpoint as JsonEndpoint
from checks.parity.options import ParityOptions as ParityOptions


class ParityCheck(Check[ParityOptions]):
    type_name = "parity"
    Options = ParityOptions

    async def run(self, ctx: CheckContext) -> CheckResult:
        opts = self.options
        production_url = ctx.target.production_url
        if not production_url:
            return CheckResult.error(
                f"environment {ctx.target.name!r} has no production_url to compare with "
                f"(environments.{ctx.target.name}.production_url)"
            )
        redact = evidence_redactor(ctx).with_secrets(opts.production_headers.values())
        verify = _production_trust(ctx, opts)
        unexpected: list[Difference] = []
        expected: list[Difference] = []
        problems: list[str] = []
        compared = 0
        staging_client = ctx.http_client(
            with_credentials=opts.with_credentials, timeout=opts.request_timeout
        )
        if not opts.with_credentials:
            strip_credentials(staging_client)
        production_client = httpx.AsyncClient(
            base_url=production_url, headers=opts.production_headers, verify=verify,
            timeout=opts.request_timeout,
        )  # fmt: skip
        pair = _Pair(staging_client, production_client, opts.max_body)
        try:
            async with staging_client, production_client:
                for endpoint in opts.json_endpoints:
                    found, ok, same, values = await _json(pair, endpoint)
                    unexpected.extend(found)
                    expected.extend(ok)
                    problems.extend(same)
                    compared += values
                if opts.headers is not None:
                    found = await _headers(pair, opts.headers)
                    unexpected.extend(found)
                    compared += len(opts.headers.names)
                if opts.tls:
                    unexpected.extend(await _tls(ctx, production_url, verify, opts.request_timeout))
                    compared += 2
                for path in opts.routes:
                    unexpected.extend(await _route(pair, path))
                    compared += 1
        except httpx.HTTPError as exc:
            return CheckResult.error(redact(_unreachable(exc)))
        lines = [f"! {d.line()}" for d in unexpected] + [f"! {p}" for p in problems]
        lines += [f"expected: {d.line()}" for d in expected]
        lines.insert(0, f"compared {ctx.target.base_url} with {production_url}: {compared} items")
        metrics = {
            "differences": float(len(unexpected) + len(problems)),
            "expected_differences": float(len(expected)),
            "compared": float(compared),
        }
        evidence = redact("\n".join(lines))
        found_all = [d.line() for d in unexpected] + problems
        if found_all:
            count = len(found_all)
            summary = f"{count} difference{'s' if count != 1 else ''} from production: "
            return CheckResult.failed(
                redact(summary + first_and_more(found_all)), metrics=metrics, evidence=evidence
            )
        note = (
            f"; {len(expected)} expected ({', '.join(d.where for d in expected[:3])})"
            if expected
            else ""
        )
        return CheckResult.passed(
            redact(f"matches production in {compared} items{note}"), metrics=metrics,
            evidence=evidence,
        )  # fmt: skip


class _Pair:
    """The same request to the environment and to production, side by side."""

    def __init__(self, staging: httpx.AsyncClient, production: httpx.AsyncClient, max_body: int):
        self.clients = (staging, production)
        self.max_body = max_body

    async def get(self, path: str) -> tuple[Any, Any]:
        async def one(client: httpx.AsyncClient) -> Any:
            return await timed_send(
                client, client.build_request("GET", path), max_body=self.max_body
            )

        return tuple(await asyncio.gather(*(one(c) for c in self.clients)))


async def _json(
    pair: _Pair, endpoint: JsonEndpoint
) -> tuple[list[Difference], list[Difference], list[str], int]:
    staging, production = await pair.get(endpoint.path)
    statuses = (staging.response.status_code, production.response.status_code)
    if statuses[0] != statuses[1]:
        return [Difference(f"{endpoint.path} status", *map(str, statuses))], [], [], 1
    documents = []
    for side, exchange in (("staging", staging), ("production", production)):
        try:
            documents.append(exchange.body.json())
        except (TruncatedBody, ValueError) as exc:
            return [], [], [f"{endpoint.path}: the {side} answer is not JSON ({exc})"], 0
    unexpected, expected, same = judge_json(
        endpoint.path, *documents, ignore=endpoint.ignore,
        expect_differences=endpoint.expect_differences,
    )  # fmt: skip
    return unexpected, expected, same, max(count_values(documents[0]), count_values(documents[1]))


async def _headers(pair: _Pair, spec: HeaderSpec) -> list[Difference]:
    staging, production = await pair.get(spec.path)
    found = []
    for name in spec.names:
        a = staging.response.headers.get(name, ABSENT)
        b = production.response.headers.get(name, ABSENT)
        if a != b:
            found.append(Difference(f"header {name.lower()} on {spec.path}", show(a), show(b)))
    return found


def _answers(status: int) -> bool:
    """A route answers unless it is not there (404, 405, 410) or broken (5xx); 401/403
    are routes that exist behind authentication."""
    return status < 500 and status not in (404, 405, 410)


async def _route(pair: _Pair, path: str) -> list[Difference]:
    staging, production = await pair.get(path)
    a, b = staging.response.status_code, production.response.status_code
    if _answers(a) == _answers(b):
        return []
    word = {True: "answers", False: "does not answer"}
    return [Difference(f"route {path}", f"{word[_answers(a)]} ({a})", f"{word[_answers(b)]} ({b})")]


def _production_trust(ctx: CheckContext, opts: ParityOptions) -> ssl.SSLContext:
    return verifying_context(opts.production_ca_bundle or ctx.target.ca_bundle)


async def _tls(
    ctx: CheckContext, production_url: str, verify: ssl.SSLContext, timeout: float
) -> list[Difference]:
    urls = (httpx.URL(ctx.target.base_url), httpx.URL(production_url))
    if urls[0].scheme != urls[1].scheme:
        return [Difference("scheme", urls[0].scheme, urls[1].scheme)]
    if urls[0].scheme != "https":
        return []
    staging = await _tls_facts(urls[0], ctx.target.ssl_context(), timeout)
    production = await _tls_facts(urls[1], verify, timeout)
    return [
        Difference(f"TLS {what}", a, b)
        for what, a, b in zip(("protocol", "certificate issuer"), staging, production, strict=True)
        if a != b
    ]


async def _tls_facts(url: httpx.URL, context: ssl.SSLContext, timeout: float) -> tuple[str, str]:
    """The negotiated protocol and the certificate's issuer (organisation and common
    name), or the reason the handshake failed in their place."""
    host, port = url.host, url.port or 443
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=context, server_hostname=host), timeout
        )
    except (OSError, TimeoutError) as exc:
        reason = transport_reason(exc) if not isinstance(exc, TimeoutError) else "timed out"
        return f"handshake failed: {reason}", f"handshake failed: {reason}"
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        version = ssl_object.version() if ssl_object else "unknown"
        cert = ssl_object.getpeercert() if ssl_object else None
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
    issuer = dict(part[0] for part in (cert or {}).get("issuer", ()))
    named = [f"{k}={issuer[v]}" for k, v in (("O", "organizationName"), ("CN", "commonName"))
             if v in issuer]  # fmt: skip
    return version, ", ".join(named) or "unknown"


def _unreachable(exc: httpx.HTTPError) -> str:
    try:
        return cannot_reach(exc.request.url, exc)
    except RuntimeError:
        return f"cannot reach: {transport_reason(exc)}"
