"""What each command's ack costs the database, counted, not timed: the statements,
transactions and worker-thread calls made on the ack path (inside ``answering``) of
``/preprod start``, ``status N`` and ``list``, on SQLite and PostgreSQL, through the
real app over HTTP. A statement more on this path is CPU and a round trip every ack of
a burst queues behind (issue 26; bench/ack_latency.py times them)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from slack_bolt.request.async_request import AsyncBoltRequest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from bot.store import connect
from bot.store.connect import retry_safe
from bot.store.faults import deadline_at, on_ack_path
from bot.store.listing import gate_rows, latest_with_gate_rows
from bot.store.models import (
    AttestationTick,
    CheckRecord,
    ConfigSnapshot,
    DecisionRecord,
    Run,
    RunStatus,
    SignOff,
)
from bot.store.outbox import OutboxStore
from bot.store.runs import RunStore
from tests.hostile_bot import CONFIG
from tests.slackbot import CHANNEL, Harness, running_bot
from tests.support.processes import Database


@dataclass
class Tally:
    """What the ack path sent to the database while counting."""

    statements: list[str] = field(default_factory=list)
    autocommit: list[bool] = field(default_factory=list)
    """Per statement, whether the driver's connection was in autocommit: psycopg sends
    ``BEGIN`` before a statement only when it is not."""
    transactions: int = 0
    checkouts: int = 0
    pings: int = 0

    def round_trips(self, postgres: bool) -> int:
        """Statements, pings, and on PostgreSQL each transaction's BEGIN and its end
        (psycopg sends BEGIN on its own; SQLite's are calls in the process)."""
        ends = 2 * self.transactions if postgres else 0
        return len(self.statements) + self.pings + ends


_counted: list[tuple[Engine, Tally]] = []
"""The engine being counted and its tally, while :func:`counting` lasts."""


def _tally(conn: Any) -> Tally | None:
    if _counted and conn.engine.pool is _counted[0][0].pool and on_ack_path():
        return _counted[0][1]
    return None


@event.listens_for(Engine, "before_cursor_execute")
def _statement(conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
    if (tally := _tally(conn)) is not None:
        tally.statements.append(" ".join(sql.split())[:90])
        tally.autocommit.append(
            getattr(conn.connection.dbapi_connection, "autocommit", None) is True
        )


@event.listens_for(Engine, "begin")
def _begin(conn: Any) -> None:
    # a read on PostgreSQL runs without a transaction: no BEGIN, no end, sent
    autocommit = conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
    if (tally := _tally(conn)) is not None and not autocommit:
        tally.transactions += 1


@event.listens_for(Engine, "engine_connect")
def _checkout(conn: Any) -> None:
    if (tally := _tally(conn)) is not None:
        tally.checkouts += 1


@contextmanager
def counting(engine: Engine) -> Iterator[Tally]:
    """What the ack path sends to ``engine`` while the block lasts. The listeners are
    registered once, on the class, when no engine is in use: adding one to an engine
    while the bot's threads execute statements raced their iteration of the listeners
    ("deque mutated during iteration" in a background write)."""
    tally = Tally()
    dialect = engine.dialect
    ping = dialect.do_ping

    def counted_ping(connection: Any) -> bool:
        if on_ack_path():
            tally.pings += 1
        return ping(connection)

    dialect.do_ping = counted_ping  # type: ignore[method-assign]
    _counted.append((engine, tally))
    try:
        yield tally
    finally:
        _counted.clear()
        dialect.do_ping = ping  # type: ignore[method-assign]


@pytest.fixture(params=["sqlite", "postgres"])
async def harness(
    request: pytest.FixtureRequest, tmp_path: Path, scripted_kinds: None
) -> AsyncIterator[Harness]:
    url = request.getfixturevalue("postgres_database") if request.param == "postgres" else None
    path = tmp_path / "preprod.yml"
    path.write_text(CONFIG)
    async with running_bot(path, tmp_path, database_url=url) as harness:
        yield harness


async def ack(harness: Harness, text: str) -> tuple[str, Tally]:
    """The ack's whole body (text and blocks, as JSON) and what it cost."""
    with counting(harness.bot.store.engine) as tally:
        response = await harness.standin.send_command(text, user_id="U0RM", channel_id=CHANNEL)
    assert response.status_code == 200, response.text
    return response.text, tally


def show(what: str, tally: Tally, postgres: bool) -> str:
    return (
        f"{what}: {len(tally.statements)} statements, {tally.transactions} transactions, "
        f"{tally.checkouts} calls, {tally.round_trips(postgres)} round trips\n  "
        + "\n  ".join(tally.statements)
    )


def _finished(harness: Harness) -> int:
    with Session(harness.bot.store.engine) as session:
        return len(session.exec(select(Run).where(Run.status == RunStatus.FINISHED)).all())


async def test_each_commands_ack_costs_few_statements(harness: Harness) -> None:
    postgres = harness.bot.store.engine.dialect.name == "postgresql"
    await harness.command("start svc 0.9 staging")  # this process has stored the config
    started, start = await ack(harness, "start svc 1.0 staging")
    assert re.search(r"run #2\b", started), started
    await harness.until(lambda: _finished(harness) == 2)  # its thread may still be owed
    # a run no publisher of this process shows (a worker's, say): read from the database
    stored = Run(service="api", version="3.1", environment="staging", plan="quick",
                 base_url="http://127.0.0.1:9", requester="U0RM", source="slack")  # fmt: skip
    other = await harness.bot.store.create_run(stored, [("one", "scripted", True)])
    assert other.id == 3 and other.id not in harness.bot.manager.publishers
    status_text, status = await ack(harness, "status 3")
    assert "api" in status_text and "3.1" in status_text and "one" in status_text
    listed, listing = await ack(harness, "list")
    assert "#3" in listed and "#2" in listed and "#1" in listed
    print(show("start", start, postgres), show("status", status, postgres), sep="\n")
    print(show("list", listing, postgres))
    # the claim; the run, its checks and its queued event (the config was kept already)
    assert (len(start.statements), start.transactions, start.checkouts) == (4 + 2 * postgres, 2, 2)
    # the run beside its check records; a read: no statement timeout, and on PostgreSQL
    # no transaction (its statement is its one round trip)
    read = 0 if postgres else 1
    assert status.autocommit == [postgres] and listing.autocommit == [postgres] * 2
    assert not any(start.autocommit)  # the claim and the run: in transactions
    assert (len(status.statements), status.transactions, status.checkouts) == (1, read, 1)
    # the runs with their decisions, then what the undecided ones await
    assert (len(listing.statements), listing.transactions, listing.checkouts) == (2, read, 1)
    assert start.pings == status.pings == listing.pings == 0  # the pool was just used


async def test_each_request_is_read_into_one_bolt_request(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The body is parsed once, at the edge, and that request is the one Bolt dispatches:
    Bolt's Starlette adapter built a second one, beside a parse of our own (issue 26)."""
    built: list[str] = []
    init = AsyncBoltRequest.__init__

    def counted(self: AsyncBoltRequest, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        built.append(str(self.body.get("text")))

    monkeypatch.setattr(AsyncBoltRequest, "__init__", counted)
    for text in ("help", "list", "status 1"):
        response = await harness.standin.send_command(text, user_id="U0RM", channel_id=CHANNEL)
        assert response.status_code == 200, response.text
    assert built == ["help", "list", "status 1"]


KILL = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


def _kill_connections(url: str) -> None:
    """Every other connection to the database ends, as in a server restart."""
    with Database(url, autocommit=True) as admin:
        admin.query(KILL)


async def test_a_dead_connection_is_replaced_without_a_ping_per_call(
    postgres_database: str,
) -> None:
    """The pool pings no connection used a moment ago (pool_pre_ping sent a SELECT 1
    before every call); one found dead fails its call before anything was committed,
    and the call runs again on a fresh connection."""
    store = RunStore(postgres_database)
    try:
        await asyncio.gather(*(store.list_runs() for _ in range(3)))  # a few pooled
        _kill_connections(postgres_database)
        with counting(store.engine) as tally, deadline_at(time.monotonic() + 5):
            assert await store.list_runs() == []
            assert await store.get_run(1) is None
        assert tally.pings == 0
        assert tally.checkouts >= 3  # the dead connection, then a fresh one (or two)
        _kill_connections(postgres_database)
        run = Run(service="svc", version="1", environment="staging", plan="quick",
                  base_url="http://127.0.0.1:9")  # fmt: skip
        stored = await store.create_run(run, [("one", "scripted", True)])  # tried twice
        assert stored.id == 1 and [r.id for r in await store.list_runs()] == [1]
    finally:
        store.engine.dispose()


async def test_a_rested_connection_is_pinged_first(
    postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connect, "PING_IDLE", 0.05)
    store = RunStore(postgres_database)
    try:
        await store.list_runs()
        _kill_connections(postgres_database)
        await asyncio.sleep(0.1)
        with counting(store.engine) as tally, deadline_at(time.monotonic() + 5):
            assert await store.list_runs() == []
        assert tally.pings == 1  # found dead by the ping, replaced before the call
        assert tally.checkouts == 1
    finally:
        store.engine.dispose()


def test_a_call_is_tried_again_only_when_nothing_was_committed() -> None:
    dead = DBAPIError("SELECT 1", None, Exception("server closed the connection"))
    dead.connection_invalidated = True
    alive = DBAPIError("SELECT 1", None, Exception("relation does not exist"))
    assert retry_safe(dead, commits=0)
    assert not retry_safe(dead, commits=1)  # the commit may have landed: never twice
    assert not retry_safe(alive, commits=0)  # not a dead connection: a real error


async def test_a_config_is_kept_once_and_a_changed_one_again(tmp_path: Path) -> None:
    """The snapshot insert is skipped once this store committed that digest; a config
    with another digest is still kept, and each run names its own."""
    store = RunStore(f"sqlite:///{tmp_path}/bot.db")
    try:
        for version, digest in (("1", "a" * 64), ("2", "a" * 64), ("3", "b" * 64)):
            run = Run(service="svc", version=version, environment="staging", plan="quick",
                      base_url="http://127.0.0.1:9", config_digest=digest,
                      config_path="preprod.yml")  # fmt: skip
            with counting(store.engine) as tally, deadline_at(time.monotonic() + 5):
                stored = await store.create_run(run, [("one", "scripted", True)], f"text {digest}")
            snapshots = [sql for sql in tally.statements if "configsnapshot" in sql]
            assert len(snapshots) == (0 if version == "2" else 1), tally.statements
            assert stored.id is not None and (await store.get_run(stored.id)) is not None
        with Session(store.engine) as session:
            kept = {row.digest: row.text for row in session.exec(select(ConfigSnapshot))}
        assert kept == {"a" * 64: f"text {'a' * 64}", "b" * 64: f"text {'b' * 64}"}
        report = await store.report(3)
        assert (report.version, [r.check_id for r in report.results]) == ("3", ["one"])
        bare = Run(service="svc", version="4", environment="staging", plan="none",
                   base_url="http://127.0.0.1:9")  # fmt: skip
        stored = await store.create_run(bare, [])
        assert stored.id is not None and (await store.report(stored.id)).results == []
        with pytest.raises(LookupError):
            await store.report(99)
    finally:
        store.engine.dispose()


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_a_message_is_recorded_and_marked_sent_in_one_statement_each(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """What opening a thread writes per message (the follow-up of every start)."""
    url = (
        request.getfixturevalue("postgres_database")
        if database == "postgres"
        else f"sqlite:///{tmp_path}/bot.db"
    )
    store = RunStore(url)
    rows = OutboxStore(store)
    try:
        with counting(store.engine) as first, deadline_at(time.monotonic() + 5):
            row, new = await rows.intend("run:1:parent", "C1", None, run_id=1, owner="me")
        assert new and (row.key, row.claimed_by, row.ts) == ("run:1:parent", "me", None)
        with counting(store.engine) as again, deadline_at(time.monotonic() + 5):
            row, new = await rows.intend("run:1:parent", "C2", None, run_id=1, owner="other")
        assert not new and (row.channel, row.claimed_by) == ("C1", "me")  # the first's
        with counting(store.engine) as sent, deadline_at(time.monotonic() + 5):
            await rows.sent("run:1:parent", "1700000000.000100")
            await rows.sent("run:9:parent", "1700000000.000200")  # no such key: nothing
        found = await rows.get("run:1:parent")
        assert found is not None and found.ts == "1700000000.000100"
        assert await rows.get("run:9:parent") is None
        timeouts = 1 if database == "postgres" else 0  # each writing call's SET LOCAL
        assert len(first.statements) == 1 + timeouts, first.statements
        assert len(again.statements) == 2 + timeouts, again.statements
        assert len(sent.statements) == 2 * (1 + timeouts), sent.statements
    finally:
        store.engine.dispose()


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_list_reads_what_each_label_needs_in_one_union(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The gate rows of ``list``: decisions of every run; approvals of the current
    generation, ticks and the latest attempt's status of each critical check of the
    finished runs without a decision, as the four queries read them before."""
    url = (
        request.getfixturevalue("postgres_database")
        if database == "postgres"
        else f"sqlite:///{tmp_path}/bot.db"
    )
    store = RunStore(url)
    try:
        checks = [("smoke", "http", True), ("load", "load", False)]
        for version in ("1", "2", "3"):
            run = Run(service="svc", version=version, environment="staging", plan="quick",
                      base_url="http://127.0.0.1:9")  # fmt: skip
            await store.create_run(run, checks)
        with Session(store.engine) as session:
            for run in session.exec(select(Run)).all():
                run.status = RunStatus.FINISHED if run.id in (1, 2) else RunStatus.RUNNING
                run.generation = 2 if run.id == 2 else 1
                session.add(run)
            session.add(DecisionRecord(run_id=1, outcome="go"))
            session.add(SignOff(run_id=1, generation=1, role="sre", user="U1", vote="approve"))
            session.add(SignOff(run_id=2, generation=1, role="sre", user="U1", vote="approve"))
            session.add(SignOff(run_id=2, generation=2, role="qa", user="U2", vote="approve"))
            session.add(SignOff(run_id=2, generation=2, role="sec", user="U3", vote="reject"))
            session.add(AttestationTick(run_id=2, item_id="oncall", user="U1"))
            session.add(AttestationTick(run_id=3, item_id="oncall", user="U1"))
            session.add(CheckRecord(run_id=2, check_id="smoke", check_type="http", position=0,
                                    attempt=2, status="passed"))  # fmt: skip
            session.commit()
        with deadline_at(time.monotonic() + 5):
            runs, rows = await latest_with_gate_rows(store, 20)
        assert [run.id for run in runs] == [3, 2, 1]
        assert rows.decisions == {1: "go"}
        assert rows.approvals == {2: {("qa", "U2")}}  # the current generation's approvals
        assert rows.ticks == {2: {"oncall"}}
        assert rows.critical == {2: {"passed"}}  # smoke's second attempt, not its first
        assert await gate_rows(store, runs) == rows  # the dashboard's path agrees
    finally:
        store.engine.dispose()
