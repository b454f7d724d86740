"""The ``auth_required`` check against the real example target over HTTPS on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from checks.auth_required import AuthRequiredCheck, AuthRequiredOptions, _judge_anonymous
from checks.base import Status
from checks.context import CheckContext
from tests.test_check_http import UNREACHABLE, make_ctx

PROTECTED = ["/admin", "/api/private"]


async def check(ctx: CheckContext, **options: Any) -> Any:
    return await AuthRequiredCheck(AuthRequiredOptions.model_validate(options)).run(ctx)


async def test_healthy_target_refuses_anonymous_requests(healthy_target: Any) -> None:
    events: list[Any] = []
    result = await check(make_ctx(healthy_target, events=events), paths=PROTECTED)
    assert result.status is Status.PASSED, result.evidence
    assert result.summary == "2 paths refuse anonymous requests (401 or 403)"
    assert [e.message for e in events] == [
        "GET /admin without credentials -> 401",
        "GET /api/private without credentials -> 401",
    ]
    assert result.metrics == {
        "paths": 2,
        "unprotected": 0,
        "problems": 0,
        "latency_ms_max": result.metrics["latency_ms_max"],
    }


async def test_anonymous_requests_carry_no_credentials(healthy_target: Any) -> None:
    headers = {
        "Authorization": f"Bearer {healthy_target.token}",
        "X-Auth-Token": healthy_target.token,
        "X-Env": "staging",
    }
    result = await check(make_ctx(healthy_target, headers=headers), paths=PROTECTED)
    assert result.status is Status.PASSED
    sent = result.evidence.lower()
    assert "authorization" not in sent
    assert "x-auth-token" not in sent
    assert "sent headers: accept, accept-encoding, connection, host, user-agent, x-env" in sent


async def test_with_credentials_also_requires_2xx(healthy_target: Any) -> None:
    result = await check(make_ctx(healthy_target), paths=PROTECTED, with_credentials=True)
    assert result.status is Status.PASSED, result.evidence
    assert result.summary.endswith("and accept credentials")

    wrong = make_ctx(healthy_target, headers={"Authorization": "Bearer not-the-right-token"})
    result = await check(wrong, paths=["/admin"], with_credentials=True)
    assert result.status is Status.FAILED
    assert result.summary == "/admin answered 401 with credentials (expected 2xx)"
    assert "not-the-right-token" not in result.evidence


async def test_with_credentials_but_none_configured_is_an_error(healthy_target: Any) -> None:
    result = await check(
        make_ctx(healthy_target, headers={}), paths=PROTECTED, with_credentials=True
    )
    assert result.status is Status.ERROR
    assert "no credential headers" in result.summary


async def test_open_admin_fails(target_factory: Any) -> None:
    target = target_factory("open-admin")
    result = await check(make_ctx(target), paths=PROTECTED)
    assert result.status is Status.FAILED
    assert result.summary == "/admin answered 200 without credentials (expected 401 or 403)"
    assert result.metrics["unprotected"] == 1
    assert target.token not in result.evidence


async def test_public_paths_count_as_several_problems(healthy_target: Any) -> None:
    result = await check(
        make_ctx(healthy_target), paths=["/healthz", "/admin", "/no-such-page"], expect_status=[401]
    )
    assert result.status is Status.FAILED
    assert result.summary == "/healthz answered 200 without credentials (expected 401) (+1 more)"
    assert "/no-such-page answered 404 without credentials (expected 401)" in result.evidence


async def test_unreachable_target_is_an_error_with_the_url(healthy_target: Any) -> None:
    result = await check(make_ctx(healthy_target, base_url=UNREACHABLE), paths=PROTECTED)
    assert result.status is Status.ERROR
    assert result.summary == "cannot reach http://127.0.0.1:9/admin: connection refused"


def test_redirect_is_named_as_a_failure() -> None:
    request = httpx.Request("GET", "https://svc.example/admin")
    response = httpx.Response(302, headers={"Location": "/login"}, request=request)
    assert _judge_anonymous("/admin", response, [401, 403], "401 or 403") == (
        "/admin answered 302 without credentials, redirecting to /login (expected 401 or 403)"
    )
    assert _judge_anonymous("/admin", httpx.Response(403, request=request), [401, 403], "") is None


@pytest.mark.parametrize(
    "raw",
    [
        {"paths": []},
        {"paths": ["admin"]},
        {"paths": ["/admin"], "expect_status": []},
        {"paths": ["/admin"], "follow_redirects": True},
    ],
)
def test_bad_options_are_rejected(raw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        AuthRequiredOptions.model_validate(raw)
