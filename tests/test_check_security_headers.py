"""The ``security_headers`` check: the real target for each defect, plain headers for
the finer rules (frame-ancestors, referrer policy lists, cookie attributes)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from bot.reports.figures import figures
from checks.base import Status
from checks.context import CheckContext, RunInfo, Target
from checks.security_headers import (
    SecurityHeadersCheck,
    SecurityHeadersOptions,
    _cookies,
    _frame_protection,
    _referrer_policy,
    disclosures,
)
from tests.test_check_http import UNREACHABLE, make_ctx


async def check(ctx: CheckContext, **options: Any) -> Any:
    return await SecurityHeadersCheck(SecurityHeadersOptions.model_validate(options)).run(ctx)


async def test_healthy_target_passes(healthy_target: Any) -> None:
    result = await check(make_ctx(healthy_target))
    assert result.status is Status.PASSED, result.evidence
    assert result.metrics["header_problems"] == 0
    assert result.metrics["hsts_max_age"] >= 15552000
    assert "note: browsers ignore" not in result.evidence


async def test_no_hsts_fails(target_factory: Any) -> None:
    result = await check(make_ctx(target_factory("no-hsts")))
    assert result.status is Status.FAILED
    assert result.summary == "missing Strict-Transport-Security"
    assert "hsts_max_age" not in result.metrics


async def test_no_hsts_passes_when_hsts_not_required(target_factory: Any) -> None:
    result = await check(make_ctx(target_factory("no-hsts")), require=["csp", "cookies"])
    assert result.status is Status.PASSED
    assert result.summary == "2 required security header checks pass on /"


async def test_no_csp_fails(target_factory: Any) -> None:
    result = await check(make_ctx(target_factory("no-csp")))
    assert result.status is Status.FAILED
    assert result.summary.startswith("missing Content-Security-Policy")


async def test_insecure_cookie_names_cookie_and_attributes(target_factory: Any) -> None:
    result = await check(make_ctx(target_factory("insecure-cookie")))
    assert result.status is Status.FAILED
    assert result.summary.startswith('cookie "')
    assert result.summary.endswith("lacks Secure, HttpOnly, SameSite")


async def test_several_problems_are_counted(target_factory: Any) -> None:
    result = await check(make_ctx(target_factory("no-hsts", "insecure-cookie")))
    assert result.status is Status.FAILED
    assert result.summary == "missing Strict-Transport-Security (+1 more)"
    assert "FAIL cookie " in result.evidence


async def test_server_version_warns(target_factory: Any) -> None:
    target = target_factory("server-version")
    result = await check(make_ctx(target))
    assert result.status is Status.WARNED
    assert result.summary == "Server header discloses a version (uvicorn/0.30.1) (+1 more)"
    assert "WARN X-Powered-By discloses the stack" in result.evidence
    quiet = await check(make_ctx(target), warn_on_disclosure=False)
    assert quiet.status is Status.PASSED


async def test_short_hsts_max_age_fails(healthy_target: Any) -> None:
    result = await check(make_ctx(healthy_target), hsts_min_max_age=10**10)
    assert result.status is Status.FAILED
    assert result.summary.startswith("Strict-Transport-Security max-age=")
    assert result.summary.endswith("is below 10000000000 (minimum)")


async def test_plain_http_notes_hsts_is_ignored(healthy_target: Any) -> None:
    result = await check(make_ctx(healthy_target, base_url=healthy_target.http_url))
    assert "note: browsers ignore Strict-Transport-Security over plain HTTP" in result.evidence


async def test_cookie_values_and_token_stay_out_of_evidence(healthy_target: Any) -> None:
    result = await check(make_ctx(healthy_target))
    assert "set-cookie (" in result.evidence
    assert healthy_target.token not in result.evidence


async def test_unreachable_target_is_an_error_with_the_url(healthy_target: Any) -> None:
    result = await check(make_ctx(healthy_target, base_url=UNREACHABLE), path="/login")
    assert result.status is Status.ERROR
    assert result.summary == "cannot reach http://127.0.0.1:9/login: connection refused"


async def test_untrusted_certificate_is_an_error(healthy_target: Any) -> None:
    ctx = CheckContext(
        target=Target(name="test", base_url=healthy_target.https_url),
        run=RunInfo(run_id=1, service="s", version="1", environment="test", plan="t"),
        check_id="headers",
    )
    result = await check(ctx)
    assert result.status is Status.ERROR
    assert "TLS certificate verification failed" in result.summary


@pytest.mark.parametrize(
    "raw",
    [{"require": ["hsts", "x-xss"]}, {"pth": "/"}, {"path": "nope"}, {"hsts_min_max_age": -1}],
)
def test_bad_options_are_rejected(raw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SecurityHeadersOptions.model_validate(raw)


def test_frame_protection_accepts_xfo_or_frame_ancestors() -> None:
    opts = SecurityHeadersOptions()
    assert _frame_protection(httpx.Headers({"X-Frame-Options": "deny"}), opts) == []
    csp = {"Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'"}
    assert _frame_protection(httpx.Headers(csp), opts) == []
    assert _frame_protection(httpx.Headers({"X-Frame-Options": "ALLOW-FROM x"}), opts) == [
        "X-Frame-Options is 'ALLOW-FROM X' (expected DENY or SAMEORIGIN) and no CSP frame-ancestors"
    ]


def test_referrer_policy_judges_the_effective_policy() -> None:
    opts = SecurityHeadersOptions()
    assert (
        _referrer_policy(httpx.Headers({"Referrer-Policy": "unsafe-url, no-referrer"}), opts) == []
    )
    assert _referrer_policy(httpx.Headers({"Referrer-Policy": "no-referrer, unsafe-url"}), opts)
    assert _referrer_policy(httpx.Headers(), opts) == ["missing Referrer-Policy"]


def test_each_cookie_is_named_with_its_missing_attributes() -> None:
    headers = httpx.Headers(
        [
            ("Set-Cookie", "ok=1; Secure; HttpOnly; SameSite=Strict"),
            ("Set-Cookie", "sid=abc; Path=/; secure"),
            ("Set-Cookie", "pref=dark"),
        ]
    )
    assert _cookies(headers, SecurityHeadersOptions()) == [
        'cookie "sid" lacks HttpOnly, SameSite',
        'cookie "pref" lacks Secure, HttpOnly, SameSite',
    ]
    assert _cookies(httpx.Headers(), SecurityHeadersOptions()) == []


def test_disclosure_needs_a_version_in_server() -> None:
    assert disclosures(httpx.Headers({"Server": "nginx"})) == []
    assert disclosures(httpx.Headers({"Server": "nginx/1.25.3"})) == [
        "Server header discloses a version (nginx/1.25.3)"
    ]
    assert disclosures(httpx.Headers({"X-Powered-By": "Express"})) == [
        "X-Powered-By discloses the stack (Express)"
    ]


async def test_problems_are_counted_as_problems_not_failed_requests(target_factory: Any) -> None:
    """Two missing headers after one request: "Header problems 2", never "Failed requests"
    (the load check's figure) (issue 24, point 3)."""
    result = await check(make_ctx(target_factory("no-hsts", "no-csp")))
    assert result.status is Status.FAILED
    shown = {f.label: f.value for f in figures(result.metrics)}
    assert shown["Header problems"] == "2"
    assert "Failed requests" not in shown
