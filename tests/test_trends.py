"""Trends and flaky checks on the pages (issue 25, points 3 and 4): each load check's
p95, error rate and throughput across the service's last releases and a stress check's
headroom, read from the stored figures of past runs, on the run page and the dashboard;
the dashboard's flakiest checks (failed, then passed on a re-run of the same release);
a plan's quarantine shown on the run page. One bot over real HTTP for the pages; the
browser draws the same seed in tests/test_browser_trends.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from bot.store.models import Run, RunStatus
from bot.store.runs import RunStore
from bot.store.trends import CheckTrend, TrendPoint, trends_of
from bot.web.trends import trend_charts
from checks.base import CheckResult, Status
from tests.slackbot import running_bot
from tests.support.signin import signed_in

SRE1 = "U0SRE1"
SERVICE = "checkout-api"
P95 = (180.0, 186.0, 199.0, 214.0, 236.0, 262.0)
VERSIONS = tuple(f"2.{n}.0" for n in range(10, 16))
NOTE = "quarantined until 2099-12-20 by sam: flaky under load"

CONFIG = """\
channel: C0RELEASES
roles:
  sre: {label: SRE, members: [U0SRE1, U0SRE2]}
policy:
  required_signoffs: [sre]
environments:
  staging: {base_url: "http://127.0.0.1:9", plan: standard}
plans:
  standard:
    checks:
      - id: smoke
        type: http
        requests: [{path: /healthz}]
        quarantine: {until: 2099-12-20, owner: sam, reason: flaky under load}
      - {id: steady, type: load, users: 5, duration: 10s, critical: false, tasks: [{path: /}]}
"""


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "preprod.yml"
    path.write_text(CONFIG)
    return path


async def seed(url: str) -> list[int]:
    """Six releases of checkout-api on staging with a load and a stress check's figures;
    in the last, smoke failed and passed on the re-run (flaky). The run ids."""
    store = RunStore(url)
    ids = []
    for version, p95 in zip(VERSIONS, P95, strict=True):
        run = Run(
            service=SERVICE, version=version, environment="staging", plan="standard", base_url="x"
        )
        checks = [("smoke", "http", True), ("steady", "load", False), ("capacity", "load", False)]
        created = await store.create_run(run, checks)
        assert created.id is not None
        ids.append(created.id)
        figures = {
            "smoke": (Status.PASSED, {}),
            "steady": (Status.PASSED, {"p95_ms": p95, "error_rate_pct": 0.2, "rps": 48.0}),
            "capacity": (Status.PASSED, {"sustained_rps": 120.0, "headroom_ratio": 300 / p95}),
        }
        if version == VERSIONS[-1]:
            figures["smoke"] = (Status.FAILED, {})
        for check_id, (status, metrics) in figures.items():
            result = CheckResult(status=status, summary="s", metrics=metrics, check_id=check_id)
            await store.save_result(created.id, result)
        await store.finish_run(created.id, RunStatus.FINISHED)
    last = ids[-1]
    await store.new_attempts(last, ["smoke"])
    await store.save_result(last, CheckResult(status=Status.PASSED, summary="ok", check_id="smoke"))
    await store.finish_run(last, RunStatus.FINISHED)
    store.engine.dispose()
    return ids


def test_a_trend_is_each_releases_newest_measured_attempt_oldest_first() -> None:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    rows = [
        (3, "1.2", at, "steady", 1, {"p95_ms": 300}),
        (3, "1.2", at, "steady", 2, {"p95_ms": 210, "note": "text is left out"}),
        (1, "1.0", at, "steady", 1, {"p95_ms": 180}),
        (2, "1.1", at, "steady", 1, {"p95_ms": 200}),
        (4, "1.1", at, "steady", 1, {"p95_ms": 205}),  # 1.1 again: the newer run counts
    ]
    [trend] = trends_of(rows)
    assert [(p.version, p.run_id, p.metrics) for p in trend.points] == [
        ("1.0", 1, {"p95_ms": 180.0}),
        ("1.2", 3, {"p95_ms": 210.0}),
        ("1.1", 4, {"p95_ms": 205.0}),
    ]
    [last_two] = trends_of(rows, releases=2)
    assert [p.version for p in last_two.points] == ["1.2", "1.1"]


def test_load_checks_get_three_charts_and_a_stress_check_its_headroom() -> None:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    load = CheckTrend(
        "steady",
        tuple(
            TrendPoint(i, f"1.{i}", at, {"p95_ms": 100.0 + i, "error_rate_pct": 0.1, "rps": 9.0})
            for i in range(5)
        ),
    )
    stress = CheckTrend(
        "capacity", (TrendPoint(1, "1.0", at, {"sustained_rps": 90.0, "headroom_ratio": 1.5}),)
    )
    unbounded = CheckTrend("ramp", (TrendPoint(1, "1.0", at, {"sustained_rps": 90.0}),))
    titles = [c.title for c in trend_charts([load, stress, unbounded])]
    assert titles == [
        "steady: p95 over the last 5 releases",
        "steady: error rate over the last 5 releases",
        "steady: throughput over the last 5 releases",
        "capacity: capacity headroom over the last 1 releases",
        "ramp: sustained throughput over the last 1 releases",
    ]
    p95 = str(trend_charts([load])[0].chart)
    assert "1.0: 100.0 ms" in p95 and "1.4: 104.0 ms" in p95 and p95.count("<circle") == 5


async def test_the_pages_show_trends_flaky_checks_and_quarantines(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/bot.db"
    ids = await seed(url)
    async with (
        running_bot(write_config(tmp_path), tmp_path, web=True, database_url=url) as harness,
        await signed_in(harness.url, harness.standin, SRE1) as sre,
    ):
        page = (await sre.get(f"/runs/{ids[-1]}")).text
        assert f"Trends of {SERVICE} on staging" in page
        assert page.count("<svg") == 4  # steady's p95, errors, rps; capacity's headroom
        assert "steady: p95 over the last 6 releases" in page
        assert "2.10.0: 180.0 ms" in page and "2.15.0: 262.0 ms" in page
        assert "capacity: capacity headroom over the last 6 releases" in page
        assert f"<strong>smoke</strong>: {NOTE}" in page  # the plan's quarantine, shown
        report = (await sre.get(f"/runs/{ids[-1]}/report")).text
        assert f'<span class="quarantine">{NOTE}</span>' in report  # beside smoke's row
        older = (await sre.get(f"/runs/{ids[2]}")).text  # a run's page shows its own past
        assert "steady: p95 over the last 3 releases" in older and "2.13.0" not in older

        listing = (await sre.get("/runs")).text
        flaky = re.search(r'<table aria-label="Flakiest checks">.*?</table>', listing, re.S)
        assert flaky, listing
        cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", flaky.group(0).split("<tbody>")[1])
        assert cells[:4] == [SERVICE, "smoke", "1", "6"]
        assert f'href="/runs/{ids[-1]}"' in cells[4]
        assert "<svg" not in listing  # trends are one service's: filtered by it
        mine = (await sre.get("/runs", params={"service": SERVICE})).text
        assert f"Trends of {SERVICE} on staging" in mine and mine.count("<svg") == 4
        other = (await sre.get("/runs", params={"service": "nobody"})).text
        assert "No flaky checks for this service." in other and "<svg" not in other
