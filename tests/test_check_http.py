"""The ``http`` check against the real example target over HTTPS on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from checks._http import evidence_redactor, transport_reason
from checks.base import Status
from checks.context import CheckContext, ProgressEvent, RunInfo, Target
from checks.http import HttpCheck, HttpOptions, json_mismatches
from checks.spec import CheckSpec

UNREACHABLE = "http://127.0.0.1:9"


def make_ctx(
    target: Any,
    *,
    base_url: str | None = None,
    headers: dict[str, str] | None = None,
    events: list[ProgressEvent] | None = None,
) -> CheckContext:
    """A context like the engine builds, with the default (secret-less) redactor, so the
    tests prove redaction works from patterns and the check's own masking alone."""
    sink = events if events is not None else []
    return CheckContext(
        target=Target(
            name="test",
            base_url=base_url or target.https_url,
            ca_bundle=target.ca_bundle,
            headers=headers if headers is not None else {"Authorization": f"Bearer {target.token}"},
        ),
        run=RunInfo(
            run_id=1, service="checkout-api", version="2.14.0", environment="test", plan="t"
        ),
        check_id="smoke",
        on_progress=sink.append,
    )


async def run_http(ctx: CheckContext, *requests: dict[str, Any]) -> Any:
    return await HttpCheck(HttpOptions.model_validate({"requests": list(requests)})).run(ctx)


async def test_healthy_target_passes_with_one_progress_line_per_request(
    healthy_target: Any,
) -> None:
    events: list[ProgressEvent] = []
    result = await run_http(
        make_ctx(healthy_target, events=events),
        {"path": "/healthz", "max_ms": 2000},
        {"path": "/version", "expect_json": {"version": "2.14.0"}},
        {"path": "/api/items", "expect_status": [200, 204]},
        {"path": "/api/private"},
    )
    assert result.status is Status.PASSED, result.summary
    assert result.summary.startswith("4 requests OK")
    assert [e.message.split(" ->")[0] for e in events] == [
        "GET /healthz",
        "GET /version",
        "GET /api/items",
        "GET /api/private",
    ]
    assert result.metrics["requests"] == 4
    assert result.metrics["problems"] == 0
    assert 0 < result.metrics["latency_ms_max"] < 2000
    assert set(result.metrics) >= {"latency_ms.1", "latency_ms.4", "latency_ms_total"}


async def test_json_mismatch_names_the_path(healthy_target: Any) -> None:
    result = await run_http(
        make_ctx(healthy_target),
        {"path": "/version", "expect_json": {"version": "2.13.0", "nope": {"deep": 1}}},
    )
    assert result.status is Status.FAILED
    assert result.summary == 'GET /version: $.version: expected "2.13.0", got "2.14.0" (+1 more)'
    assert '$.nope: missing (expected {"deep": 1})' in result.evidence


async def test_non_json_body_fails_when_json_expected(healthy_target: Any) -> None:
    result = await run_http(make_ctx(healthy_target), {"path": "/metrics", "expect_json": {}})
    assert result.status is Status.FAILED
    assert result.summary.startswith("GET /metrics: body is not JSON")


async def test_missing_body_text_fails(healthy_target: Any) -> None:
    result = await run_http(
        make_ctx(healthy_target),
        {"path": "/version", "expect_body_contains": ["2.14.0", "no-such-text"]},
    )
    assert result.status is Status.FAILED
    assert result.summary == 'GET /version: body does not contain "no-such-text"'


async def test_without_credentials_private_path_is_refused(healthy_target: Any) -> None:
    result = await run_http(
        make_ctx(healthy_target), {"path": "/api/private", "with_credentials": False}
    )
    assert result.status is Status.FAILED
    assert result.summary == "GET /api/private answered 401 (expected 200)"


async def test_slow_defect_fails_on_latency(target_factory: Any) -> None:
    target = target_factory("slow")
    result = await run_http(make_ctx(target), {"path": "/api/items", "max_ms": 300})
    assert result.status is Status.FAILED
    assert result.summary.startswith("GET /api/items took ")
    assert result.summary.endswith(" ms (max 300 ms)")
    assert result.metrics["latency_ms_max"] > 300


async def test_errors_defect_names_status_and_counts_the_rest(target_factory: Any) -> None:
    target = target_factory("errors")
    result = await run_http(
        make_ctx(target),
        {"path": "/api/items"},
        {"path": "/api/items/1", "expect_json": {"id": 1}},
        {"path": "/healthz"},
    )
    assert result.status is Status.FAILED
    assert result.summary == "GET /api/items answered 500 (expected 200) (+1 more)"
    assert "GET /api/items/1 answered 500 (expected 200)" in result.evidence
    assert result.metrics["problems"] == 2


