"""Runs owned through leases, and resumed where a stopped process left them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from textwrap import dedent

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.config.loader import load_config
from bot.engine.request import RunRequest
from bot.engine.runner import INTERRUPTED, Engine
from bot.store.leases import Leases
from bot.store.models import CheckRecord, Run, RunStatus, utcnow
from bot.store.runs import LeaseLost, RunStore
from checks.base import Status
from tests.kinds import ScriptedCheck

pytestmark = pytest.mark.usefixtures("scripted_kinds")

PLAN = """\
environments: {staging: {base_url: "http://127.0.0.1:9", plan: p}}
plans:
  p:
    checks:
      - {id: done, type: scripted}
      - {id: cut, type: scripted}
      - {id: drill, type: scripted, repeat_safe: false, critical: false}
      - {id: later, type: scripted}
"""


SLACK_REQUEST = RunRequest("svc", "1", "staging", source="slack")
"""Runs started from Slack are resumed; a terminal's run ends with its terminal."""


class Clock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 30, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_engine(tmp_path: Path, url: str | None = None, leases: Leases | None = None) -> Engine:
    path = tmp_path / "preprod.yml"
    path.write_text(dedent(PLAN))
    store = leases.store if leases else RunStore(url or f"sqlite:///{tmp_path}/preprod.db")
    return Engine(load_config(path), store, tmp_path / "work", leases=leases)


async def test_a_new_run_is_born_owned_and_nobody_else_claims_it_while_renewed(
    tmp_path: Path,
) -> None:
    clock = Clock()
    store = RunStore(f"sqlite:///{tmp_path}/preprod.db")
    mine = Leases(store, "replica-a", ttl=30, clock=clock)
    theirs = Leases(store, "replica-b", ttl=30, clock=clock)
    run = await make_engine(tmp_path, leases=mine).start(SLACK_REQUEST)
    assert run.id is not None and run.lease_owner == "replica-a"

    assert await theirs.orphaned() == []
    assert not await theirs.claim(run.id)
    clock.advance(20)
    assert await mine.renew(run.id)
    clock.advance(20)  # 40 s after the start, but 20 s after the renewal
    assert not await theirs.claim(run.id)

    clock.advance(31)  # the owner stopped renewing: the lease has run out
    assert await theirs.orphaned() == [run.id]
    assert await theirs.claim(run.id)
    assert not await mine.renew(run.id), "the old owner learns that it lost the run"
    assert not await mine.claim(run.id)


async def test_a_released_lease_is_free_at_once(tmp_path: Path) -> None:
    clock = Clock()
    store = RunStore(f"sqlite:///{tmp_path}/preprod.db")
    mine, theirs = Leases(store, "a", clock=clock), Leases(store, "b", clock=clock)
    run = await make_engine(tmp_path, leases=mine).start(SLACK_REQUEST)
    assert run.id is not None
    await theirs.release(run.id)  # not theirs to release: nothing happens
    assert not await theirs.claim(run.id)
    await mine.release(run.id)
    assert await theirs.claim(run.id)


async def test_finished_runs_are_never_claimed(tmp_path: Path) -> None:
    store = RunStore(f"sqlite:///{tmp_path}/preprod.db")
    leases = Leases(store, "a")
    engine = make_engine(tmp_path, leases=leases)
    request = SLACK_REQUEST
    run = await engine.execute(await engine.start(request), request)
    await leases.release(run.run_id)
    assert await leases.orphaned() == []
    assert not await Leases(store, "b").claim(run.run_id)


async def claim_race(url: str, run_id: int, contenders: int) -> list[bool]:
    store = RunStore(url)

    # the original owner died an hour ago: its lease ran out (on PostgreSQL leases expire
    # by the database's clock, so a contender's own clock cannot make it look expired)
    def expire(session: Session) -> None:
        an_hour_ago = utcnow() - timedelta(hours=1)
        session.connection().execute(
            update(Run).where(col(Run.id) == run_id).values(lease_expires=an_hour_ago)
        )
        session.commit()

    await store.call(expire)
    return list(
        await asyncio.gather(*(Leases(store, f"r{i}").claim(run_id) for i in range(contenders)))
    )


async def test_racing_claims_have_one_winner_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/preprod.db"
    run = await make_engine(tmp_path, leases=Leases(RunStore(url), "dead")).start(SLACK_REQUEST)
    assert run.id is not None
    assert sorted(await claim_race(url, run.id, 8)) == [False] * 7 + [True]


async def test_racing_claims_have_one_winner_on_postgres(
    tmp_path: Path, postgres_database: str
) -> None:
    run = await make_engine(tmp_path, leases=Leases(RunStore(postgres_database), "dead")).start(
        SLACK_REQUEST
    )
    assert run.id is not None
    assert sorted(await claim_race(postgres_database, run.id, 8)) == [False] * 7 + [True]


