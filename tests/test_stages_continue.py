"""Issue 25's gaps in stages and quarantine, in the engine and the CLI: a re-run of a run a
stage ended re-runs that stage's failed checks and the checks it skipped (not the passed
ones, not those ``--only`` left out); keep-going is stored with the run, so a resumed run
and a re-run keep it; a quarantine in force keeps a failure from ending the run, from
blocking and from failing ``preprod check``, and after its date it blocks everywhere.
Real HTTP on 127.0.0.1, real SQLite, the CLI's ``main()`` in process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.audit.chain import Action
from bot.config.loader import load_config
from bot.engine.quarantine import in_force
from bot.engine.request import RunRequest
from bot.engine.runner import Engine
from bot.engine.stages import continue_from
from bot.record.report import Verdict
from bot.reports.html import render_html
from bot.slack.render_run import parent_message
from bot.slack.state import RunState
from bot.store.audit_log import AuditLog
from bot.store.models import CheckRecord
from bot.store.runs import RunStore
from checks.base import Status
from tests.support.in_process import preprod_main
from tests.support.local_http import HealthTarget, health_target
from tests.support.plans import write_plan

pytestmark = pytest.mark.usefixtures("scripted_kinds")


@pytest.fixture
def target() -> Iterator[HealthTarget]:
    with health_target() as served:
        yield served


def engine_for(tmp_path: Path, config: Path) -> Engine:
    store = RunStore(f"sqlite:///{tmp_path}/preprod.db")
    return Engine(load_config(config), store, tmp_path / "work")


def attempts(engine: Engine, run_id: int) -> list[tuple[str, int, str]]:
    with Session(engine.store.engine) as session:
        rows = session.exec(select(CheckRecord).where(CheckRecord.run_id == run_id)).all()
    return sorted((r.check_id, r.attempt, r.status) for r in rows)


REQUEST = RunRequest(service="checkout-api", version="2.14.0", environment="staging")

STAGED = """\
    stages:
      - name: smoke
        checks:
          - {{id: ready, type: scripted}}
          - {{id: health, type: http, requests: [{{path: /health}}]}}
      - name: full
        checks:
          - {{id: orders, type: scripted}}
          - {{id: extra, type: scripted}}
"""


# -- a re-run continues the run a stage ended ---------------------------------------


async def test_a_rerun_continues_with_the_failed_checks_and_the_skipped_stage(
    tmp_path: Path, target: HealthTarget
) -> None:
    engine = engine_for(tmp_path, write_plan(tmp_path, target.url, STAGED.format()))
    request = RunRequest("checkout-api", "2.14.0", "staging", only=("ready", "health", "orders"))
    report = await engine.run(request)
    assert {r.check_id: r.summary for r in report.results if r.status is Status.SKIPPED} == {
        "orders": "stage smoke failed: health",
        "extra": "not selected for this run",
    }
    run = await engine.store.get_run(report.run_id)
    assert run is not None
    # the passed check of the failed stage is kept; the check --only left out stays out
    assert await engine.rerun_from(run) == ("smoke", ["health", "orders"])
    target.healthy = True
    again = await engine.rerun(run)
    assert {r.check_id: r.status for r in again.results} == {
        "ready": Status.PASSED,
        "health": Status.PASSED,
        "orders": Status.PASSED,
        "extra": Status.SKIPPED,
    }
    assert again.verdict is Verdict.PASS
    assert attempts(engine, report.run_id) == [
        ("extra", 1, "skipped"),
        ("health", 1, "failed"),
        ("health", 2, "passed"),
        ("orders", 1, "skipped"),
        ("orders", 2, "passed"),
        ("ready", 1, "passed"),
    ]


def test_continue_from_is_none_when_no_stage_ended_the_run(tmp_path: Path) -> None:
    config = load_config(write_plan(tmp_path, "http://127.0.0.1:9", STAGED.format()))
    stages = config.plans["p"].stage_list()
    ran = {
        "ready": ("passed", "fine"),
        "health": ("failed", "503"),
        "orders": ("passed", "fine"),
        "extra": ("skipped", "not selected for this run"),
    }
    assert continue_from(stages, ran) is None  # keep-going: every stage ran
    ended = {**ran, "orders": ("skipped", "stage smoke failed: health")}
    assert continue_from(stages, ended) == ("smoke", ["health", "orders"])


# -- keep-going is stored with the run -------------------------------------------------


KEEP = """\
    stages:
      - {name: smoke, checks: [{id: health, type: scripted, outcome: fail}]}
      - {name: full, checks: [{id: orders, type: scripted}]}
