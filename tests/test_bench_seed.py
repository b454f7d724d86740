"""bench/seed.py, small: the runs it writes straight into the database carry an audit
trail that verifies and agrees with the tables (the product's own hash function built
it), and the ``/metrics`` totals counted from them equal a count of the rows, on SQLite
and PostgreSQL. bench/pages.py measures with a million of these."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bench.seed import analyze, seed
from bot.store.agreement import check_all
from bot.store.audit_log import AuditLog
from bot.store.counts import stored_counts
from bot.store.facts import rebuild
from bot.store.runs import RunStore
from tests.test_stored_counts import direct_counts


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/seeded.db"
    found: str = request.getfixturevalue("postgres_database")
    return found


async def test_seeded_runs_have_a_trail_that_verifies_and_totals_that_match(url: str) -> None:
    store = RunStore(url)
    events = seed(store, 300, random.Random(7))
    with store.engine.begin() as connection:
        assert rebuild(connection) == 300
    analyze(store)
    verified = await AuditLog(store).verify(page=97)  # pages that do not divide the trail
    assert verified.ok and verified.count == events and events > 300 * 5
    differences: list[object] = []
    agreement = await check_all(store, differences.append)
    assert agreement.ok and agreement.runs == 300 and differences == []
    counts = await stored_counts(store)
    direct = direct_counts(store)
    assert counts.cycle_seconds == pytest.approx(direct.cycle_seconds)
    assert (counts.runs_by_status, counts.decisions_by_outcome, counts.production_by_result,
            counts.cycles) == (direct.runs_by_status, direct.decisions_by_outcome,
                               direct.production_by_result, direct.cycles)  # fmt: skip
    assert counts.runs_by_status == {"finished": 280, "running": 20}
    store.engine.dispose()
