"""The load check against the real example target: short Locust runs on 127.0.0.1."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from checks.base import Status
from checks.context import CheckContext, ProgressEvent, RunInfo, Target
from checks.http import HttpCheck, HttpOptions
from checks.load import LoadCheck, LoadOptions
from tests.support.processes import free_port, kill_group, locust_pids
from tests.support.target import RunningTarget

TASKS = [{"path": "/api/items", "weight": 3}, {"path": "/api/items/1", "name": "item"}]
SHAPE_KEYS = {
    "rps",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "avg_ms",
    "max_ms",
    "error_rate_pct",
    "requests",
    "failures",
    "users",
}


def make_ctx(
    base_url: str,
    workdir: Path,
    *,
    headers: dict[str, str] | None = None,
    ca_bundle: Path | None = None,
) -> tuple[CheckContext, list[ProgressEvent]]:
    events: list[ProgressEvent] = []
    ctx = CheckContext(
        target=Target(name="t", base_url=base_url, headers=headers or {}, ca_bundle=ca_bundle),
        run=RunInfo(run_id=1, service="svc", version="1.0", environment="test", plan="p"),
        check_id="load",
        workdir=workdir,
        on_progress=events.append,
    )
    return ctx, events


async def run_load(ctx: CheckContext, **options: Any) -> Any:
    options.setdefault("tasks", TASKS)
    return await LoadCheck(LoadOptions.model_validate(options)).run(ctx)


async def test_healthy_target_passes_with_live_progress(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    ctx, events = make_ctx(healthy_target.http_url, tmp_path)
    result = await run_load(
        ctx,
        users=5,
        spawn_rate=5,
        duration="4s",
        thresholds=["p95 < 800ms", "error_rate < 1%", "rps > 5"],
        task_thresholds={"item": ["p99 < 2s"]},
    )
    assert result.status == Status.PASSED, result.summary
    assert set(result.metrics) >= SHAPE_KEYS
    assert result.metrics["requests"] > 0 and result.metrics["failures"] == 0
    assert "PASS  p95 < 800ms" in result.evidence and "[item] PASS" in result.evidence
    assert "GET /api/items" in result.evidence and "GET item" in result.evidence
    live = [e for e in events if "rps" in e.figures]
    assert live, "no live figures"
    assert {"rps", "p95_ms", "error_rate_pct", "users"} <= set(live[-1].figures)
    assert locust_pids(str(tmp_path)) == []


async def test_slow_target_fails_p95_with_measured_value(
    target_factory: Callable[..., RunningTarget], tmp_path: Path
) -> None:
    target = target_factory("slow")
    ctx, _ = make_ctx(target.http_url, tmp_path)
    result = await run_load(
        ctx, users=4, spawn_rate=4, duration="3s", thresholds=["p95 < 500ms", "error_rate < 1%"]
    )
    assert result.status == Status.FAILED
    assert result.summary.startswith("p95 1"), result.summary  # e.g. "p95 1200 ms >= 500 ms"
    assert ">= 500 ms" in result.summary and "error_rate 0.0% ok" in result.summary
    assert result.metrics["p95_ms"] >= 1000


async def test_errors_target_fails_error_rate(
    target_factory: Callable[..., RunningTarget], tmp_path: Path
) -> None:
    target = target_factory("errors")
    ctx, _ = make_ctx(target.http_url, tmp_path)
    result = await run_load(
        ctx, users=3, spawn_rate=3, duration="3s", thresholds=["p95 < 2s", "error_rate < 1%"]
    )
    assert result.status == Status.FAILED
    assert result.summary.startswith("error_rate 100.0% >= 1%"), result.summary
    assert "FAIL  error_rate < 1%" in result.evidence
    assert "500" in result.evidence  # Locust's own error lines


async def test_stress_reports_breaking_point_and_capacity(
    target_factory: Callable[..., RunningTarget], tmp_path: Path
) -> None:
    target = target_factory("degrade")
    ctx, events = make_ctx(target.http_url, tmp_path)
    result = await run_load(
        ctx,
        profile="stress",
        start_users=5,
        step_users=60,
        max_users=125,
        step_duration="2s",
        spawn_rate=200,
        thresholds=["error_rate < 1%"],
        tasks=[{"path": "/api/items"}],
        capacity={"expected_peak_rps": 100000},
    )
    assert "breaking point at" in result.summary, result.summary
    assert result.metrics["breaking_users"] > 5
    assert result.metrics["last_good_users"] >= 5 and result.metrics["sustained_rps"] > 0
    # The capacity verdict: nobody sustains 150000 rps here.
    assert result.status == Status.FAILED
    assert "headroom" in result.summary and "insufficient capacity" in result.summary
    assert result.metrics["headroom_ratio"] < 1
    assert any("step 1/" in e.message for e in events)


async def test_cancel_leaves_no_locust_process(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    ctx, events = make_ctx(healthy_target.http_url, tmp_path)
    task = asyncio.create_task(
        run_load(
            ctx, users=2, spawn_rate=2, duration="60s", workers=1, tasks=[{"path": "/healthz"}]
        )
    )
    for _ in range(100):  # until Locust reports figures
        await asyncio.sleep(0.1)
        if any("rps" in e.figures for e in events):
            break
    assert len(locust_pids(str(tmp_path))) == 2  # master + worker
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert locust_pids(str(tmp_path)) == []


async def test_two_workers_give_one_merged_result(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    ctx, _ = make_ctx(healthy_target.http_url, tmp_path)
    result = await run_load(
        ctx, users=4, spawn_rate=4, duration="3s", workers=2, thresholds=["error_rate < 1%"]
    )
    assert result.status == Status.PASSED, result.summary
    assert set(result.metrics) >= SHAPE_KEYS
    assert result.metrics["workers"] == 2 and result.metrics["requests"] > 0
    assert result.evidence.count("(all)") == 1
    assert locust_pids(str(tmp_path)) == []


async def test_https_with_ca_bundle_and_secret_headers(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    token = healthy_target.token
    ctx, _ = make_ctx(
        healthy_target.https_url,
        tmp_path,
        headers={"Authorization": f"Bearer {token}"},
        ca_bundle=healthy_target.ca_bundle,
    )
    result = await run_load(
        ctx,
        users=2,
        spawn_rate=2,
        duration="2s",
        thresholds=["error_rate < 1%"],
        tasks=[{"path": "/api/private"}],
    )
    assert result.status == Status.PASSED, result.summary + result.evidence
    for written in (tmp_path / "load").iterdir():
        if written.is_file():
            assert token not in written.read_text(errors="replace"), written
    assert token not in result.evidence


async def test_unreachable_target_is_an_error_worded_as_every_check_words_it(
    tmp_path: Path,
) -> None:
    ctx, _ = make_ctx("http://127.0.0.1:9", tmp_path)
    result = await run_load(ctx, users=1, duration="2s")
    assert result.status == Status.ERROR
    assert result.summary == "cannot reach http://127.0.0.1:9/: connection refused"
    http = HttpCheck(HttpOptions.model_validate({"requests": [{"path": "/"}]}))
    assert (await http.run(ctx)).summary == result.summary


async def test_stress_break_reports_distinct_errors_and_agreeing_users(
    target_factory: Callable[..., RunningTarget], tmp_path: Path
) -> None:
    """Stopped at its first step, Locust logs a traceback per stopping user ("Tried to
    stop User in an unexpected state"), and had already started the next step."""
    target = target_factory("errors")
    ctx, _ = make_ctx(target.http_url, tmp_path)
    result = await run_load(
        ctx,
        profile="stress",
        start_users=5,
        step_users=5,
        max_users=30,
        step_duration="2s",
        thresholds=["error_rate < 1%"],
        tasks=[{"path": "/api/items"}],
    )
    assert result.status == Status.FAILED, result.summary
    assert "breaking point at 5 users" in result.summary
    assert result.metrics["breaking_users"] == 5
    assert result.metrics["users"] == result.metrics["breaking_users"]
    assert "Traceback" not in result.evidence
    assert "unexpected state" not in result.evidence
    assert "Locust had reached" in result.evidence  # the overshoot, explained


async def test_spike_reports_spike_figures_and_recovery(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    ctx, _ = make_ctx(healthy_target.http_url, tmp_path)
    result = await run_load(
        ctx,
        profile="spike",
        users=2,
        spike_users=12,
        baseline_duration="2s",
        spike_duration="2s",
        recovery_duration="3s",
        thresholds=["error_rate < 5%"],
        tasks=[{"path": "/healthz"}],
    )
    assert result.status in (Status.PASSED, Status.FAILED), result.summary
    assert "spike to 12 users" in result.summary
    assert {"baseline_p95_ms", "spike_p95_ms", "spike_error_rate_pct"} <= set(result.metrics)


async def test_soak_compares_first_and_last_window(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    ctx, _ = make_ctx(healthy_target.http_url, tmp_path)
    result = await run_load(
        ctx,
        profile="soak",
        users=3,
        spawn_rate=3,
        duration="5s",
        window="2s",
        max_degradation="500%",
        thresholds=["error_rate < 1%"],
        tasks=[{"path": "/healthz"}],
    )
    assert result.status == Status.PASSED, result.summary
    assert "soak p95" in result.summary
    assert {"first_p95_ms", "last_p95_ms", "degradation_pct"} <= set(result.metrics)


async def test_abort_on_fail_stops_early(
    target_factory: Callable[..., RunningTarget], tmp_path: Path
) -> None:
    target = target_factory("errors")
    ctx, _ = make_ctx(target.http_url, tmp_path)
    result = await run_load(
        ctx,
        users=3,
        spawn_rate=3,
        duration="30s",
        thresholds=["error_rate < 1%"],
        abort_on_fail=True,
    )
    assert result.status == Status.FAILED
    assert "aborted early" in result.summary
    assert result.metrics["duration_s"] < 20


async def test_users_own_locustfile(healthy_target: RunningTarget, tmp_path: Path) -> None:
    locustfile = tmp_path / "mine.py"
    locustfile.write_text(
        "from locust import FastHttpUser, constant, task\n\n\n"
        "class Mine(FastHttpUser):\n"
        "    wait_time = constant(0.05)\n\n"
        "    @task\n"
        "    def health(self):\n"
        '        self.client.get("/healthz", name="health")\n'
    )
    ctx, _ = make_ctx(healthy_target.http_url, tmp_path)
    result = await LoadCheck(
        LoadOptions.model_validate(
            {
                "users": 2,
                "spawn_rate": 2,
                "duration": "2s",
                "locustfile": str(locustfile),
                "thresholds": ["error_rate < 1%"],
                "task_thresholds": {"health": ["p95 < 1s"]},
            }
        )
    ).run(ctx)
    assert result.status == Status.PASSED, result.summary + result.evidence
    assert "[health] PASS" in result.evidence


async def test_remote_worker_joins_through_master_bind(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    port = free_port()
    ctx, _ = make_ctx(healthy_target.http_url, tmp_path)
    remote_dir = tmp_path / "remote"
    remote_dir.mkdir()
    # What a user runs on another machine: the locustfile comes from the master (-f -).
    remote = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "locust",
        "-f",
        "-",
        "--worker",
        "--master-host",
        "127.0.0.1",
        "--master-port",
        str(port),
        cwd=remote_dir,
        start_new_session=True,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        result = await run_load(
            ctx,
            users=2,
            spawn_rate=2,
            duration="2s",
            workers=1,
            expect_workers=2,
            master_bind=f"127.0.0.1:{port}",
            expect_workers_timeout="20s",
            thresholds=["error_rate < 1%"],
            tasks=[{"path": "/healthz"}],
        )
        assert result.status == Status.PASSED, result.summary
        assert result.metrics["workers"] == 2
        await asyncio.wait_for(remote.wait(), timeout=10)  # quits with the master
    finally:
        if remote.returncode is None:
            kill_group(remote.pid)
            await remote.wait()
