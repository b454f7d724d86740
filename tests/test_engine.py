"""The run engine with scripted check kinds and a real SQLite database."""

from __future__ import annotations

import asyncio
from pathlib import Path
from textwrap import dedent, indent

import pytest
from sqlmodel import Session, select

from bot.config.loader import load_config
from bot.config.schema import Config
from bot.engine.events import (
    CheckFinished,
    CheckProgressed,
    CheckStarted,
    Event,
    RunFinished,
    RunStarted,
)
from bot.engine.request import RequestError, RunRequest
from bot.engine.runner import Engine
from bot.record.report import Verdict
from bot.store.models import CheckRecord, Run, RunStatus
from bot.store.runs import RunStore
from checks.base import Status
from tests.kinds import ScriptedCheck

pytestmark = pytest.mark.usefixtures("scripted_kinds")


def make_config(tmp_path: Path, checks: str) -> Config:
    path = tmp_path / "preprod.yml"
    path.write_text(
        dedent("""\
        environments:
          staging:
            base_url: http://127.0.0.1:9
            plan: standard
            headers: {Authorization: "Bearer ${TOKEN}"}
        plans:
          standard:
            checks:
        """)
        + indent(dedent(checks), "      ")
    )
    return load_config(path, environ={"TOKEN": "hunter2-token"})


def make_engine(tmp_path: Path, checks: str, events: list[Event] | None = None) -> Engine:
    store = RunStore(f"sqlite:///{tmp_path}/preprod.db")
    listeners = [events.append] if events is not None else []
    return Engine(make_config(tmp_path, checks), store, tmp_path / "work", listeners=listeners)


REQUEST = RunRequest(service="checkout-api", version="2.14.0", environment="staging")


async def test_results_statuses_blocking_and_verdict(tmp_path: Path) -> None:
    engine = make_engine(
        tmp_path,
        """\
          - {id: ok, type: scripted}
          - {id: warn, type: scripted, outcome: warn}
          - {id: soft, type: scripted, outcome: fail, critical: false}
          - {id: hard, type: scripted, outcome: fail}
        """,
    )
    report = await engine.run(REQUEST)
    statuses = {r.check_id: (r.status, r.blocking) for r in report.results}
    assert statuses == {
        "ok": (Status.PASSED, False),
        "warn": (Status.WARNED, False),
        "soft": (Status.FAILED, False),
        "hard": (Status.FAILED, True),
    }
    assert report.blocking_failures == ["hard"]
    assert report.verdict is Verdict.FAIL
    assert report.results[0].metrics == {"answer": 42}
    assert all(r.started_at and r.finished_at for r in report.results)


async def test_every_failure_mode_becomes_error_with_reason(tmp_path: Path) -> None:
    engine = make_engine(
        tmp_path,
        """\
          - {id: crash, type: scripted, outcome: crash}
          - {id: unreachable, type: scripted, outcome: unreachable}
          - {id: hang, type: scripted, outcome: hang, timeout: 300ms}
        """,
    )
    report = await engine.run(REQUEST)
    by_id = {r.check_id: r for r in report.results}
    assert all(r.status is Status.ERROR and r.blocking for r in report.results)
    assert by_id["crash"].summary == "check crashed: RuntimeError: boom"
    assert by_id["unreachable"].summary == "cannot reach http://127.0.0.1:9/: connection refused"
    assert by_id["hang"].summary == "timed out after 300ms"


async def test_light_checks_overlap_and_exclusive_ones_run_alone(tmp_path: Path) -> None:
    engine = make_engine(
        tmp_path,
        """\
          - {id: a, type: scripted, sleep: 0.3}
          - {id: b, type: scripted, sleep: 0.3}
          - {id: heavy, type: scripted_exclusive, sleep: 0.2}
          - {id: c, type: scripted, sleep: 0.1, exclusive: true}
        """,
    )
    await engine.run(REQUEST)
    spans = ScriptedCheck.spans
    assert spans["a"][0] < spans["b"][1] and spans["b"][0] < spans["a"][1]  # overlapped
    assert spans["heavy"][0] >= max(spans["a"][1], spans["b"][1])
    assert spans["c"][0] >= spans["heavy"][1]


