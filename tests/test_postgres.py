"""The same store, engine and release-gate storage on a real PostgreSQL server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from bot.config.loader import load_config
from bot.engine.request import RunRequest
from bot.engine.runner import Engine
from bot.record.report import Verdict
from bot.store.gate import GateStore
from bot.store.models import DecisionRecord, SignOff
from bot.store.runs import RunStore

pytestmark = pytest.mark.usefixtures("scripted_kinds")

PLAN = """\
environments: {staging: {base_url: "http://127.0.0.1:9", plan: p}}
plans:
  p:
    checks:
      - {id: a, type: scripted}
      - {id: b, type: scripted, outcome: fail, critical: false}
"""


@pytest.fixture
def database(postgres_database: str) -> str:
    return postgres_database


def engine_for(url: str, tmp_path: Path) -> Engine:
    path = tmp_path / "preprod.yml"
    path.write_text(PLAN)
    return Engine(load_config(path), RunStore(url), tmp_path / "work")


async def test_migrations_match_the_models_on_postgres(database: str) -> None:
    store = RunStore(database)
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []
    RunStore(database)  # a second start migrates nothing and fails nothing


async def test_runs_reruns_and_reports_on_postgres(database: str, tmp_path: Path) -> None:
    engine = engine_for(database, tmp_path)
    request = RunRequest("checkout-api", "2.14.0", "staging")
    run = await engine.start(request)
    report = await engine.execute(run, request)
    assert [(r.check_id, r.status.value) for r in report.results] == [
        ("a", "passed"),
        ("b", "failed"),
    ]
    assert report.verdict is Verdict.PASS  # b is not critical
    rerun = await engine.rerun(run, ["b"])
    assert rerun.results[1].status.value == "failed"
    assert run.id is not None
    assert (await GateStore(engine.store).attempts(run.id)) == {"a": 1, "b": 2}
    stored = await engine.store.get_run(run.id)
    assert stored is not None and stored.generation == 2


async def test_unique_keys_make_racing_inserts_count_once(database: str, tmp_path: Path) -> None:
    engine = engine_for(database, tmp_path)
    request = RunRequest("svc", "1", "staging")
    report = await engine.execute(await engine.start(request), request)
    gates = GateStore(engine.store)
    votes = [
        SignOff(run_id=report.run_id, generation=1, role="sre", user="U1", vote="approve")
        for _ in range(5)
    ]
    assert sorted(await asyncio.gather(*map(gates.insert_once, votes))) == [False] * 4 + [True]
    decisions = [DecisionRecord(run_id=report.run_id, outcome="go") for _ in range(5)]
    assert sorted(await asyncio.gather(*map(gates.insert_once, decisions))) == [False] * 4 + [True]
    assert len(await gates.signoffs(report.run_id, 1)) == 1