async def test_bearer_token_never_reaches_evidence(healthy_target: Any) -> None:
    # A failing request puts its request headers and body in evidence: the worst case.
    result = await run_http(
        make_ctx(healthy_target),
        {"path": "/version", "expect_status": 418, "headers": {"X-Api-Key": "k3y-" + "9" * 12}},
        {"path": "/api/private", "expect_status": 403},
    )
    assert result.status is Status.FAILED
    assert "authorization: [REDACTED]" in result.evidence
    text = result.summary + result.evidence
    assert healthy_target.token not in text
    assert "9" * 12 not in text


async def test_unreachable_target_is_an_error_with_the_url() -> None:
    ctx = CheckContext(
        target=Target(name="test", base_url=UNREACHABLE),
        run=RunInfo(run_id=1, service="s", version="1", environment="test", plan="t"),
        check_id="smoke",
    )
    result = await run_http(ctx, {"path": "/healthz"})
    assert result.status is Status.ERROR
    assert result.summary == "cannot reach http://127.0.0.1:9/healthz: connection refused"


def test_options_accept_json_alias_and_normalise_method() -> None:
    options = HttpOptions.model_validate(
        {"requests": [{"method": "post", "path": "/api/items", "json": {"name": "x"}}]}
    )
    request = options.requests[0]
    assert request.method == "POST"
    assert request.json_body == {"name": "x"}
    assert request.statuses == [200]


@pytest.mark.parametrize(
    "raw",
    [
        {"requests": []},
        {"requests": [{"path": "/x", "body": "a", "json": {"a": 1}}]},
        {"requests": [{"path": "/x", "expect_stauts": 200}]},
        {"requests": [{"path": "/x"}], "retries": 3},
        {"requests": [{"path": "https://elsewhere.example/x"}]},
        {"requests": [{"path": "/x", "expect_status": [200, 700]}]},
        {"requests": [{"path": "/x", "max_ms": 0}]},
    ],
)
def test_bad_options_are_rejected(raw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        HttpOptions.model_validate(raw)


def test_plan_entry_binds_through_the_registry() -> None:
    spec = CheckSpec.model_validate({"id": "smoke", "type": "http", "requests": [{"path": "/"}]})
    assert isinstance(spec.build(), HttpCheck)
    bad = CheckSpec.model_validate({"id": "smoke", "type": "http", "request": [{"path": "/"}]})
    with pytest.raises(ValidationError):
        bad.bind()


@pytest.mark.parametrize(
    ("expected", "actual", "mismatches"),
    [
        ({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}, "d": 3}, []),
        ({"a": {"b": 1}}, {"a": {"b": 2}}, ["$.a.b: expected 1, got 2"]),
        ({"a": 1}, {"a": True}, ["$.a: expected 1, got true"]),
        ({"a": 1.0}, {"a": 1}, []),
        ({"x-y": 1}, {}, ['$["x-y"]: missing (expected 1)']),
        ({"a": {"b": 1}}, {"a": [1]}, ["$.a: expected an object, got [1]"]),
        ([{"id": 2}, {"id": 1}], [{"id": 1, "n": "a"}, {"id": 2, "n": "b"}], []),
        ({"flags": ["b"]}, {"flags": ["a", "b", "c"]}, []),
        ({"flags": ["z"]}, {"flags": ["a"]}, ['$.flags: no element matches "z"']),
        ({"flags": ["z"]}, {"flags": "z"}, ['$.flags: expected a list, got "z"']),
        ("2.14.0", "2.14.0", []),
    ],
)
def test_json_subset_semantics(expected: Any, actual: Any, mismatches: list[str]) -> None:
    assert json_mismatches(expected, actual) == mismatches


def test_bare_credential_values_are_masked_too() -> None:
    ctx = CheckContext(
        target=Target(
            name="test",
            base_url=UNREACHABLE,
            headers={"Authorization": "Bearer abc123def456", "X-Api-Key": "k3yk3yk3y"},
        ),
        run=RunInfo(run_id=1, service="s", version="1", environment="test", plan="t"),
        check_id="smoke",
    )
    text = evidence_redactor(ctx)('{"echo": "abc123def456", "k": "k3yk3yk3y"}')
    assert "abc123def456" not in text
    assert "k3yk3yk3y" not in text


def test_transport_reasons_are_short_and_human() -> None:
    assert transport_reason(httpx.ReadTimeout("x")) == "timed out waiting for the response"
    assert transport_reason(httpx.ConnectTimeout("x")) == "timed out connecting"
    wrapped = httpx.ConnectError("All connection attempts failed")
    wrapped.__cause__ = ConnectionRefusedError(111, "Connect call failed")
    assert transport_reason(wrapped) == "connection refused"
