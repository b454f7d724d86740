"""What the third pass on the engine's own cost cut (issue 26 point 4), counted, not
timed: a batch's results and distributions are one statement each, not a row each,
and read back exactly as written (on either database); a run's end is one statement
and its event; an execution makes one redactor for its checks and a config's text is
redacted once; the writes nobody waits for share one timer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlmodel import Session, col, select

from bot.engine import runner
from bot.engine.request import RunRequest
from bot.engine.runner import Engine
from bot.engine.scope import redacted_config
from bot.store.audit_log import AuditLog
from bot.store.batch import commit_writes
from bot.store.marks import result_write
from bot.store.models import CheckDistribution, CheckRecord, Run, RunStatus
from bot.store.runs import RunStore
from checks._body import _charset, _charset_of
from checks.base import CheckResult, Status
from checks.redact import Redactor
from tests.kinds import ScriptedCheck
from tests.test_engine import make_config
from tests.test_group_commit import new_run

START = datetime(2026, 12, 7, 4, 30, 1, 123456, tzinfo=UTC)


@pytest.fixture
def store(either_store: RunStore) -> RunStore:
    return either_store


def statements(store: RunStore) -> list[tuple[str, bool]]:
    """Every statement sent from now on: its first words, and whether it was an
    executemany (a row each)."""
    sent: list[tuple[str, bool]] = []

    def seen(_c: Any, _cur: Any, statement: str, _p: Any, _ctx: Any, many: bool) -> None:
        sent.append((" ".join(statement.split())[:40], many))

    event.listen(store.engine, "before_cursor_execute", seen)
    return sent


def finished(check_id: str, started: datetime | None, **extra: Any) -> CheckResult:
    return CheckResult(status=Status.FAILED, **extra).model_copy(
        update={
            "check_id": check_id,
            "started_at": started,
            "finished_at": START + timedelta(seconds=2),
            "blocking": True,
        }
    )


def test_a_batchs_results_are_one_statement_and_read_back_as_written(store: RunStore) -> None:
    run_id = new_run(store, ["a", "b", "c"])
    summary = 'GET /a answered 500 (expected 200) "quoted" ünïcode\nsecond line'
    writes = [
        result_write(run_id, finished("a", START, summary="first", metrics={"x": 1.0}), None),
        result_write(run_id, finished("b", START, summary=summary, evidence="e\tb"), None),
        result_write(
            run_id,
            finished("c", START, summary="c", distribution={"hist": {"3": 2}, "requests": 2}),
            None,
        ),
        # a later result of the same check in the same batch wins, keeping the start
        result_write(
            run_id,
            finished("a", None, summary="again", metrics={"latency_ms.1": 2.5, "n": 3}),
            None,
        ),
    ]
    sent = statements(store)
    with Session(store.engine, expire_on_commit=False) as session:
        commit_writes(session, writes)
    updates = [many for text, many in sent if text.startswith("UPDATE checkrecord")]
    inserts = [many for text, many in sent if text.startswith("INSERT INTO checkdistribution")]
    events = [many for text, many in sent if text.startswith("INSERT INTO auditevent")]
    assert updates == [False] and inserts == [False], sent  # one statement, not a row each
    assert events == [False, False], sent  # the queued "run started", then the four
    with Session(store.engine) as session:
        rows = {r.check_id: r for r in session.exec(select(CheckRecord))}
        kept = session.exec(select(CheckDistribution)).one()
    assert rows["a"].summary == "again" and rows["a"].metrics == {"latency_ms.1": 2.5, "n": 3}
    assert rows["b"].summary == summary and rows["b"].evidence == "e\tb"
    for record in rows.values():
        assert record.status == "failed" and record.blocking is True
        assert record.started_at == START  # "a"'s second result had no start of its own
        assert record.finished_at == START + timedelta(seconds=2)
    assert (kept.check_id, kept.data) == ("c", {"hist": {"3": 2}, "requests": 2})
    trail = AuditLog(store)
    verified = await_(trail.verify())
    assert verified.ok and verified.count == 5, verified  # run started, four results
    ended = [e for e in await_(trail.events()) if e.action == "check.finished"]
    assert [e.details["check"] for e in ended] == ["a", "b", "c", "a"]
    assert ended[1].details["summary"] == summary and ended[1].run_id == run_id


def test_a_runs_end_is_one_statement_and_its_event(tmp_path: Path) -> None:
    store = RunStore(f"sqlite:///{tmp_path}/preprod.db")
    run_id = new_run(store, ["a"])
    sent = statements(store)
    asyncio.run(store.finish_run(run_id, RunStatus.CANCELLED, actor="U0SRE1"))
    texts = [text for text, _ in sent]
    assert [t for t in texts if t.startswith("UPDATE run ")] == [texts[0]], texts
    assert not [t for t in texts if t.startswith("SELECT run")], texts  # no ORM load
    with Session(store.engine) as session:
        run = session.get(Run, run_id)
    assert run is not None and run.status is RunStatus.CANCELLED and run.finished_at
    trail = AuditLog(store)
    events = await_(trail.events())
    assert [(e.action, e.actor) for e in events][-1] == ("run.cancelled", "U0SRE1")
    assert events[-1].details == {"status": "cancelled", "generation": 1}
    assert await_(trail.verify()).ok


def await_(awaitable: Any) -> Any:
    async def wait() -> Any:
        return await awaitable

    return asyncio.run(wait())


@pytest.mark.usefixtures("scripted_kinds")
def test_an_execution_makes_one_redactor_and_a_configs_text_is_redacted_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[object] = []

    class Counted(Redactor):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            made.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(runner, "Redactor", Counted)
    redacted_config.cache_clear()
    checks = "".join(f"- {{id: c{n}, type: scripted}}\n" for n in range(12))
    config = make_config(tmp_path, checks)
    engine = Engine(config, RunStore(f"sqlite:///{tmp_path}/preprod.db"), tmp_path / "work")
    request = RunRequest(service="checkout-api", version="2.14.0", environment="staging")
    for _ in range(2):
        report = asyncio.run(engine.run(request))
        assert len(report.results) == 12
    assert len(made) == 2, len(made)  # one each execution, not one a check
    assert redacted_config.cache_info().misses == 1
    stored = asyncio.run(engine.store.call(lambda s: s.exec(select(Run)).all()))
    assert len(stored) == 2


def test_the_writes_nobody_waits_for_share_one_timer(tmp_path: Path) -> None:
    store = RunStore(f"sqlite:///{tmp_path}/preprod.db")
    checks = [f"c{n}" for n in range(10)]
    run_id = new_run(store, checks)
    timers: list[float] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        original = loop.call_later

        def counted(delay: float, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
            if getattr(args[0], "__name__", "") == "_start":  # the writer's, not the test's
                timers.append(delay)
            return original(delay, *args, **kwargs)

        loop.call_later = counted  # type: ignore[method-assign,assignment]
        for check in checks:
            store.mark_started_soon(run_id, check, START)
        await asyncio.sleep(0.4)  # the timer fires; the drainer commits them

    asyncio.run(scenario())
    assert len(timers) == 1, timers
    with Session(store.engine) as session:
        states = {r.check_id: r.status for r in session.exec(select(CheckRecord))}
    assert states == dict.fromkeys(checks, "running")


@pytest.mark.usefixtures("scripted_kinds")
def test_an_executions_checks_run_on_as_many_workers_as_its_concurrency(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workers: list[int] = []
    original = Engine._work_through

    async def counted(self: Engine, *args: Any) -> None:
        workers.append(1)
        await original(self, *args)

    monkeypatch.setattr(Engine, "_work_through", counted)
    checks = "".join(f"- {{id: c{n}, type: scripted, sleep: 0.01}}\n" for n in range(12))
    engine = Engine(
        make_config(tmp_path, checks), RunStore(f"sqlite:///{tmp_path}/preprod.db"), tmp_path
    )
    request = RunRequest(service="checkout-api", version="2.14.0", environment="staging")
    report = asyncio.run(engine.run(request))
    assert [r.check_id for r in report.results] == [f"c{n}" for n in range(12)]
    assert len(workers) == engine.concurrency  # a task a worker, not one a check
    spans = sorted(ScriptedCheck.spans.values())
    most = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    assert most == engine.concurrency  # still that many at once, no more


def test_a_new_runs_checks_are_one_statement_and_hold_a_records_defaults(
    store: RunStore,
) -> None:
    sent = statements(store)
    run_id = new_run(store, ["a", "minor", "c"])
    inserts = [many for text, many in sent if text.startswith("INSERT INTO checkrecord")]
    assert inserts == [False], sent  # one statement, not a row each
    with Session(store.engine) as session:
        stored = session.exec(select(CheckRecord).order_by(col(CheckRecord.id))).all()
    expected = [
        CheckRecord(run_id=run_id, check_id=c, check_type="http", position=n, critical=k)
        for n, (c, k) in enumerate([("a", True), ("minor", False), ("c", True)])
    ]
    assert [r.model_dump(exclude={"id"}) for r in stored] == [
        r.model_dump(exclude={"id"}) for r in expected
    ]


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "text/html; charset=ISO-8859-1", 'text/plain; charset="utf-16"',
     "text/plain; charset=no-such-codec", "application/json;charset=latin-1"],
)  # fmt: skip
def test_a_bodys_charset_is_read_as_httpx_reads_it_parsed_once(content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = httpx.Response(200, headers=headers)
    named = response.charset_encoding or "utf-8"
    expected = named if named != "no-such-codec" else "utf-8"
    _charset_of.cache_clear()
    assert _charset(response) == expected
    assert _charset(httpx.Response(200, headers=headers)) == expected
    assert _charset_of.cache_info().misses == 1  # the second response's header: no parse
