"""The Slack run state, folded from real engine events by the pure reducer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from textwrap import dedent, indent

import pytest

from bot.config.loader import load_config
from bot.engine import runner as engine_module
from bot.engine.events import (
    CheckFinished,
    CheckProgressed,
    CheckStarted,
    Event,
    PlannedCheck,
    RunFinished,
    RunStarted,
)
from bot.engine.request import RunRequest
from bot.engine.runner import Engine
from bot.record.report import RunReport, Verdict
from bot.slack.state import NOT_SELECTED, CheckRow, RunState, apply, mark_cancelled
from bot.store.runs import RunStore
from checks.base import CheckResult, Status
from checks.context import ProgressEvent

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
RUN = 42


def new_state(**overrides: object) -> RunState:
    fields: dict[str, object] = {
        "run_id": RUN,
        "service": "checkout-api",
        "version": "2.14.0",
        "environment": "staging",
        "plan": "standard",
        "requester": "U0ALICE",
        "base_url": "https://staging.internal.example",
        "started_at": T0,
    }
    fields.update(overrides)
    return RunState(**fields)  # type: ignore[arg-type]


def result(check_id: str, status: Status, summary: str = "", **kwargs: object) -> CheckResult:
    critical = bool(kwargs.pop("critical", True))
    return CheckResult(
        status=status,
        summary=summary or status.value,
        check_id=check_id,
        check_type=str(kwargs.pop("check_type", "http")),
        critical=critical,
        blocking=critical and status.is_problem,
        started_at=T0,
        finished_at=T0 + timedelta(seconds=2),
        **kwargs,
    )


def report(results: list[CheckResult], status: str = "finished") -> RunReport:
    return RunReport(
        run_id=RUN,
        service="checkout-api",
        version="2.14.0",
        environment="staging",
        plan="standard",
        base_url="https://staging.internal.example",
        requester="U0ALICE",
        status=status,
        started_at=T0,
        finished_at=T0 + timedelta(minutes=3),
        results=results,
    )


PLANNED = (
    PlannedCheck("smoke", "http", True, True),
    PlannedCheck("load", "load", True, True),
    PlannedCheck("headers", "security_headers", False, True),
    PlannedCheck("pii", "pii_scan", True, False),
)


def row(state: RunState, check_id: str) -> CheckRow:
    found = state.row(check_id)
    assert found is not None, check_id
    return found


def fold(events: list[Event], state: RunState | None = None) -> RunState:
    state = state or new_state()
    for event in events:
        state = apply(state, event)
    return state


def test_run_started_lists_every_check_and_skips_the_unselected() -> None:
    state = fold([RunStarted(RUN, PLANNED)])
    assert [row.check_id for row in state.rows] == ["smoke", "load", "headers", "pii"]
    assert [row.state for row in state.rows] == ["pending", "pending", "pending", Status.SKIPPED]
    assert row(state, "pii").summary == NOT_SELECTED
    assert (state.total, state.done, state.status) == (3, 0, "running")


def test_the_whole_sequence_from_start_to_finish() -> None:
    smoke = result("smoke", Status.PASSED, "3/3 requests ok")
    load = result("load", Status.FAILED, "p95 812ms > 500ms", check_type="load")
    headers = result("headers", Status.FAILED, "no CSP", critical=False)
    pii = result("pii", Status.SKIPPED, NOT_SELECTED, check_type="pii_scan")
    events: list[Event] = [
        RunStarted(RUN, PLANNED),
        CheckFinished(RUN, pii),
        CheckStarted(RUN, "smoke"),
        CheckStarted(RUN, "load"),
        CheckProgressed(RUN, ProgressEvent("load", "50 users, 120 rps", {"rps": 120.0})),
    ]
    state = fold(events)
    load_row = state.row("load")
    assert load_row is not None
    assert (load_row.state, load_row.progress, dict(load_row.figures)) == (
        "running",
        "50 users, 120 rps",
        {"rps": 120.0},
    )
    assert state.counts["running"] == 2 and state.counts["pending"] == 1
    state = fold([CheckFinished(RUN, smoke), CheckFinished(RUN, load)], state)
    assert (state.done, state.total) == (2, 3)
    assert [row.check_id for row in state.blocking_failures] == ["load"]
    assert state.verdict is Verdict.FAIL
    state = fold([CheckFinished(RUN, headers)], state)
    assert [row.check_id for row in state.failures] == ["load", "headers"]
    assert [row.check_id for row in state.blocking_failures] == ["load"]
    final = fold([RunFinished(RUN, report([pii, smoke, load, headers]))], state)
    assert final.status == "finished" and final.finished_at == T0 + timedelta(minutes=3)
    assert (final.done, final.total) == (3, 3)
    finished_load = final.row("load")
    assert finished_load is not None
    assert (finished_load.progress, finished_load.duration_s) == ("", 2.0)


def test_a_clean_run_passes() -> None:
    results = [result("smoke", Status.PASSED), result("load", Status.WARNED)]
    planned = PLANNED[:2]
    events: list[Event] = [RunStarted(RUN, planned)]
    events += [CheckFinished(RUN, r) for r in results]
    state = fold(events)
    assert state.verdict is Verdict.INCOMPLETE  # finished checks, but the run is not over
    state = apply(state, RunFinished(RUN, report(results)))
    assert state.verdict is Verdict.PASS


def test_foreign_late_and_unknown_events_are_harmless() -> None:
    state = fold([RunStarted(RUN, PLANNED), CheckFinished(RUN, result("smoke", Status.FAILED))])
    assert apply(state, CheckStarted(RUN + 1, "load")) is state
    late = fold(
        [CheckStarted(RUN, "smoke"), CheckProgressed(RUN, ProgressEvent("smoke", "late line"))],
        state,
    )
    assert late.row("smoke") == state.row("smoke")
    assert apply(state, CheckStarted(RUN, "nope")).rows == state.rows
    rerun = apply(state, CheckFinished(RUN, result("extra", Status.PASSED)))
    assert rerun.rows[-1].check_id == "extra" and rerun.rows[-1].state is Status.PASSED


def test_cancel_and_engine_failure() -> None:
    state = fold([RunStarted(RUN, PLANNED), CheckStarted(RUN, "smoke")])
    cancelled = mark_cancelled(state, T0 + timedelta(minutes=1))
    assert cancelled.status == "cancelled" and cancelled.verdict is Verdict.INCOMPLETE
    broken = apply(state, RunFinished(RUN, report([], status="failed")))
    assert broken.status == "failed"


def test_from_report_rebuilds_the_picture() -> None:
    pii = result("pii", Status.SKIPPED, NOT_SELECTED)
    state = RunState.from_report(report([result("smoke", Status.ERROR), pii]), "https://r/42")
    assert state.report_url == "https://r/42"
    assert (state.total, state.done, state.status) == (1, 1, "finished")
    assert [row.check_id for row in state.blocking_failures] == ["smoke"]
    assert not row(state, "pii").selected


def test_not_selected_matches_the_engine() -> None:
    assert NOT_SELECTED == engine_module.NOT_SELECTED


@pytest.mark.usefixtures("scripted_kinds")
async def test_folding_a_real_engine_run(tmp_path: Path) -> None:
    checks = """\
      - {id: ok, type: scripted}
      - {id: soft, type: scripted, outcome: fail, critical: false}
      - {id: hard, type: scripted, outcome: fail, evidence: "trace"}
      - {id: extra, type: scripted}
    """
    config_path = tmp_path / "preprod.yml"
    config_path.write_text(
        dedent("""\
        environments:
          staging: {base_url: "http://127.0.0.1:9", plan: standard}
        plans:
          standard:
            checks:
        """)
        + indent(dedent(checks), "      ")
    )
    events: list[Event] = []
    engine = Engine(
        load_config(config_path, environ={}),
        RunStore(f"sqlite:///{tmp_path}/preprod.db"),
        tmp_path / "work",
        listeners=[events.append],
    )
    request = RunRequest("checkout-api", "2.14.0", "staging", only=("ok", "soft", "hard"))
    run = await engine.start(request)
    state = RunState.from_run(run)
    assert state.run_id == run.id and state.started_at == run.created_at
    await engine.execute(run, request)
    assert {type(event) for event in events} >= {RunStarted, CheckProgressed, RunFinished}
    state = fold(events, state)
    assert state.status == "finished" and (state.done, state.total) == (3, 3)
    assert [row.check_id for row in state.failures] == ["soft", "hard"]
    assert [row.check_id for row in state.blocking_failures] == ["hard"]
    extra = state.row("extra")
    assert extra is not None and not extra.selected and extra.state is Status.SKIPPED


def test_a_rerun_keeps_the_results_of_checks_it_does_not_select() -> None:
    from datetime import UTC, datetime

    from bot.engine.events import CheckFinished, PlannedCheck, RunStarted
    from bot.slack.state import RunState, apply
    from checks.base import CheckResult, Status

    state = RunState(1, "svc", "1.0", "staging", "standard", "U1", "https://x", datetime.now(UTC))
    both = (PlannedCheck("a", "http", True, True), PlannedCheck("b", "tls", True, True))
    state = apply(state, RunStarted(1, both))
    for check_id, result in (("a", CheckResult.failed("bad")), ("b", CheckResult.passed("ok"))):
        state = apply(state, CheckFinished(1, result.model_copy(update={"check_id": check_id})))
    only_a = (PlannedCheck("a", "http", True, True), PlannedCheck("b", "tls", True, False))
    state = apply(state, RunStarted(1, only_a))
    assert [(r.check_id, r.state, r.summary) for r in state.rows] == [
        ("a", "pending", ""),
        ("b", Status.PASSED, "ok"),
    ]
