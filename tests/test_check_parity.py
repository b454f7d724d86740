"""``parity`` between the example target's environment (127.0.0.1) and its production
twin (localhost, the previous version)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from checks.base import CheckResult, Status
from checks.parity import ParityCheck, ParityOptions
from checks.parity.compare import judge_json
from tests.ops_plan import PARITY, make_ctx
from tests.support.target import RunningTarget


async def check(target: RunningTarget, *, production: bool = True, **changes: Any) -> CheckResult:
    options = ParityOptions.model_validate({**PARITY, **changes})
    return await ParityCheck(options).run(make_ctx(target, production=production))


async def test_healthy_environment_matches_production_but_the_version(
    healthy_target: RunningTarget,
) -> None:
    result = await check(healthy_target)
    assert result.status is Status.PASSED, result.evidence
    assert result.summary.startswith("matches production in ")
    assert result.summary.endswith("; 1 expected (/version version)")
    assert 'expected: /version version: "2.14.0" vs "2.13.0"' in result.evidence
    assert result.metrics["differences"] == 0 and result.metrics["compared"] > 20


async def test_drift_is_listed_as_staging_vs_production(
    target_factory: Callable[..., RunningTarget],
) -> None:
    result = await check(target_factory("parity-drift"))
    assert result.status is Status.FAILED
    assert result.summary == "1 difference from production: /ops/config database.pool_size: 5 vs 20"
    assert "! /ops/config database.pool_size: 5 vs 20" in result.evidence
    assert result.metrics["differences"] == 1


async def test_same_version_as_production_and_missing_routes_are_differences(
    healthy_target: RunningTarget,
) -> None:
    result = await check(
        healthy_target,
        json=[{"path": "/version", "expect_differences": ["service"]}],
        routes=["/ops/config", "/no-such-route"],
    )
    assert result.status is Status.FAILED
    assert '! /version version: "2.14.0" vs "2.13.0"' in result.evidence
    assert '/version service: "checkout-api" on both (expected to differ)' in result.evidence


async def test_no_production_url_is_an_error(healthy_target: RunningTarget) -> None:
    result = await check(healthy_target, production=False)
    assert result.status is Status.ERROR
    assert "no production_url" in result.summary
    assert "environments.staging.production_url" in result.summary


def test_ignore_and_expected_differences() -> None:
    staging = {"version": "2", "build": {"time": 1, "sha": "a"}, "pool": 5, "tags": [1, 2]}
    production = {"version": "1", "build": {"time": 2, "sha": "b"}, "tags": [1, 3], "extra": True}
    unexpected, expected, same = judge_json(
        "/x", staging, production, ignore=["build"], expect_differences=["version"]
    )
    assert [d.line() for d in unexpected] == [
        "/x pool: 5 vs (absent)",
        "/x tags[1]: 2 vs 3",
        "/x extra: (absent) vs true",
    ]
    assert [d.line() for d in expected] == ['/x version: "2" vs "1"'] and same == []
    assert judge_json("/x", {"n": 1}, {"n": 1.0})[0] == []
    assert [d.line() for d in judge_json("/x", {"n": True}, {"n": 1})[0]] == ["/x n: true vs 1"]
