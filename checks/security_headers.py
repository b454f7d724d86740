"""``security_headers``: the browser-facing hardening a security reviewer signs off on
(HSTS, CSP, nosniff, frame protection, referrer policy, cookie flags), judged on one
response so the evidence shows exactly what the server sent."""

from __future__ import annotations

import re

import httpx

from checks._http import (
    evidence_redactor,
    exchange_evidence,
    first_and_more,
    timed_send,
    unreachable,
)
from checks.base import Check, CheckResult
from checks.context import CheckContext
from checks.security_headers_options import ALL_REQUIREMENTS as ALL_REQUIREMENTS
from checks.security_headers_options import Requirement as Requirement
from checks.security_headers_options import SecurityHeadersOptions as SecurityHeadersOptions

_MAX_AGE = re.compile(r"(?i)(?:^|;)\s*max-age\s*=\s*\"?(\d+)\"?")
_VERSION = re.compile(r"/\s*v?\d|\d+\.\d+")
_DISCLOSING = ("X-Powered-By", "X-AspNet-Version", "X-AspNetMvc-Version")


class SecurityHeadersCheck(Check[SecurityHeadersOptions]):
    """Fails on a required header missing or weak; warns (when nothing failed) on a
    ``Server`` header with a version or an ``X-Powered-By``. Redirects are not
    followed: the headers judged are those of the response at ``path`` itself."""

    type_name = "security_headers"
    Options = SecurityHeadersOptions

    async def run(self, ctx: CheckContext) -> CheckResult:
        redact = evidence_redactor(ctx)
        async with ctx.http_client() as client:
            request = client.build_request("GET", self.options.path)
            try:
                exchange = await timed_send(client, request, max_body=self.options.max_body)
            except httpx.HTTPError as exc:
                return unreachable(ctx, request.url, exc)
        response, elapsed_ms = exchange.response, exchange.elapsed_ms
        ctx.progress(
            f"GET {self.options.path} -> {response.status_code} in {elapsed_ms:.0f} ms",
            latency_ms=elapsed_ms,
        )
        required = list(dict.fromkeys(self.options.require))
        failures = [
            problem
            for name in required
            for problem in _JUDGES[name](response.headers, self.options)
        ]
        warnings = disclosures(response.headers) if self.options.warn_on_disclosure else []

        notes: list[str] = []
        if "hsts" in required and response.url.scheme == "http":
            notes.append(
                "note: browsers ignore Strict-Transport-Security over plain HTTP; "
                "judged on the header anyway"
            )
        if response.is_redirect:
            notes.append(
                f"note: {self.options.path} redirects to "
                f"{response.headers.get('location', '?')}; judged this response, not the target"
            )
        lines = exchange_evidence(exchange, response_headers=True)
        lines.extend(notes)
        lines.extend(f"FAIL {problem}" for problem in failures)
        lines.extend(f"WARN {warning}" for warning in warnings)
        evidence = redact("\n".join(lines))

        metrics: dict[str, float] = {
            "latency_ms": elapsed_ms,
            "headers_required": float(len(required)),
            "header_problems": float(len(failures)),
            "warnings": float(len(warnings)),
            "cookies": float(len(response.headers.get_list("set-cookie"))),
        }
        if (max_age := hsts_max_age(response.headers)) is not None:
            metrics["hsts_max_age"] = float(max_age)

        if failures:
            return CheckResult.failed(
                redact(first_and_more(failures)), metrics=metrics, evidence=evidence
            )
        if warnings:
            return CheckResult.warned(
                redact(first_and_more(warnings)), metrics=metrics, evidence=evidence
            )
        summary = f"{len(required)} required security header checks pass on {self.options.path}"
        return CheckResult.passed(summary, metrics=metrics, evidence=evidence)


def hsts_max_age(headers: httpx.Headers) -> int | None:
    value = headers.get("strict-transport-security")
    if value is None or not (match := _MAX_AGE.search(value)):
        return None
    return int(match.group(1))


def _hsts(headers: httpx.Headers, options: SecurityHeadersOptions) -> list[str]:
    value = headers.get("strict-transport-security")
    if value is None:
        return ["missing Strict-Transport-Security"]
    max_age = hsts_max_age(headers)
    if max_age is None:
        return [f"Strict-Transport-Security has no max-age ({value!r})"]
    if max_age < options.hsts_min_max_age:
        return [
            f"Strict-Transport-Security max-age={max_age} is below "
            f"{options.hsts_min_max_age} (minimum)"
        ]
    return []


def _csp(headers: httpx.Headers, options: SecurityHeadersOptions) -> list[str]:
    value = headers.get("content-security-policy")
    if value is None:
        if "content-security-policy-report-only" in headers:
            return ["missing Content-Security-Policy (only a Report-Only policy is set)"]
        return ["missing Content-Security-Policy"]
    if not value.strip():
        return ["Content-Security-Policy is empty"]
    return []


def _content_type_options(headers: httpx.Headers, options: SecurityHeadersOptions) -> list[str]:
    value = headers.get("x-content-type-options")
    if value is None:
        return ["missing X-Content-Type-Options"]
    if value.strip().lower() != "nosniff":
        return [f"X-Content-Type-Options is {value!r} (expected nosniff)"]
    return []


def _frame_protection(headers: httpx.Headers, options: SecurityHeadersOptions) -> list[str]:
    xfo = headers.get("x-frame-options", "").strip().upper()
    if xfo in ("DENY", "SAMEORIGIN"):
        return []
    csp = headers.get("content-security-policy", "")
    if any(d.strip().lower().startswith("frame-ancestors") for d in csp.split(";")):
        return []
    if xfo:
        return [
            f"X-Frame-Options is {xfo!r} (expected DENY or SAMEORIGIN) and no CSP frame-ancestors"
        ]
    return ["missing frame protection (X-Frame-Options or CSP frame-ancestors)"]


def _referrer_policy(headers: httpx.Headers, options: SecurityHeadersOptions) -> list[str]:
    value = headers.get("referrer-policy")
    if value is None or not value.strip():
        return ["missing Referrer-Policy"]
    # Browsers apply the last policy they understand in a comma-separated list.
    effective = [token.strip().lower() for token in value.split(",") if token.strip()][-1]
    if effective == "unsafe-url":
        return ["Referrer-Policy is unsafe-url (leaks full URLs to other sites)"]
    return []


def _cookies(headers: httpx.Headers, options: SecurityHeadersOptions) -> list[str]:
    problems = []
    for cookie in headers.get_list("set-cookie"):
        first, *attrs = cookie.split(";")
        name = first.partition("=")[0].strip() or "(unnamed)"
        present = {attr.partition("=")[0].strip().lower() for attr in attrs}
        missing = [
            label
            for key, label in (
                ("secure", "Secure"),
                ("httponly", "HttpOnly"),
                ("samesite", "SameSite"),
            )
            if key not in present
        ]
        if missing:
            problems.append(f'cookie "{name}" lacks {", ".join(missing)}')
    return problems


_JUDGES = {
    "hsts": _hsts,
    "csp": _csp,
    "content_type_options": _content_type_options,
    "frame_protection": _frame_protection,
    "referrer_policy": _referrer_policy,
    "cookies": _cookies,
}


def disclosures(headers: httpx.Headers) -> list[str]:
    """Headers that tell an attacker which software (and version) to look up."""
    found = []
    server = headers.get("server")
    if server is not None and _VERSION.search(server):
        found.append(f"Server header discloses a version ({server})")
    found.extend(
        f"{name} discloses the stack ({headers[name]})" for name in _DISCLOSING if name in headers
    )
    return found
