"""Stages and fail-fast (issue 25, point 1): the plan schema, the engine against a real
HTTP target on 127.0.0.1 and a real SQLite database, the CLI's ``--keep-going``, the
``/preprod start ... keep-going`` grammar and the "early confidence" line."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent

import pytest
from sqlmodel import Session, select

from bot.config.loader import ConfigError, load_config
from bot.engine.events import Event, StageFinished
from bot.engine.request import RunRequest
from bot.engine.runner import Engine
from bot.engine.stages import batches, expected_seconds
from bot.gate.policy import CheckFact, Facts, Outcome, decide
from bot.record.report import Verdict
from bot.slack.commands import Start, parse
from bot.slack.render_run import stage_line
from bot.store.models import CheckRecord, utcnow
from bot.store.runs import RunStore
from checks.base import Status
from tests.support.in_process import preprod_main
from tests.support.local_http import HealthTarget, health_target
from tests.support.plans import write_plan

pytestmark = pytest.mark.usefixtures("scripted_kinds")


@pytest.fixture(scope="module")
def target() -> Iterator[HealthTarget]:
    with health_target() as served:
        yield served


def http(check_id: str, path: str, extra: str = "") -> str:
    return f"{{id: {check_id}, type: http, requests: [{{path: {path}}}]{extra}}}"


STAGED = """\
    stages:
      - name: smoke
        checks:
          - {health}
          - {ready}
      - name: full
        checks:
          - {orders}
          - {{id: soak, type: scripted, sleep: 30}}
