"""A burst of acks: every acked command stored, every replay refused, and the replay
guard's claims and the new runs committed in groups (one transaction for a burst) on
the ack path's own threads. Behaviour, not timings: bench/ack_latency.py measures those."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import event, func, text
from sqlmodel import Session, select

from bot.slack import acks_first
from bot.slack.acks_first import after_the_acks, being_answered
from bot.store.faults import DeadlinePassed, answering, is_database_fault, request_started
from bot.store.models import AuditEvent, AuditQueued, Run, SeenRequest
from bot.store.runs import RunStore
from bot.store.seen import SeenRequests
from bot.store.together import Together
from tests.hostile_bot import quick_bot, state
from tests.slackbot import Harness

BURST = 12


@pytest.fixture
async def harness(tmp_path: Path, scripted_kinds: None) -> AsyncIterator[Harness]:
    async with quick_bot(tmp_path) as harness:
        yield harness


async def test_a_burst_of_starts_is_stored_and_its_replays_refused(harness: Harness) -> None:
    before = len(harness.standin.deliveries)
    acks = await asyncio.gather(
        *(harness.command(f"start svc 1.0.{i} staging") for i in range(BURST)),
        *(harness.command("list") for _ in range(5)),
    )
    starts = acks[:BURST]
    ids = {int(m.group(1)) for ack in starts if (m := re.search(r"run #(\d+)", ack))}
    assert len(ids) == BURST, starts  # every start acked with a run of its own
    with Session(harness.bot.store.engine) as session:
        stored = set(session.exec(select(SeenRequest.key)).all())
    assert state(harness)["Run"] == BURST  # every acked run is stored, no other
    assert len(stored) == BURST  # a claim per start; the reads claimed nothing

    sent = [d.payload for d in harness.standin.deliveries[before:] if "start" in d.payload["text"]]
    replays = await asyncio.gather(*(harness.standin.send_raw(urlencode(f)) for f in sent))
    assert [(r.status_code, r.content) for r in replays] == [(200, b"")] * BURST
    assert state(harness)["Run"] == BURST


def _commits(store: RunStore) -> list[str]:
    seen: list[str] = []
    event.listen(store.engine, "commit", lambda _conn: seen.append("commit"))
    return seen


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_concurrent_claims_commit_together(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        request.getfixturevalue("postgres_database")
        if database == "postgres"
        else f"sqlite:///{tmp_path}/seen.db"
    )
    store = RunStore(url)
    seen = SeenRequests(store)
    assert await seen.first_time("command:old")  # the first claim sweeps, alone
    commits = _commits(store)
    keys = [f"command:{i}" for i in range(50)] + ["command:3", "command:old"] * 5
    answers = await asyncio.gather(*(seen.first_time(key) for key in keys))
    assert answers[:50] == [True] * 50
    assert answers[50:] == [False] * 10  # a repeat inside the group, or a key already kept
    assert len(commits) == 1  # one transaction for the burst
    again = await asyncio.gather(*(seen.first_time(key) for key in keys[:50]))
    assert again == [False] * 50
    with Session(store.engine) as session:
        assert session.exec(select(func.count()).select_from(SeenRequest)).one() == 51
    store.engine.dispose()


async def test_a_failed_group_answers_every_caller_with_the_fault(tmp_path: Path) -> None:
    store = RunStore(f"sqlite:///{tmp_path}/seen.db")
    seen = SeenRequests(store)
    with store.engine.begin() as connection:
        connection.execute(text("ALTER TABLE seenrequest RENAME TO gone"))
    answers = await asyncio.gather(
        *(seen.first_time(f"command:{i}") for i in range(10)), return_exceptions=True
    )
    assert all(isinstance(a, Exception) and is_database_fault(a) for a in answers), answers
    with store.engine.begin() as connection:
        connection.execute(text("ALTER TABLE gone RENAME TO seenrequest"))
        assert connection.execute(text("SELECT count(*) FROM seenrequest")).scalar() == 0
    assert await seen.first_time("command:1")  # nothing was kept: not taken for a replay
    store.engine.dispose()


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_a_burst_of_new_runs_commits_together(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Runs stored at the same moment (a burst of ``start``s on the ack path) share a
    transaction: each gets its own id, checks and audit event, all committed together."""
    url = (
        request.getfixturevalue("postgres_database")
        if database == "postgres"
        else f"sqlite:///{tmp_path}/runs.db"
    )
    store = RunStore(url)

    async def start(i: int) -> Run:
        run = Run(service="svc", version=f"1.0.{i}", environment="staging", plan="quick",
                  base_url="http://127.0.0.1:9")  # fmt: skip
        with request_started():
            async with answering(3.0):
                return await store.create_run(run, [("one", "http", True), ("two", "tls", False)])

    await start(0)  # the first alone
    commits = _commits(store)
    inserts: list[str] = []
    event.listen(
        store.engine,
        "before_cursor_execute",
        lambda _c, _cur, sql, *_: inserts.append(sql) if sql.startswith("INSERT") else None,
    )
    stored = await asyncio.gather(*(start(i) for i in range(1, 31)))
    assert sorted(run.id for run in stored if run.id is not None) == list(range(2, 32))
    assert [run.version for run in stored] == [f"1.0.{i}" for i in range(1, 31)]
    assert len(commits) <= 2, commits  # one transaction, or two: not one a run
    # a group's checks and audit events go in a statement each, not a run each, and on
    # PostgreSQL its runs too (a round trip a run; SQLite is asked a row at a time, in
    # process, where the order of RETURNING rows is not promised)
    others = [sql for sql in inserts if not sql.startswith("INSERT INTO run ")]
    assert len(others) <= 2 * len(commits), others
    if database == "postgres":
        assert len(inserts) <= 3 * len(commits), inserts
    for run in stored:
        assert run.id is not None
        report = await store.report(run.id)
        assert (report.version, [r.check_id for r in report.results]) == (
            run.version,
            ["one", "two"],
        )
    with Session(store.engine) as session:
        queued = session.exec(select(AuditQueued.run_id)).all()
        chained = session.exec(select(AuditEvent.run_id)).all()
    assert sorted(r for r in [*queued, *chained] if r is not None) == list(range(1, 32))
    store.engine.dispose()


