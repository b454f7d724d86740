"""``/metrics`` counts the stored runs with aggregate queries (a scrape must not read
every run): the same figures as counting the rows one by one, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlmodel import Session

from bot.store.counts import stored_counts
from bot.store.models import DecisionRecord, ProductionOutcome, Run, RunStatus
from bot.store.runs import RunStore
from bot.web.metrics import Snapshot, render

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/counts.db"
    found: str = request.getfixturevalue("postgres_database")
    return found


async def test_counts_come_from_aggregates_and_match_the_rows(url: str) -> None:
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

    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_: statements.append(statement))  # fmt: skip
    counts = await stored_counts(store)
    assert counts.runs_by_status == {"finished": 4, "running": 1, "cancelled": 1}
    assert counts.decisions_by_outcome == {"go": 2, "no-go": 1}
    assert counts.production_by_result == {"success": 1, "rolled-back": 1}
    assert counts.cycles == 3 and counts.cycle_seconds == pytest.approx(3600.0)
    assert len(statements) == 4 and all("count(" in s.lower() for s in statements)

    text = render(Snapshot(counts)).decode()
    assert 'preprod_runs{status="finished"} 4.0' in text
    assert 'preprod_decisions_total{outcome="go"} 2.0' in text
    assert "preprod_decision_cycle_seconds_count 3.0" in text
    assert "preprod_decision_cycle_seconds_sum 3600.0" in text
    store.engine.dispose()