async def test_resume_keeps_finished_checks_reruns_safe_ones_and_stops_at_unsafe_ones(
    tmp_path: Path,
) -> None:
    engine = make_engine(tmp_path)
    run = await engine.start(SLACK_REQUEST)
    assert run.id is not None
    # What a process killed mid-batch leaves behind: one check done, two cut off.
    with Session(engine.store.engine) as session:
        for record in session.exec(select(CheckRecord).where(CheckRecord.run_id == run.id)):
            record.status = {"done": "passed", "cut": "running", "drill": "running"}.get(
                record.check_id, "pending"
            )
            session.add(record)
        session.commit()
    ScriptedCheck.spans.clear()

    report = await engine.resume(run)

    assert set(ScriptedCheck.spans) == {"cut", "later"}, "finished and unsafe checks not re-run"
    statuses = {r.check_id: r.status for r in report.results}
    assert statuses == {
        "done": Status.PASSED,
        "cut": Status.PASSED,
        "drill": Status.INTERRUPTED,
        "later": Status.PASSED,
    }
    drill = next(r for r in report.results if r.check_id == "drill")
    assert drill.summary == INTERRUPTED and not drill.blocking  # non-critical: waivable
    stored = await engine.store.get_run(run.id)
    assert stored is not None and stored.status is RunStatus.FINISHED

    rerun = await engine.rerun(stored, ["drill"])  # what `/preprod rerun <run> drill` does
    assert {r.check_id: r.status for r in rerun.results}["drill"] is Status.PASSED


async def test_an_interrupted_critical_check_blocks_the_release(tmp_path: Path) -> None:
    path = tmp_path / "preprod.yml"
    path.write_text(dedent(PLAN).replace("critical: false", "critical: true"))
    engine = Engine(load_config(path), RunStore(f"sqlite:///{tmp_path}/p.db"), tmp_path / "w")
    run = await engine.start(SLACK_REQUEST)
    with Session(engine.store.engine) as session:
        for record in session.exec(select(CheckRecord).where(CheckRecord.check_id == "drill")):
            record.status = "running"
            session.add(record)
        session.commit()
    report = await engine.resume(run)
    assert [r.check_id for r in report.results if r.blocking] == ["drill"]


async def test_a_process_that_lost_the_lease_writes_nothing_over_the_new_owner(
    tmp_path: Path,
) -> None:
    """A live owner that stalled past its lease (another process claimed the run) must not
    overwrite what the new owner finds: its writes are fenced by the lease."""
    clock = Clock()
    store = RunStore(f"sqlite:///{tmp_path}/preprod.db")
    stalled, taker = Leases(store, "stalled", clock=clock), Leases(store, "taker", clock=clock)
    path = tmp_path / "preprod.yml"
    path.write_text(
        dedent(PLAN).replace("{id: done, type: scripted}", "{id: done, type: scripted, sleep: 0.5}")
    )
    engine = Engine(load_config(path), store, tmp_path / "work", leases=stalled)
    run = await engine.start(SLACK_REQUEST)
    assert run.id is not None
    execution = asyncio.create_task(engine.execute(run, SLACK_REQUEST))
    await asyncio.sleep(0.2)  # the first checks are running
    clock.advance(3600)  # the owner stalled: its lease ran out and another process took it
    assert await taker.claim(run.id)
    with pytest.raises(LeaseLost):
        await execution
    assert engine.handing_over
    stored = await store.get_run(run.id)
    assert stored is not None and stored.status is RunStatus.RUNNING
    assert stored.lease_owner == "taker"
    states = await store.check_states(run.id)
    assert states["done"] == "running", "the stalled process overwrote the new owner's check"


async def test_one_heartbeat_renews_every_run_held_and_names_those_lost(tmp_path: Path) -> None:
    clock = Clock()
    store = RunStore(f"sqlite:///{tmp_path}/preprod.db")
    mine = Leases(store, "replica-a", ttl=30, clock=clock)
    theirs = Leases(store, "replica-b", ttl=30, clock=clock)
    engine = make_engine(tmp_path, leases=mine)
    ids = [run.id for run in [await engine.start(SLACK_REQUEST) for _ in range(3)]]
    assert None not in ids
    clock.advance(31)
    assert await theirs.claim(ids[0])  # lost while this process stalled
    assert await mine.renew_many([i for i in ids if i]) == set(ids[1:])
    clock.advance(20)
    assert await theirs.orphaned() == [], "the renewed leases hold"
    assert await mine.renew_many([]) == set()
