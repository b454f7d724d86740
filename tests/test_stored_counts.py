"""``/metrics`` reads the stored runs' counts from the few ``insighttotal`` rows kept with
the insight rollups (a scrape must not read every run): the same figures as counting the
rows one by one, after a bulk load (``facts.rebuild``) and after the product's own writes
(followed from the audit trail), on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlmodel import Session, select

from bot.audit.chain import Action
from bot.store.audit import Note
from bot.store.counts import StoredCounts, stored_counts
from bot.store.facts import rebuild
from bot.store.gate import GateStore
from bot.store.models import DecisionRecord, ProductionOutcome, Run, RunStatus, as_utc
from bot.store.runs import RunStore
from bot.web.metrics import Snapshot, render

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/counts.db"
    found: str = request.getfixturevalue("postgres_database")
    return found


async def test_counts_come_from_the_totals_and_match_the_rows(url: str) -> None:
    store = RunStore(url)
    statuses = [RunStatus.FINISHED] * 4 + [RunStatus.RUNNING, RunStatus.CANCELLED]
    # run n decided after (n + 1) * 600 s: 600 + 1200 + 1800 seconds for the three decided
    decided = {1: ("go", 600), 2: ("no-go", 1200), 3: ("go", 1800)}
    with Session(store.engine) as session:
        for n, status in enumerate(statuses, start=1):
            session.add(Run(id=n, service="api", version="1", environment="staging", plan="p",
                            base_url="http://x", status=status, created_at=T0))  # fmt: skip
        session.flush()
        for n, (outcome, seconds) in decided.items():
            session.add(
                DecisionRecord(run_id=n, outcome=outcome, at=T0 + timedelta(seconds=seconds))
            )
        session.add(ProductionOutcome(run_id=1, result="success", user="U0RM"))
        session.add(ProductionOutcome(run_id=3, result="rolled-back", user="U0RM"))
        session.commit()
    with store.engine.begin() as connection:
        rebuild(connection)  # rows written without audit events: counted as an import is

    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_: statements.append(statement))  # fmt: skip
    counts = await stored_counts(store)
    assert counts.runs_by_status == {"finished": 4, "running": 1, "cancelled": 1}
    assert counts.decisions_by_outcome == {"go": 2, "no-go": 1}
    assert counts.production_by_result == {"success": 1, "rolled-back": 1}
    assert counts.cycles == 3 and counts.cycle_seconds == pytest.approx(3600.0)
    reads = [s.lower() for s in statements if "insighttotal" in s.lower()]
    assert len(reads) == 1 and not any("from run" in s.lower() for s in statements)

    text = render(Snapshot(counts)).decode()
    assert 'preprod_runs{status="finished"} 4.0' in text
    assert 'preprod_decisions_total{outcome="go"} 2.0' in text
    assert "preprod_decision_cycle_seconds_count 3.0" in text
    assert "preprod_decision_cycle_seconds_sum 3600.0" in text
    store.engine.dispose()


async def test_totals_follow_the_products_writes(url: str) -> None:
    """Runs stored, finished, re-run, decided and given an outcome through the store (each
    with its audit event): the totals read by a scrape equal a count of the rows."""
    store = RunStore(url)
    checks = [("smoke", "http", True)]
    ids = []
    for n in range(5):
        run = Run(service="api", version=str(n), environment="staging", plan="p",
                  base_url="http://x", created_at=T0 + timedelta(minutes=n))  # fmt: skip
        ids.append((await store.create_run(run, checks)).id)
    assert (await stored_counts(store)).runs_by_status == {"running": 5}
    await store.finish_run(ids[0], RunStatus.FINISHED)
    await store.finish_run(ids[1], RunStatus.CANCELLED, actor="U0RM")
    await store.finish_run(ids[2], RunStatus.FINISHED)
    gates = GateStore(store)
    for run_id, outcome in ((ids[0], "go"), (ids[2], "no-go")):
        note = Note(Action.DECISION, "preprod", run_id, {"outcome": outcome, "reasons": []})
        assert await gates.insert_audited(DecisionRecord(run_id=run_id, outcome=outcome), note)
    await gates.record_outcome(ProductionOutcome(run_id=ids[0], result="success", user="U0RM"))
    counts = await stored_counts(store)
    assert counts.runs_by_status == {"running": 2, "finished": 2, "cancelled": 1}
    assert counts.decisions_by_outcome == {"go": 1, "no-go": 1} and counts.cycles == 2
    assert counts.production_by_result == {"success": 1}
    direct = direct_counts(store)
    assert counts.cycle_seconds == pytest.approx(direct.cycle_seconds)
    assert replace(counts, cycle_seconds=0.0) == replace(direct, cycle_seconds=0.0)
    store.engine.dispose()


def direct_counts(store: RunStore) -> StoredCounts:
    """The figures counted from the rows themselves."""
    with Session(store.engine) as session:
        runs = list(session.exec(select(Run)))
        decisions = list(session.exec(select(DecisionRecord)))
        outcomes = list(session.exec(select(ProductionOutcome)))
    created = {run.id: as_utc(run.created_at) for run in runs}
    by_status: dict[str, int] = {}
    for run in runs:
        by_status[run.status.value] = by_status.get(run.status.value, 0) + 1
    by_outcome: dict[str, int] = {}
    for d in decisions:
        by_outcome[d.outcome] = by_outcome.get(d.outcome, 0) + 1
    by_result: dict[str, int] = {}
    for o in outcomes:
        by_result[o.result] = by_result.get(o.result, 0) + 1
    seconds = sum((as_utc(d.at) - created[d.run_id]).total_seconds() for d in decisions)
    return StoredCounts(by_status, by_outcome, by_result, len(decisions), seconds)