"""


def staged(target: HealthTarget) -> str:
    return STAGED.format(
        health=http("health", "/health"),
        ready=http("ready", "/ready"),
        orders=http("orders", "/orders"),
    )


def engine_for(tmp_path: Path, config: Path, events: list[Event] | None = None) -> Engine:
    store = RunStore(f"sqlite:///{tmp_path}/preprod.db")
    listeners = [events.append] if events is not None else []
    return Engine(load_config(config), store, tmp_path / "work", listeners=listeners)


REQUEST = RunRequest(service="checkout-api", version="2.14.0", environment="staging")


# -- the plan schema ------------------------------------------------------------------


def test_stages_and_stage_keys_give_the_same_ordered_stages(tmp_path: Path) -> None:
    listed = load_config(write_plan(tmp_path, "http://127.0.0.1:9", STAGED.format(
        health=http("health", "/health"), ready=http("ready", "/ready"),
        orders=http("orders", "/orders"))))  # fmt: skip
    keyed = load_config(write_plan(tmp_path, "http://127.0.0.1:9", """\
        checks:
          - {id: health, type: scripted, stage: smoke}
          - {id: orders, type: scripted, stage: full}
          - {id: ready, type: scripted, stage: smoke}
          - {id: soak, type: scripted, stage: full}
    """))  # fmt: skip
    for config in (listed, keyed):
        stages = config.plans["p"].stage_list()
        assert [(s.name, s.fail_fast) for s in stages] == [("smoke", True), ("full", True)]
        assert [[c.id for c in s.checks] for s in stages] == [
            ["health", "ready"],
            ["orders", "soak"],
        ]


def test_a_flat_plan_is_one_stage_and_stays_as_it_was(tmp_path: Path) -> None:
    config = load_config(write_plan(tmp_path, "http://127.0.0.1:9", """\
        checks:
          - {id: a, type: scripted}
          - {id: b, type: scripted}
    """))  # fmt: skip
    plan = config.plans["p"]
    assert [c.id for c in plan.checks] == ["a", "b"]
    assert all(c.stage is None for c in plan.checks)
    [one] = plan.stage_list()
    assert (one.name, [c.id for c in one.checks]) == ("checks", ["a", "b"])


def test_fail_fast_per_plan_overridden_per_stage(tmp_path: Path) -> None:
    config = load_config(write_plan(tmp_path, "http://127.0.0.1:9", """\
        fail_fast: false
        stages:
          - {name: smoke, fail_fast: true, checks: [{id: a, type: scripted}]}
          - {name: full, checks: [{id: b, type: scripted}]}
    """))  # fmt: skip
    assert [s.fail_fast for s in config.plans["p"].stage_list()] == [True, False]


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        (
            """\
            stages:
              - {name: smoke, checks: [{id: a, type: scripted}]}
              - {name: full, checks: [{id: a, type: scripted}]}
            """,
            "check 'a' is listed in two stages: 'smoke' and 'full'",
        ),
        (
            """\
            stages:
              - {name: smoke, checks: [{id: a, type: scripted}]}
            checks:
              - {id: b, type: scripted, stage: smok}
            """,
            "checks[0].stage: no stage named 'smok'; stages: smoke",
        ),
        (
            """\
            checks:
              - {id: a, type: scripted, stage: smoke}
              - {id: b, type: scripted}
            """,
            "checks[1]: check 'b' has no stage",
        ),
        (
            """\
            stages:
              - {name: smoke, checks: [{id: a, type: scripted}]}
              - {name: smoke, checks: [{id: b, type: scripted}]}
            """,
            "stage name 'smoke' is used twice",
        ),
        (
            """\
            stages:
              - {name: smoke, checks: [{id: a, type: scripted, stage: full}]}
            """,
            "stages[0].checks[0]: check 'a' is listed in stage 'smoke' but says stage: 'full'",
        ),
        (
            """\
            stages:
              - {name: smoke, checks: [{id: a, type: scripted}]}
              - {name: full}
            """,
            "stage 'full' has no checks",
        ),
        (
            """\
            stages:
              - {name: smoke, checks: [{id: a, type: scripted, sleeep: 1}]}
            """,
            "plans.p.stages[0].checks[0].sleeep (line 6): unknown key",
        ),
    ],
)
def test_stage_config_errors_name_the_problem(tmp_path: Path, plan: str, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(write_plan(tmp_path, "http://127.0.0.1:9", dedent(plan)))
    assert expected in str(raised.value)
    assert "preprod.yml" in str(raised.value)


# -- the engine ------------------------------------------------------------------------


async def test_a_failed_smoke_stage_ends_the_run_and_skips_the_rest(
    tmp_path: Path, target: HealthTarget
) -> None:
    events: list[Event] = []
    engine = engine_for(tmp_path, write_plan(tmp_path, target.url, staged(target)), events)
    before = list(target.seen)
    began = time.monotonic()
    report = await engine.run(REQUEST)
    took = time.monotonic() - began

    assert took < 5, f"the run went on after its smoke stage failed ({took:.1f} s)"
    statuses = {r.check_id: (r.status, r.summary) for r in report.results}
    assert statuses["health"][0] is Status.FAILED
    assert statuses["ready"][0] is Status.PASSED
    reason = "stage smoke failed: health"
    assert statuses["orders"] == (Status.SKIPPED, reason)
    assert statuses["soak"] == (Status.SKIPPED, reason)
    assert report.verdict is Verdict.FAIL
    asked = target.seen[len(before) :]
    assert sorted(asked) == ["/health", "/ready"], "the later stage sent no request"
    assert not [e for e in events if isinstance(e, StageFinished)]
    # stored as such: a fresh read of the run says the same
    stored = await engine.store.report(report.run_id)
    assert {r.check_id: r.summary for r in stored.results if r.status is Status.SKIPPED} == {
        "orders": reason,
        "soak": reason,
    }


async def test_keep_going_runs_every_stage(tmp_path: Path, target: HealthTarget) -> None:
    plan = staged(target).replace("sleep: 30", "sleep: 0")
    engine = engine_for(tmp_path, write_plan(tmp_path, target.url, plan))
    before = len(target.seen)
    keep = RunRequest("checkout-api", "2.14.0", "staging", keep_going=True)
    report = await engine.run(keep)
    assert {r.check_id: r.status for r in report.results} == {
        "health": Status.FAILED,
        "ready": Status.PASSED,
        "orders": Status.PASSED,
        "soak": Status.PASSED,
    }
    assert "/orders" in target.seen[before:]


async def test_a_stage_that_fails_without_fail_fast_goes_on(tmp_path: Path) -> None:
    engine = engine_for(tmp_path, write_plan(tmp_path, "http://127.0.0.1:9", """\
        stages:
          - {name: smoke, fail_fast: false, checks: [{id: a, type: scripted, outcome: fail}]}
          - {name: full, checks: [{id: b, type: scripted}]}
    """))  # fmt: skip
    report = await engine.run(REQUEST)
    assert [r.status for r in report.results] == [Status.FAILED, Status.PASSED]


async def test_a_non_critical_failure_does_not_end_the_stage(tmp_path: Path) -> None:
    engine = engine_for(tmp_path, write_plan(tmp_path, "http://127.0.0.1:9", """\
        stages:
          - {name: smoke, checks: [{id: a, type: scripted, outcome: fail, critical: false}]}
          - {name: full, checks: [{id: b, type: scripted}]}
    """))  # fmt: skip
    report = await engine.run(REQUEST)
    assert [r.status for r in report.results] == [Status.FAILED, Status.PASSED]


EARLY = """\
    stages:
      - {name: smoke, checks: [{id: a, type: scripted}]}
      - name: full
        checks:
          - {id: b, type: scripted, sleep: 0.3}
          - {id: c, type: scripted, sleep: 0.1}