"""


async def test_keep_going_is_stored_and_a_resumed_run_keeps_it(tmp_path: Path) -> None:
    config = write_plan(tmp_path, "http://127.0.0.1:9", KEEP)
    first = engine_for(tmp_path, config)
    request = RunRequest("checkout-api", "2.14.0", "staging", keep_going=True)
    run = await first.start(request)  # stored; then its process "dies"
    assert run.id is not None and run.keep_going
    started = await AuditLog(first.store).last_of(run.id, Action.RUN_STARTED)
    assert started is not None and started.details.get("keep_going") is True
    other = engine_for(tmp_path, config)  # another process takes the run over
    stored = await other.store.get_run(run.id)
    assert stored is not None and stored.keep_going
    report = await other.resume(stored)
    assert {r.check_id: r.status for r in report.results} == {
        "health": Status.FAILED,
        "orders": Status.PASSED,
    }
    assert report.keep_going


async def test_a_rerun_keeps_the_runs_keep_going(tmp_path: Path) -> None:
    engine = engine_for(tmp_path, write_plan(tmp_path, "http://127.0.0.1:9", KEEP))
    report = await engine.run(RunRequest("checkout-api", "2.14.0", "staging", keep_going=True))
    run = await engine.store.get_run(report.run_id)
    assert run is not None
    again = await engine.rerun(run)
    assert [r.status for r in again.results] == [Status.FAILED, Status.PASSED]
    assert ("orders", 2, "passed") in attempts(engine, report.run_id)


async def test_without_keep_going_the_stored_run_says_so(tmp_path: Path) -> None:
    engine = engine_for(tmp_path, write_plan(tmp_path, "http://127.0.0.1:9", KEEP))
    report = await engine.run(REQUEST)
    assert not report.keep_going
    assert [r.status for r in report.results] == [Status.FAILED, Status.SKIPPED]


# -- quarantine in the engine and the CLI ---------------------------------------------


def quarantined_plan(until: date) -> str:
    return f"""\
    stages:
      - name: smoke
        checks:
          - id: flaky
            type: scripted
            outcome: fail
            quarantine: {{until: {until.isoformat()}, owner: sam, reason: known flake}}
      - {{name: full, checks: [{{id: orders, type: scripted}}]}}
    """


TODAY = datetime.now(UTC).date()


def test_a_quarantine_is_in_force_up_to_its_day_inclusive() -> None:
    day = date(2026, 12, 20)
    assert in_force(day, datetime(2026, 12, 20, 23, 59, 59, tzinfo=UTC))
    assert not in_force(day, datetime(2026, 12, 21, 0, 0, 0, tzinfo=UTC))
    assert not in_force(None, datetime(2026, 12, 1, tzinfo=UTC))


async def test_a_quarantined_failure_does_not_end_the_stage_nor_block(tmp_path: Path) -> None:
    plan = quarantined_plan(TODAY + timedelta(days=1))
    engine = engine_for(tmp_path, write_plan(tmp_path, "http://127.0.0.1:9", plan))
    report = await engine.run(REQUEST)
    results = {r.check_id: r for r in report.results}
    assert results["flaky"].status is Status.FAILED
    assert not results["flaky"].blocking
    assert results["orders"].status is Status.PASSED, "the quarantined failure ended the run"
    assert report.verdict is Verdict.PASS


async def test_after_its_date_a_quarantined_failure_ends_the_run(tmp_path: Path) -> None:
    plan = quarantined_plan(TODAY - timedelta(days=1))
    engine = engine_for(tmp_path, write_plan(tmp_path, "http://127.0.0.1:9", plan))
    report = await engine.run(REQUEST)
    results = {r.check_id: r for r in report.results}
    assert results["flaky"].blocking
    assert (results["orders"].status, results["orders"].summary) == (
        Status.SKIPPED,
        "stage smoke failed: flaky",
    )
    assert report.verdict is Verdict.FAIL


@pytest.mark.parametrize(
    ("days", "code", "said"),
    [
        (1, 0, "failed (quarantined)"),
        (-1, 1, "(ended: it blocks again)"),
    ],
)
def test_preprod_check_honours_the_quarantine_and_says_so(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    days: int,
    code: int,
    said: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    until = TODAY + timedelta(days=days)
    config = write_plan(tmp_path, "http://127.0.0.1:9", quarantined_plan(until))
    db = f"sqlite:///{tmp_path}/cli.db"
    json_report = tmp_path / "r.json"
    argv = ["check", "--config", str(config), "--env", "staging", "--database", db]
    assert preprod_main(*argv, "--json", str(json_report)) == code
    out = capsys.readouterr().out
    assert f"quarantined until {until.isoformat()} by sam: known flake" in out
    assert said in out
    written = json.loads(json_report.read_text())
    assert written["blocking_failures"] == ([] if code == 0 else ["flaky"])


async def test_the_thread_and_the_run_page_say_keep_going(tmp_path: Path) -> None:
    engine = engine_for(tmp_path, write_plan(tmp_path, "http://127.0.0.1:9", KEEP))
    report = await engine.run(RunRequest("checkout-api", "2.14.0", "staging", keep_going=True))
    run = await engine.store.get_run(report.run_id)
    assert run is not None
    said = "Keep going: every stage runs even after a blocking failure."
    assert said in str(parent_message(RunState.from_run(run)).blocks)
    assert said in str(parent_message(RunState.from_report(report)).blocks)
    assert "keep going: every stage runs" in render_html(report)
    plain = await engine.run(REQUEST)
    assert said not in str(parent_message(RunState.from_report(plain)).blocks)
    assert "keep going" not in render_html(plain)
