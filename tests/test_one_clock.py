"""Time from one clock, for the times stamped from Python (issue 23, point 4): a process
whose clock runs 120 s fast stamps a run's creation and end, its checks' start and end,
its audit events and its outbox claims by the database's clock (the offset it measured),
not its own; so it neither shows times from the future nor takes a live claim on a
message and posts it twice. Real PostgreSQL; the fast clock is the store's local clock, shifted."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from textwrap import dedent

import pytest
from sqlalchemy import func, select

from bot.config.loader import load_config
from bot.engine.request import RunRequest
from bot.engine.runner import Engine
from bot.store.audit_log import AuditLog
from bot.store.leases import Leases
from bot.store.models import OutboxMessage, as_utc, utcnow
from bot.store.outbox import OutboxStore
from bot.store.runs import RunStore

PLAN = """\
environments: {staging: {base_url: "http://127.0.0.1:9", plan: p}}
plans: {p: {checks: [{id: one, type: scripted}, {id: two, type: scripted}]}}
"""


def shifted(seconds: float) -> Callable[[], datetime]:
    return lambda: utcnow() + timedelta(seconds=seconds)


def database_now(store: RunStore) -> datetime:
    with store.engine.connect() as connection:
        return as_utc(connection.execute(select(func.clock_timestamp())).scalar_one())


async def fast_store(url: str) -> RunStore:
    """A process's store whose own clock runs 120 s fast, measured as at start-up."""
    store = RunStore(url)
    store.clock.local = shifted(120)
    skew = await asyncio.to_thread(store.clock.measure)
    assert -121 < skew.offset < -119
    return store


@pytest.mark.usefixtures("scripted_kinds")
async def test_a_fast_process_stamps_run_and_check_times_by_the_databases_clock(
    tmp_path: Path, postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await fast_store(postgres_database)
    monkeypatch.setattr("bot.store.audit.utcnow", shifted(120))  # the process's own clock
    config = tmp_path / "preprod.yml"
    config.write_text(dedent(PLAN))
    engine = Engine(load_config(config), store, tmp_path / "work", leases=Leases(store, "fast"))
    report = await engine.run(RunRequest("svc", "1", "staging", source="slack"))
    now = database_now(store)
    run = await store.get_run(report.run_id)
    assert run is not None and run.finished_at is not None
    stamped = {"created_at": as_utc(run.created_at), "finished_at": as_utc(run.finished_at)}
    for check in (await store.report(report.run_id)).results:
        assert check.started_at is not None and check.finished_at is not None
        stamped[f"{check.check_id} started"] = as_utc(check.started_at)
        stamped[f"{check.check_id} finished"] = as_utc(check.finished_at)
    for event in await AuditLog(store).events(report.run_id):  # the trail's times too
        stamped[f"event {event.seq} {event.action}"] = event.at
    assert len(stamped) > 8, stamped
    off = {what: (at - now).total_seconds() for what, at in stamped.items()}
    assert all(-5 < seconds < 1 for seconds in off.values()), off


async def test_a_fast_process_does_not_take_a_live_outbox_claim(postgres_database: str) -> None:
    healthy = OutboxStore(RunStore(postgres_database))
    fast = OutboxStore(await fast_store(postgres_database))
    _, created = await healthy.intend("run:1:parent", "C1", None, owner="healthy")
    assert created
    assert not await fast.claim("run:1:parent", "fast", stale_after=30), (
        "a clock 120 s fast took a live claim: the message would be posted twice"
    )
    # its own claims are stamped by the database's clock too: the healthy one waits
    await fast.intend("run:2:parent", "C1", None, owner="fast")
    assert not await healthy.claim("run:2:parent", "healthy", stale_after=30)
    row = await healthy.store.call(lambda session: session.get(OutboxMessage, "run:2:parent"))
    assert row is not None and row.claimed_at is not None
    assert abs((as_utc(row.claimed_at) - database_now(healthy.store)).total_seconds()) < 5
