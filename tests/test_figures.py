"""Issue 10 item 11: metrics shown to people have readable names, units and sensible
precision (HTML report, terminal summary, Slack progress); the JSON keeps raw numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.record.report import RunReport
from bot.reports import figures, render_html, render_json
from bot.slack.render_run import row_line
from bot.slack.state import RUNNING, CheckRow
from checks.base import CheckResult, Status
from tests.cli import EXAMPLE_CONFIG, run_cli, target_env
from tests.support.target import RunningTarget

T0 = datetime(2026, 11, 27, 8, 0, 0, tzinfo=UTC)
RAW = {
    "requests": 2.0,
    "latency_ms_max": 47.4549,
    "latency_ms.1": 47.4549,
    "latency_ms.2": 3.21987,
    "workers": 0.0,
    "rps": 52.123456,
    "p95_ms": 212.0,
    "error_rate_pct": 0.3333333,
    "duration_s": 10.04,
    "headroom_ratio": 1.523,
    "days_left": 89.0,
}


def test_each_metric_gets_a_name_a_unit_and_a_sensible_precision() -> None:
    shown = {f.key: (f.label, f.value) for f in figures.figures(RAW)}
    assert shown["latency_ms.1"] == ("Request 1 latency", "47 ms")
    assert shown["latency_ms.2"] == ("Request 2 latency", "3.2 ms")
    assert shown["latency_ms_max"] == ("Slowest response", "47 ms")
    assert shown["workers"] == ("Locust workers", "none (one local process)")
    assert shown["rps"] == ("Throughput", "52.1 req/s")
    assert shown["p95_ms"] == ("p95 latency", "212 ms")
    assert shown["error_rate_pct"] == ("Error rate", "0.33 %")
    assert shown["duration_s"] == ("Test duration", "10 s")
    assert shown["headroom_ratio"] == ("Capacity headroom", "1.52x")
    assert shown["days_left"] == ("Certificate valid for", "89 days")
    assert figures.value("latency_ms", 1234.5) == "1.23 s"
    assert figures.value("p99_ms", float("nan")) == "n/a"
    # a plug-in's metric: unit from its suffix, words from its name
    assert (figures.label("queue_wait_ms"), figures.value("queue_wait_ms", 12.3456)) == (
        "Queue wait",
        "12 ms",
    )
    # per-request latencies are detail: they come last
    assert [f.key for f in figures.figures(RAW)][-2:] == ["latency_ms.1", "latency_ms.2"]


def _report() -> RunReport:
    result = CheckResult(
        status=Status.PASSED,
        summary="2 requests OK",
        metrics=RAW,
        check_id="smoke",
        check_type="http",
        started_at=T0,
        finished_at=T0 + timedelta(seconds=1),
    )
    return RunReport(
        run_id=1,
        service="checkout-api",
        version="2.14.0",
        environment="staging",
        plan="standard",
        base_url="https://staging.example",
        started_at=T0,
        finished_at=T0 + timedelta(seconds=2),
        results=[result],
    )


def test_html_report_shows_readable_figures_and_json_keeps_raw_numbers() -> None:
    page = render_html(_report())
    assert "Request 1 latency" in page and "47 ms" in page and "52.1 req/s" in page
    assert "none (one local process)" in page
    for raw in ("latency_ms.1", "47.4549", "latency_ms_max", "52.1235", ">workers<"):
        assert raw not in page
    assert '"latency_ms.1": 47.4549' in render_json(_report())


def test_slack_progress_figures_are_readable() -> None:
    row = CheckRow("smoke", "http", state=RUNNING, figures={"latency_ms": 47.4549})
    line = row_line(row)
    assert "Latency 47 ms" in line and "47.4549" not in line and "latency_ms" not in line


def test_terminal_summary_shows_figures_with_units(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    run = run_cli(
        "check",
        "--config",
        str(EXAMPLE_CONFIG),
        "--env",
        "staging",
        "--release",
        "2.14.0",
        "--only",
        "smoke",
        "tls",
        tmp_path=tmp_path,
        env=target_env(healthy_target),
    )
    assert run.code == 0, run.stdout + run.stderr
    assert "Slowest response" in run.stdout and "Certificate valid for" in run.stdout
    assert "latency_ms" not in run.stdout
    assert run.json_report is not None
    assert isinstance(run.result("smoke")["metrics"]["latency_ms.1"], float)
