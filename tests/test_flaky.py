"""Flaky and quarantined checks (issue 25, point 4): a check that failed and then passed
on a re-run of the same release is flaky, derived from its attempts; a plan's
quarantine lets a failure block nothing up to and including its date (UTC) and blocks
again after it, said in the decision, the Slack panel and the config's validation. The
dashboard's list of flakiest checks is in tests/test_trends.py (one bot for both)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import update
from sqlmodel import col

from bot.config.loader import ConfigError, load_config
from bot.gate.actions import Gate
from bot.gate.policy import CheckFact, Facts, Outcome, RolePolicy, SignOffFact, Vote, decide
from bot.gate.quarantine import expired
from bot.gate.roles import RoleDirectory
from bot.record.report import RunReport
from bot.reports.html import render_html
from bot.reports.json_report import render_json
from bot.slack.render_gate import gate_message
from bot.store.models import Run, RunStatus
from bot.store.runs import RunStore
from bot.store.trends import flaky_attempts, flaky_checks, flaky_of
from checks.base import CheckResult, Status
from tests.support.in_process import preprod_main

NOTE = "quarantined until 2026-12-20 by sam: flaky under load"
BEFORE = datetime(2026, 12, 20, 23, 59, tzinfo=UTC)  # the last minute of its date
AFTER = datetime(2026, 12, 21, 0, 0, 1, tzinfo=UTC)
STARTED = datetime(2026, 12, 20, 12, 0, tzinfo=UTC)

CONFIG = """\
channel: C0RELEASES
roles:
  sre: {label: SRE, members: [U0SRE1]}
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
        quarantine: {until: 2026-12-20, owner: sam, reason: flaky under load}
      - {id: headers, type: security_headers, critical: false}
"""


def test_flaky_is_a_failure_then_a_pass_in_the_same_run() -> None:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    rows = [
        ("api", 1, "smoke", 1, "failed", at),
        ("api", 1, "smoke", 2, "passed", at),  # flaky
        ("api", 2, "smoke", 1, "error", at),
        ("api", 2, "smoke", 2, "failed", at),
        ("api", 2, "smoke", 3, "passed", at.replace(day=2)),  # flaky, the newest
        ("api", 3, "smoke", 1, "passed", at),
        ("api", 3, "smoke", 2, "failed", at),  # passed then failed: not flaky
        ("api", 4, "load", 2, "failed", at),
        ("api", 4, "load", 1, "failed", at),  # failed twice: a real failure
        ("web", 5, "smoke", 2, "passed", at),
        ("web", 5, "smoke", 1, "interrupted", at),  # any order in
    ]
    assert flaky_of(rows) == {
        ("api", "smoke"): (2, at.replace(day=2), 2),
        ("web", "smoke"): (1, at, 5),
    }


def quarantined(status: Status | None, *, critical: bool = True) -> CheckFact:
    return CheckFact("smoke", status, critical, quarantined_until=date(2026, 12, 20))


def facts(check: CheckFact, approved: bool = True) -> Facts:
    signed = (SignOffFact("sre", "U0SRE1", Vote.APPROVE),) if approved else ()
    return Facts((check,), True, signed, required=(RolePolicy("sre"),))


@pytest.mark.parametrize("critical", [True, False])
def test_a_quarantined_failure_blocks_nothing_until_its_date_then_blocks(critical: bool) -> None:
    before = decide(facts(quarantined(Status.FAILED, critical=critical)), BEFORE)
    assert before.outcome is Outcome.GO
    assert "smoke failed but is quarantined until 2026-12-20" in before.reasons
    after = decide(facts(quarantined(Status.FAILED, critical=critical)), AFTER)
    if critical:
        assert after.outcome is Outcome.NO_GO
        assert after.reasons == ("critical check smoke failed (its quarantine ended 2026-12-20)",)
    else:  # a non-critical failure waits for a waiver again
        assert after.outcome is Outcome.PENDING and after.unwaived == ("smoke",)
    passed = decide(facts(quarantined(Status.PASSED)), AFTER)
    assert passed.outcome is Outcome.GO and passed.reasons == (
        "every check passed or was waived; every role approved",
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[RunStore]:
    runs = RunStore(f"sqlite:///{tmp_path}/q.db")
    yield runs
    runs.engine.dispose()


async def stored_run(
    store: RunStore,
    smoke: Status,
    headers: Status,
    plan: str = "standard",
    *,
    finish: bool = True,
) -> int:
    """A run of the plan's two checks with these results, finished unless told not."""
    run = Run(service="api", version="1.0", environment="staging", plan=plan, base_url="x")
    created = await store.create_run(
        run, [("smoke", "http", True), ("headers", "security_headers", False)]
    )
    assert created.id is not None
    for check_id, status in (("smoke", smoke), ("headers", headers)):
        result = CheckResult(status=status, summary=f"{check_id} {status}", check_id=check_id)
        await store.save_result(created.id, result)
    if finish:
        await store.finish_run(created.id, RunStatus.FINISHED)
    return created.id


async def failed_run(store: RunStore, plan: str = "standard") -> int:
    return await stored_run(store, Status.FAILED, Status.PASSED, plan)


