"""A new run's audit event is queued with the run and chained by the next holder of the
appenders' lock (bot/store/audit.py): the ack of a start does not wait for that lock."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import Session

from bot.audit.chain import Action
from bot.store.audit import LOCK_KEY, Note
from bot.store.audit_log import AuditLog
from bot.store.insights import catch_up
from bot.store.models import Run
from bot.store.runs import RunStore


def _stored(session: Session) -> tuple[int, int]:
    """Events chained, events queued."""
    count = "SELECT count(*) FROM {}"
    return tuple(  # type: ignore[return-value]
        session.execute(text(count.format(table))).scalar_one()
        for table in ("auditevent", "auditqueued")
    )


def _run(version: str) -> Run:
    return Run(service="s", version=version, environment="e", plan="p", base_url="u")


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/queue.db"
    return str(request.getfixturevalue("postgres_database"))


def test_the_next_append_chains_a_queued_event_before_its_own(url: str) -> None:
    async def scenario() -> None:
        store = RunStore(url)
        log = AuditLog(store)
        run = await store.create_run(_run("1.0"), [("smoke", "http", True)])
        assert await store.call(_stored) == (0, 1)  # stored with the run, not chained yet
        await log.record(Note(Action.REMINDER_SENT, "preprod", run.id, {"to": "U1"}))
        events = await log.events()
        assert [(e.seq, e.action, e.run_id) for e in events] == [
            (1, Action.RUN_STARTED.value, run.id),
            (2, Action.REMINDER_SENT.value, run.id),
        ]
        assert events[0].details["checks"] == ["smoke"]
        assert (await log.verify()).ok
        assert await store.call(_stored) == (2, 0)
        store.engine.dispose()

    asyncio.run(scenario())


def test_chain_queued_chains_in_the_order_queued(url: str) -> None:
    async def scenario() -> None:
        store = RunStore(url)
        log = AuditLog(store)
        runs = [await store.create_run(_run(f"1.{i}"), []) for i in range(3)]
        assert await store.call(_stored) == (0, 3)
        assert await log.chain_queued() == 3
        events = await log.events()
        assert [e.run_id for e in events] == [run.id for run in runs]
        verification = await log.verify()
        assert verification.ok and verification.count == 3
        store.engine.dispose()

    asyncio.run(scenario())


def test_every_reader_of_the_trail_sees_a_queued_event(url: str) -> None:
    async def scenario() -> None:
        store = RunStore(url)
        log = AuditLog(store)
        run = await store.create_run(_run("1.0"), [])
        assert run.id is not None
        started = await log.last_of(run.id, Action.RUN_STARTED.value)
        assert started is not None and started.seq == 1
        assert [e.seq for e in await log.events(run.id)] == [1]
        store.engine.dispose()

    asyncio.run(scenario())


def test_the_insight_figures_count_a_run_whose_event_is_still_queued(url: str) -> None:
    async def scenario() -> None:
        store = RunStore(url)
        await store.create_run(_run("1.0"), [])
        assert await catch_up(store) == 1  # the queue chained, then the run counted
        assert len(await AuditLog(store).events()) == 1
        store.engine.dispose()

    asyncio.run(scenario())


def test_storing_a_run_does_not_wait_for_the_appenders_lock(postgres_database: str) -> None:
    """Another process holds the lock (a worker's batch of check results, say): the run
    is stored at once, and its event chained once the lock is free."""
    store = RunStore(postgres_database)
    holder = create_engine(postgres_database)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with holder.begin() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(10)
        began = time.monotonic()
        run = asyncio.run(asyncio.wait_for(store.create_run(_run("1.0"), []), 5))
        assert time.monotonic() - began < 2  # waited for the lock (5 s timeout) before
        assert run.id is not None
    finally:
        release.set()
        thread.join()
        holder.dispose()
    assert asyncio.run(AuditLog(store).chain_queued()) == 1
    store.engine.dispose()


def test_a_reader_that_may_not_write_verifies_the_chain_as_it_is(
    postgres_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An auditor's read-only connection: the queued event stays queued, the chain
    verifies, and the log says why the queue was left."""
    store = RunStore(postgres_database)
    asyncio.run(AuditLog(store).record(Note(Action.REMINDER_SENT, "preprod", None, {})))
    asyncio.run(store.create_run(_run("1.0"), []))  # its event queued
    separator = "&" if "?" in postgres_database else "?"
    read_only = "options=-c%20default_transaction_read_only%3Don"
    reader = RunStore(f"{postgres_database}{separator}{read_only}")
    verification = asyncio.run(AuditLog(reader).verify())
    assert verification.ok and verification.count == 1
    assert "queued audit events left unchained" in caplog.text
    assert asyncio.run(store.call(_stored)) == (1, 1)
    reader.engine.dispose()
    store.engine.dispose()