"""


async def test_early_confidence_without_then_with_history(tmp_path: Path) -> None:
    events: list[Event] = []
    engine = engine_for(tmp_path, write_plan(tmp_path, "http://127.0.0.1:9", EARLY), events)
    await engine.run(REQUEST)
    [first] = [e for e in events if isinstance(e, StageFinished)]
    assert (first.stage, first.passed, first.next_stage, first.next_checks) == (
        "smoke", ("a",), "full", ("b", "c"),
    )  # fmt: skip
    assert first.expected_s is None
    await engine.run(REQUEST)
    second = [e for e in events if isinstance(e, StageFinished)][-1]
    # b and c run side by side: the slower one's median
    assert second.expected_s is not None and 0.25 < second.expected_s < 1.0
    # another service has no history of its own
    await engine.run(RunRequest("other-api", "1.0", "staging"))
    assert [e for e in events if isinstance(e, StageFinished)][-1].expected_s is None


async def test_rerun_of_a_run_a_stage_ended_goes_on_from_that_stage(tmp_path: Path) -> None:
    engine = engine_for(tmp_path, write_plan(tmp_path, "http://127.0.0.1:9", """\
        stages:
          - {name: pre, checks: [{id: a, type: scripted}]}
          - {name: smoke, checks: [{id: b, type: scripted, outcome: fail}]}
          - {name: full, checks: [{id: c, type: scripted}]}
    """))  # fmt: skip
    report = await engine.run(REQUEST)
    assert [r.status for r in report.results] == [Status.PASSED, Status.FAILED, Status.SKIPPED]
    run = await engine.store.get_run(report.run_id)
    assert run is not None
    assert await engine.rerun_from(run) == ("smoke", ["b", "c"])
    again = await engine.rerun(run)
    assert [r.status for r in again.results] == [Status.PASSED, Status.FAILED, Status.SKIPPED]
    with Session(engine.store.engine) as session:
        rows = session.exec(select(CheckRecord).where(CheckRecord.run_id == run.id)).all()
    attempts = sorted((r.check_id, r.attempt, r.status) for r in rows)
    assert attempts == [
        ("a", 1, "passed"),  # the passed stage is kept, not run again
        ("b", 1, "failed"),
        ("b", 2, "failed"),
        ("c", 1, "skipped"),
        ("c", 2, "skipped"),
    ]


async def test_rerun_of_one_later_check_runs_it(tmp_path: Path) -> None:
    engine = engine_for(tmp_path, write_plan(tmp_path, "http://127.0.0.1:9", """\
        stages:
          - {name: smoke, checks: [{id: b, type: scripted, outcome: fail}]}
          - {name: full, checks: [{id: c, type: scripted}]}
    """))  # fmt: skip
    report = await engine.run(REQUEST)
    run = await engine.store.get_run(report.run_id)
    assert run is not None
    again = await engine.rerun(run, ["c"])
    assert [r.status for r in again.results] == [Status.FAILED, Status.PASSED]


async def test_rerun_of_a_flat_plan_reruns_every_check(tmp_path: Path) -> None:
    engine = engine_for(tmp_path, write_plan(tmp_path, "http://127.0.0.1:9", """\
        checks:
          - {id: a, type: scripted}
          - {id: b, type: scripted, outcome: fail}
    """))  # fmt: skip
    report = await engine.run(REQUEST)
    run = await engine.store.get_run(report.run_id)
    assert run is not None
    assert await engine.rerun_from(run) == (None, ["a", "b"])


def test_expected_seconds_adds_stages_and_takes_each_batch_slowest(tmp_path: Path) -> None:
    config = load_config(write_plan(tmp_path, "http://127.0.0.1:9", """\
        stages:
          - {name: smoke, checks: [{id: a, type: scripted}]}
          - name: full
            checks:
              - {id: b, type: scripted}
              - {id: c, type: scripted}
              - {id: d, type: scripted, exclusive: true}
    """))  # fmt: skip
    [smoke, full] = config.plans["p"].stage_list()
    batched = [list(batches(smoke.checks)), list(batches(full.checks))]
    assert expected_seconds(batched, {}) is None
    # a (10) + max(b 5, c 20) + d (unknown: 0)
    assert expected_seconds(batched, {"a": 10.0, "b": 5.0, "c": 20.0}) == 30.0


# -- the gate, the grammar, the line, the CLI ------------------------------------------


def test_the_gate_says_why_a_critical_check_was_not_run() -> None:
    facts = Facts(
        checks=(
            CheckFact("health", Status.FAILED, True),
            CheckFact("orders", Status.SKIPPED, True, summary="stage smoke failed: health"),
        ),
        automated_done=True,
    )
    decision = decide(facts, utcnow())
    assert decision.outcome is Outcome.NO_GO
    assert decision.reasons == (
        "critical check health failed",
        "critical check orders was not run (stage smoke failed: health)",
    )


def test_start_keep_going_is_parsed_and_unknown_words_still_refused() -> None:
    assert parse("start api 1.2 staging keep-going") == Start(
        "api", "1.2", "staging", keep_going=True
    )
    assert parse("start api 1.2 staging").keep_going is False  # type: ignore[union-attr]


def test_the_early_confidence_line() -> None:
    text, blocks = stage_line("smoke", ["health", "ready"], "full", ["load", "soak"], 272.0)
    assert text == (
        "✅ Stage *smoke* passed (health, ready). Next: *full* (load, soak), "
        "about 4.53m from past runs."
    )
    assert blocks[0]["text"]["text"] == text
    fresh, _ = stage_line("smoke", ["health"], "full", ["load"], None)
    assert fresh.endswith("Next: *full* (load), no history yet.")


def test_cli_keep_going_runs_all_and_the_table_says_why_checks_were_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = write_plan(tmp_path, "http://127.0.0.1:9", """\
        stages:
          - {name: smoke, checks: [{id: health, type: scripted, outcome: fail}]}
          - {name: full, checks: [{id: orders, type: scripted}]}
    """)  # fmt: skip
    db = f"sqlite:///{tmp_path}/cli.db"
    base = ["check", "--config", str(config), "--env", "staging", "--database", db]
    reports = ["--json", str(tmp_path / "r.json"), "--junit", str(tmp_path / "r.xml")]
    assert preprod_main(*base, *reports, "--html", str(tmp_path / "r.html")) == 1
    out = capsys.readouterr().out
    assert "stage smoke failed: health" in out
    assert '"summary": "stage smoke failed: health"' in (tmp_path / "r.json").read_text()
    assert '<skipped message="stage smoke failed: health"' in (tmp_path / "r.xml").read_text()
    assert "stage smoke failed: health" in (tmp_path / "r.html").read_text()
    assert preprod_main(*base, "--keep-going") == 1
    out = capsys.readouterr().out
    assert "stage smoke failed" not in out
