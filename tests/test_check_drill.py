"""``drill`` running the real example drills (examples/drills/) against real targets, and
scripts that hang, fail or leak secrets."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from checks.base import CheckResult, Status
from checks.drill import DrillCheck, DrillOptions
from checks.drill.probe import Sample, longest_outage_ms
from checks.spec import CheckSpec
from tests.ops_plan import make_ctx
from tests.support.processes import alive
from tests.support.target import RunningTarget

Factory = Callable[..., RunningTarget]


def drill(name: str) -> dict[str, Any]:
    return {"argv": ["{python}", "-m", f"examples.drills.{name}"], "timeout": "20s"}


ROLLBACK = {
    "script": drill("rollback"),
    "expect": [{"path": "/version", "expect_json": {"version": "{previous_version}"}}],
    "settle": "2s",
    "rto": "10s",
}
BLUEGREEN = {
    "script": drill("bluegreen"),
    "expect": [{"path": "/version", "expect_json": {"version": "{version}"}}],
    "settle": "2s",
    "probe": {
        "path": "/api/items",
        "rate": 40,
        "thresholds": ["errors == 0", "max_outage < 500ms"],
    },
}
FAILOVER = {
    "script": drill("failover"),
    "expect": [{"path": "/healthz"}],
    "settle": "2s",
    "probe": {"path": "/api/items", "rate": 40, "thresholds": ["max_outage < 2s"]},
}
RESTORE = {
    "script": drill("restore"),
    "rpo": {
        "write": {"method": "PUT", "path": "/store/m", "json": {"value": "{marker}"}},
        "read": {"path": "/store/m", "expect_body_contains": "{marker}"},
    },
}


async def run(target: RunningTarget, options: dict[str, Any], **ctx: Any) -> CheckResult:
    return await DrillCheck(DrillOptions.model_validate(options)).run(make_ctx(target, **ctx))


async def test_healthy_drills_pass_with_measured_figures(target_factory: Factory) -> None:
    target = target_factory()
    rolled = await run(target, ROLLBACK)
    assert rolled.status is Status.PASSED, rolled.evidence
    assert rolled.summary.startswith("drill done in ") and "recovered in" in rolled.summary
    assert 0 < rolled.metrics["rto_s"] < 10
    assert "POST /ops/rollback -> " in rolled.evidence

    switched = await run(target, BLUEGREEN)
    assert switched.status is Status.PASSED, switched.evidence
    assert switched.metrics["probe_requests"] >= 10
    assert switched.metrics["probe_errors"] == 0 and switched.metrics["max_outage_ms"] == 0
    assert "PASS  errors == 0" in switched.evidence

    failed_over = await run(target, FAILOVER)
    assert failed_over.status is Status.PASSED, failed_over.evidence
    assert 0 < failed_over.metrics["max_outage_ms"] < 2000  # detection takes 300 ms

    restored = await run(target, RESTORE)
    assert restored.status is Status.PASSED, restored.evidence
    assert restored.summary.endswith("data written before it survived")
    assert restored.metrics["rpo_ok"] == 1


async def test_planted_drill_defects_fail_with_their_problem(target_factory: Factory) -> None:
    target = target_factory("rollback-stuck", "switch-drops", "restore-loses-data")
    rolled = await run(target, ROLLBACK)
    assert rolled.status is Status.FAILED
    assert rolled.summary == (
        'not recovered 2s after the script: GET /version: $.version: expected "2.13.0", '
        'got "2.14.0"'
    )
    assert "rto_s" not in rolled.metrics

    switched = await run(target, {**BLUEGREEN, "expect": []})  # stuck rollback: green is live
    assert switched.status is Status.FAILED
    assert switched.summary.startswith("users saw failures during the drill: errors ")
    assert switched.metrics["probe_errors"] > 0, "a dropping switch must be measured"
    assert switched.metrics["max_outage_ms"] >= 500
    assert "x 503" in switched.evidence

    restored = await run(target, RESTORE)
    assert restored.status is Status.FAILED
    assert (
        restored.summary
        == "rpo: data written before the drill is lost: GET /store/m answered 404 (expected 200)"
    )


async def test_a_hanging_drill_is_killed_with_its_group_and_its_output_redacted(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    pidfile = tmp_path / "child.pid"
    script = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(child.pid))\n"
        "print('deploying with', os.environ['DEPLOY_TOKEN'], 'password=hunter2hunter2',"
        " flush=True)\n"
        "print('base', os.environ['PREPROD_BASE_URL'], os.environ['PREPROD_PREVIOUS_VERSION'],"
        " 'slack' if 'SLACK_BOT_TOKEN' in os.environ else 'clean', flush=True)\n"
        "time.sleep(60)\n"
    )
    os.environ["SLACK_BOT_TOKEN"] = "xoxb-not-for-drills"
    try:
        options = {"script": {"argv": [sys.executable, "-c", script], "timeout": "1s",
                              "env": {"DEPLOY_TOKEN": "s3cr3t-deploy-value"}}}  # fmt: skip
        result = await run(healthy_target, options)
    finally:
        del os.environ["SLACK_BOT_TOKEN"]
    assert result.status is Status.FAILED
    assert result.summary == "script did not finish within 1s; killed with its process group"
    assert "killed with its process group after 1s (timeout)" in result.evidence
    assert "s3cr3t-deploy-value" not in result.evidence and "hunter2" not in result.evidence
    assert "deploying with [REDACTED] password=[REDACTED]" in result.evidence
    assert f"base {healthy_target.https_url} 2.13.0 clean" in result.evidence
    assert await dies(int(pidfile.read_text())), "the script's child survived its timeout"


async def test_a_cancelled_drill_kills_its_process_group(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    pidfile = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    task = asyncio.create_task(
        run(healthy_target, {"script": {"argv": [sys.executable, "-c", script]}})
    )
    for _ in range(100):
        if pidfile.exists() and pidfile.read_text():
            break
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await dies(int(pidfile.read_text())), "a cancelled drill left its child running"


async def test_a_failing_or_missing_script(healthy_target: RunningTarget) -> None:
    code = "import sys; print('step 1 ok', flush=True); sys.exit('cannot reach the deploy API')"
    failed = await run(healthy_target, {"script": {"argv": [sys.executable, "-c", code]}})
    assert failed.status is Status.FAILED
    assert failed.summary == "script failed with exit code 1: cannot reach the deploy API"
    missing = await run(healthy_target, {"script": {"argv": ["/no/such/drill"]}})
    assert missing.status is Status.ERROR
    assert (
        missing.summary == "cannot start the drill script /no/such/drill: No such file or directory"
    )
    unset = await run(healthy_target, ROLLBACK, previous_version=None)
    assert unset.status is Status.ERROR
    assert "environments.staging.previous_version" in unset.summary


async def dies(pid: int, within: float = 5.0) -> bool:
    """Whether ``pid`` is gone within ``within`` s: a SIGKILL is delivered asynchronously."""
    for _ in range(int(within / 0.05)):
        if not alive(pid):
            return True
        await asyncio.sleep(0.05)
    return not alive(pid)


def test_options_and_defaults() -> None:
    spec = CheckSpec.model_validate({"id": "d", "type": "drill", "script": {"argv": ["x"]}})
    assert spec.is_exclusive() and not spec.is_repeat_safe()
    with pytest.raises(ValidationError, match="give `expect`"):
        DrillOptions.model_validate({"script": {"argv": ["x"]}, "rto": "5s"})
    with pytest.raises(ValidationError, match="unknown metric 'p97'"):
        DrillOptions.model_validate(
            {"script": {"argv": ["x"]}, "probe": {"path": "/", "thresholds": ["p97 < 1s"]}}
        )
    with pytest.raises(ValidationError, match="argv"):
        DrillOptions.model_validate({"script": {"argv": []}})


def test_longest_outage_runs_from_first_failure_to_next_success() -> None:
    def s(at: float, ok: bool) -> Sample:
        return Sample(at, ok, 1.0, "200" if ok else "503")

    samples = [s(0.0, True), s(0.1, False), s(0.2, False), s(0.35, True), s(0.4, False)]
    assert longest_outage_ms(samples, 0.05) == pytest.approx(250.0)
    assert longest_outage_ms([s(0.0, True)], 0.05) == 0
    assert longest_outage_ms([s(0.0, False)], 0.05) == pytest.approx(50.0)