async def test_a_failed_group_of_new_runs_stores_none(tmp_path: Path) -> None:
    store = RunStore(f"sqlite:///{tmp_path}/runs.db")
    with store.engine.begin() as connection:
        connection.execute(text("ALTER TABLE checkrecord RENAME TO gone"))

    async def start(i: int) -> Run:
        run = Run(service="svc", version=f"1.0.{i}", environment="staging", plan="quick",
                  base_url="http://127.0.0.1:9")  # fmt: skip
        return await store.create_run(run, [("one", "http", True)])

    answers = await asyncio.gather(*(start(i) for i in range(10)), return_exceptions=True)
    assert all(isinstance(a, Exception) and is_database_fault(a) for a in answers), answers
    with store.engine.begin() as connection:
        connection.execute(text("ALTER TABLE gone RENAME TO checkrecord"))
        assert connection.execute(text("SELECT count(*) FROM run")).scalar() == 0
    assert (await start(11)).id is not None  # the store goes on
    store.engine.dispose()


async def test_ack_path_calls_run_on_their_own_threads_within_the_deadline(
    tmp_path: Path,
) -> None:
    store = RunStore(f"sqlite:///{tmp_path}/lane.db")
    where = await store.call(lambda _session: threading.current_thread().name)
    assert not where.startswith("preprod-ack")
    with request_started():
        async with answering(2.5):
            where = await store.call(lambda _session: threading.current_thread().name)
    assert where.startswith("preprod-ack")
    with request_started():
        await asyncio.sleep(0.35)
        with pytest.raises(DeadlinePassed):  # the lane still sees the ack's deadline
            async with answering(0.6):
                await store.call(lambda session: session.execute(text("SELECT 1")).all())
    store.engine.dispose()


async def test_follow_up_work_waits_for_the_acks_in_flight_but_not_forever() -> None:
    loop = asyncio.get_running_loop()
    with being_answered():
        waited = asyncio.create_task(after_the_acks(at_most=5.0))
        await asyncio.sleep(0.05)
        assert not waited.done()  # a request is still being answered
    await asyncio.wait_for(waited, 1.0)  # released as soon as the last one is answered

    with being_answered():
        began = loop.time()
        await after_the_acks(at_most=0.1)  # a steady stream holds it back only so long
        assert 0.09 <= loop.time() - began < 1.0
    began = loop.time()
    await after_the_acks()  # nothing in flight: at once
    assert loop.time() - began < 0.05


async def test_follow_up_work_waits_for_a_burst_to_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    """A burst answered faster than it arrives leaves the process idle between requests:
    the follow-up waits until none arrived for QUIET, not just for none in flight."""
    monkeypatch.setattr(acks_first, "QUIET", 0.2)
    loop = asyncio.get_running_loop()
    with being_answered():
        pass  # one request of the burst, answered at once
    waited = asyncio.create_task(after_the_acks(at_most=5.0))
    for _ in range(5):  # the next ones arrive every 10 ms
        await asyncio.sleep(0.01)
        assert not waited.done()
        with being_answered():
            pass
    last = loop.time()
    await asyncio.wait_for(waited, 2.0)
    assert loop.time() - last >= 0.15  # released once the burst paused


async def test_a_group_is_bound_by_the_earliest_deadline_of_its_callers(tmp_path: Path) -> None:
    store = RunStore(f"sqlite:///{tmp_path}/seen.db")
    seen = SeenRequests(store)
    assert await seen.first_time("command:sweep")  # the sweep's own transaction, first

    async def roomy() -> bool:
        await asyncio.sleep(0.35)
        async with answering(5.0):
            return await seen.first_time("command:roomy")

    async def late() -> bool:
        with request_started():  # arrived 0.35 s ago with a 0.6 s budget: too late to commit
            await asyncio.sleep(0.35)
            async with answering(0.6):
                return await seen.first_time("command:late")

    answers = await asyncio.gather(roomy(), late(), return_exceptions=True)
    assert all(isinstance(a, DeadlinePassed) for a in answers), answers  # one group
    with Session(store.engine) as session:
        assert session.exec(select(SeenRequest.key)).all() == ["command:sweep"]
    store.engine.dispose()


async def test_a_group_that_answers_short_fails_its_callers_rather_than_leave_them_waiting() -> (
    None
):
    async def short(items: list[int]) -> list[int]:
        return items[:-1]

    together: Together[int, int] = Together(short, 10)
    answers = await asyncio.wait_for(
        asyncio.gather(*(together.add(i) for i in range(3)), return_exceptions=True), 5
    )
    assert all(isinstance(a, RuntimeError) for a in answers), answers