async def test_the_gate_reads_the_plans_quarantine_on_the_real_clock(
    store: RunStore, tmp_path: Path
) -> None:
    path = tmp_path / "preprod.yml"
    path.write_text(CONFIG)
    config = load_config(path)

    async def no_groups(group: str) -> list[str]:
        return []

    gate = Gate(config, store, RoleDirectory(config, no_groups))
    with time_machine.travel(STARTED, tick=False):  # its sign-off deadline is a day later
        run_id = await failed_run(store)
    with time_machine.travel(BEFORE, tick=False):
        loaded = await gate.load(run_id)
    assert loaded.gate.decision.outcome is Outcome.PENDING  # awaits SRE, not a NO-GO
    assert loaded.gate.decision.reasons == ("awaiting approval for sre",)
    [failure] = loaded.gate.failures
    assert failure.quarantine == NOTE
    shown = str(gate_message(loaded.gate).blocks)
    assert NOTE in shown and "smoke" in shown
    with time_machine.travel(AFTER, tick=False):
        loaded = await gate.load(run_id)
    assert loaded.gate.decision.outcome is Outcome.NO_GO
    assert loaded.gate.decision.reasons == (
        "critical check smoke failed (its quarantine ended 2026-12-20)",
    )
    assert NOTE in str(gate_message(loaded.gate).blocks)  # still said, now beside the NO-GO


async def test_a_rerun_that_passes_lists_the_check_as_flaky(store: RunStore) -> None:
    first = await failed_run(store)
    await store.new_attempts(first, ["smoke"])
    await store.save_result(
        first, CheckResult(status=Status.PASSED, summary="ok", check_id="smoke")
    )
    await store.finish_run(first, RunStatus.FINISHED)
    await failed_run(store)  # failed, never re-run: counted among the runs, not flaky
    since = datetime(2000, 1, 1, tzinfo=UTC)
    [flaky] = await flaky_checks(store, since)
    assert (flaky.service, flaky.check_id, flaky.flaky, flaky.runs, flaky.last_run) == (
        "api",
        "smoke",
        1,
        2,
        first,
    )
    assert await flaky_checks(store, since, service="other") == []


def test_the_reports_say_the_quarantine_escaped() -> None:
    at = datetime(2026, 12, 20, tzinfo=UTC)
    smoke = CheckResult(status=Status.FAILED, summary="down", check_id="smoke", check_type="http")
    report = RunReport(
        run_id=1,
        service="api",
        version="1.0",
        environment="staging",
        plan="standard",
        base_url="x",
        started_at=at,
        results=[smoke],
        quarantines={"smoke": "quarantined until 2026-12-20 by <sam>: flaky"},
    )
    html = render_html(report)
    assert "quarantined until 2026-12-20 by &lt;sam&gt;: flaky" in html and "<sam>" not in html
    assert json.loads(render_json(report))["quarantines"] == {
        "smoke": "quarantined until 2026-12-20 by <sam>: flaky"
    }


def test_an_expired_quarantine_is_a_warning_and_a_bad_one_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "preprod.yml"
    path.write_text(CONFIG)
    config = load_config(path)
    assert expired(config.plans, date(2026, 12, 20)) == []
    [line] = expired(config.plans, date(2026, 12, 21))
    assert line.startswith("plans.standard.checks.smoke.quarantine.until: 2026-12-20 has passed")
    with time_machine.travel(AFTER, tick=False):
        assert preprod_main("config", "validate", "--config", str(path)) == 0
    out = capsys.readouterr().out
    assert "warning: plans.standard.checks.smoke.quarantine.until" in out and ": ok (" in out
    path.write_text(CONFIG.replace("until: 2026-12-20", "until: soon"))
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert "quarantine.until" in str(raised.value)


async def test_a_rerun_stamped_before_its_run_counts_and_an_older_runs_does_not(
    store: RunStore,
) -> None:
    """The flaky read finds re-runs by their start (bot/store/trends.py): one stamped a
    little before its run (another clock) still counts; a recent re-run of a run older
    than the period does not; and the read goes through the re-runs' partial index."""
    since = datetime.now(UTC) - timedelta(days=3)
    recent, old = await failed_run(store), await failed_run(store)
    for run_id, created, started in (
        (recent, since + timedelta(hours=2), since + timedelta(hours=1)),
        (old, since - timedelta(days=5), since + timedelta(hours=5)),
    ):
        await store.new_attempts(run_id, ["smoke"])
        passed = CheckResult(status=Status.PASSED, summary="ok", check_id="smoke")
        await store.save_result(run_id, passed.model_copy(update={"started_at": started}))
        with store.engine.begin() as connection:
            connection.execute(update(Run).where(col(Run.id) == run_id).values(created_at=created))
    [flaky] = await flaky_checks(store, since)
    assert (flaky.check_id, flaky.flaky, flaky.runs, flaky.last_run) == ("smoke", 1, 1, recent)
    compiled = flaky_attempts(since).compile(store.engine)
    values = [compiled.params[name] for name in compiled.positiontup or []]
    with store.engine.connect() as connection:
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", tuple(values))
        plan = " ".join(str(row[-1]) for row in rows)
    assert "ix_checkrecord_rerun" in plan, plan