async def test_only_records_the_rest_as_skipped(tmp_path: Path) -> None:
    engine = make_engine(
        tmp_path,
        """\
          - {id: a, type: scripted}
          - {id: b, type: scripted, outcome: fail}
        """,
    )
    report = await engine.run(RunRequest("svc", "1", "staging", only=("a",)))
    assert [(r.check_id, r.status) for r in report.results] == [
        ("a", Status.PASSED),
        ("b", Status.SKIPPED),
    ]
    assert report.verdict is Verdict.PASS
    with pytest.raises(RequestError, match="plan 'standard' has no check 'zz'; its checks: a, b"):
        await engine.run(RunRequest("svc", "1", "staging", only=("zz",)))
    with pytest.raises(RequestError, match="unknown environment 'prod'; known: staging"):
        await engine.run(RunRequest("svc", "1", "prod"))


async def test_results_are_stored_before_listeners_hear_of_them(tmp_path: Path) -> None:
    seen: list[str] = []
    engine = make_engine(tmp_path, "  - {id: a, type: scripted, outcome: fail}\n")

    def listener(event: Event) -> None:
        if isinstance(event, CheckFinished):
            with Session(engine.store.engine) as session:
                record = session.exec(select(CheckRecord)).one()
                seen.append(record.status)

    engine.listeners.append(listener)
    await engine.run(REQUEST)
    assert seen == ["failed"]


async def test_event_sequence_and_redacted_evidence(tmp_path: Path) -> None:
    events: list[Event] = []
    engine = make_engine(
        tmp_path,
        """\
          - {id: a, type: scripted, outcome: fail, evidence: "sent Bearer hunter2-token"}
        """,
        events,
    )
    report = await engine.run(REQUEST)
    kinds = [type(e) for e in events]
    assert kinds == [RunStarted, CheckStarted, CheckProgressed, CheckFinished, RunFinished]
    assert "hunter2-token" not in report.results[0].evidence
    assert "[REDACTED]" in report.results[0].evidence


async def test_a_broken_listener_does_not_stop_the_run(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, "  - {id: a, type: scripted}\n")

    def broken(event: Event) -> None:
        raise RuntimeError("display broke")

    engine.listeners.append(broken)
    report = await engine.run(REQUEST)
    assert report.results[0].status is Status.PASSED


async def test_cancelling_records_the_run_as_cancelled(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, "  - {id: slow, type: scripted, outcome: hang, timeout: 1m}\n")
    run = await engine.start(REQUEST)
    task = asyncio.create_task(engine.execute(run, REQUEST))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert run.id is not None
    stored = await engine.store.get_run(run.id)
    assert stored is not None and stored.status is RunStatus.CANCELLED
    report = await engine.store.report(run.id)
    assert report.verdict is Verdict.INCOMPLETE


async def test_runs_are_listed_newest_first(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, "  - {id: a, type: scripted}\n")
    first = await engine.run(REQUEST)
    second = await engine.run(REQUEST)
    runs: list[Run] = await engine.store.list_runs()
    assert [r.id for r in runs] == [second.run_id, first.run_id]
    assert runs[0].config_digest == engine.config.digest


async def test_rerun_adds_attempts_and_keeps_history(tmp_path: Path) -> None:
    engine = make_engine(
        tmp_path,
        """\
          - {id: a, type: scripted}
          - {id: b, type: scripted, outcome: fail}
        """,
    )
    run = await engine.start(REQUEST)
    await engine.execute(run, REQUEST)
    report = await engine.rerun(run, ["a"])
    assert [(r.check_id, r.status) for r in report.results] == [
        ("a", Status.PASSED),
        ("b", Status.FAILED),
    ]
    with Session(engine.store.engine) as session:
        attempts = sorted((r.check_id, r.attempt) for r in session.exec(select(CheckRecord)).all())
    assert attempts == [("a", 1), ("a", 2), ("b", 1)]
    with pytest.raises(RequestError, match="has no check 'zz'"):
        await engine.rerun(run, ["zz"])
