"""Time from one clock (issue 23, point 4): leases expire by the database's clock, so a
process whose own clock is skewed neither steals a live run nor keeps a dead one, and a
worker whose clock is beyond ``PREPROD_MAX_CLOCK_SKEW`` says so and claims nothing.

The skewed processes run under Debian's ``faketime`` (libfaketime: ``datetime.now()`` and
``time.time()`` are shifted, psycopg works as usual) against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from textwrap import dedent

import pytest

from bot.config.loader import load_config
from bot.engine.request import RunRequest
from bot.engine.runner import Engine
from bot.settings import Settings, SettingsError
from bot.store.clock import DatabaseClock, Skew, skew_from
from bot.store.leases import Leases
from bot.store.models import RunStatus, as_utc, utcnow
from bot.store.runs import RunStore
from tests.slackbot import running_bot
from tests.support.plans import config_file, slow_items, staging_config
from tests.support.processes import alive, children, preprod_command, stop_group, until
from tests.support.target import RunningTarget, served

PLAN = """\
environments: {staging: {base_url: "http://127.0.0.1:9", plan: p}}
plans: {p: {checks: [{id: one, type: scripted}]}}
"""
REQUEST = RunRequest("svc", "1", "staging", source="slack")
scripted = pytest.mark.usefixtures("scripted_kinds")


def shifted(seconds: float) -> Callable[[], datetime]:
    """A process clock ``seconds`` away from the real one (negative: behind)."""
    return lambda: utcnow() + timedelta(seconds=seconds)


async def a_leased_run(tmp_path: Path, store: RunStore, leases: Leases) -> int:
    path = tmp_path / "preprod.yml"
    path.write_text(dedent(PLAN))
    run = await Engine(load_config(path), store, tmp_path / "work", leases=leases).start(REQUEST)
    assert run.id is not None
    return run.id


async def lease_expires(store: RunStore, run_id: int) -> datetime:
    run = await store.get_run(run_id)
    assert run is not None and run.lease_expires is not None
    return as_utc(run.lease_expires)


# -- the measurement, pure --------------------------------------------------------------


def test_the_skew_is_read_at_the_middle_of_the_round_trip() -> None:
    ours = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
    # we asked at 9:00:00, it answered 0.2 s later, saying 8:58:00.1: we are 120 s ahead
    skew = skew_from(ours, datetime(2026, 12, 6, 8, 58, 0, 100_000, tzinfo=UTC), 0.2)
    assert skew == Skew(offset=-120.0, uncertainty=0.1)
    assert skew.beyond(10) and "120.000 s ahead of the database's" in skew.describe()
    # a naive answer (SQLite-like) is UTC
    assert skew_from(ours, datetime(2026, 12, 6, 9, 0, 5), 0.0) == Skew(5.0, 0.0)


def test_only_a_skew_surely_beyond_the_bound_counts() -> None:
    assert not Skew(offset=10.5, uncertainty=1.0).beyond(10)  # may be 9.5 s
    assert Skew(offset=-11.5, uncertainty=1.0).beyond(10)
    assert not Skew(0.0, 0.0).beyond(10)


def test_the_bound_is_a_setting() -> None:
    base = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}
    assert Settings.from_env(base).max_clock_skew == 10.0
    assert Settings.from_env({**base, "PREPROD_MAX_CLOCK_SKEW": "2.5"}).max_clock_skew == 2.5
    with pytest.raises(SettingsError, match="PREPROD_MAX_CLOCK_SKEW must be a number of seconds"):
        Settings.from_env({**base, "PREPROD_MAX_CLOCK_SKEW": "ten"})


# -- lease statements on PostgreSQL: the database's now() -------------------------------


@scripted
async def test_a_fast_clock_does_not_steal_a_live_lease_on_postgres(
    tmp_path: Path, postgres_database: str
) -> None:
    store = RunStore(postgres_database)
    run_id = await a_leased_run(tmp_path, store, Leases(store, "healthy", ttl=30))
    fast = Leases(store, "fast", ttl=30, clock=shifted(120))
    assert await fast.orphaned() == []
    assert not await fast.claim(run_id), "a clock 120 s fast took a live run"
    assert (await store.get_run(run_id) or pytest.fail()).lease_owner == "healthy"


@scripted
async def test_a_slow_owner_keeps_its_live_lease_on_postgres(
    tmp_path: Path, postgres_database: str
) -> None:
    store = RunStore(postgres_database)
    slow = Leases(store, "slow", ttl=30, clock=shifted(-120))
    run_id = await a_leased_run(tmp_path, store, Leases(store, "creator", ttl=30))
    await Leases(store, "creator").release(run_id)
    assert await slow.claim(run_id)
    assert await slow.renew_many([run_id]) == {run_id}
    # renewed by the database's clock: 30 s from the database's now, not from 2 min ago
    left = (await lease_expires(store, run_id) - utcnow()).total_seconds()
    assert 25 < left <= 31, left
    assert not await Leases(store, "rival", ttl=30).claim(run_id)


@scripted
async def test_a_fast_owner_does_not_keep_a_dead_lease_on_postgres(
    tmp_path: Path, postgres_database: str
) -> None:
    store = RunStore(postgres_database)
    run_id = await a_leased_run(tmp_path, store, Leases(store, "creator", ttl=0.5))
    await Leases(store, "creator").release(run_id)
    fast = Leases(store, "fast", ttl=0.5, clock=shifted(120))
    assert await fast.claim(run_id)
    assert (await lease_expires(store, run_id) - utcnow()).total_seconds() < 1
    await asyncio.sleep(0.7)  # the fast owner died: its lease is over by the database's clock
    rival = Leases(store, "rival", ttl=30)
    assert await rival.orphaned() == [run_id]
    assert await rival.claim(run_id), "a dead owner with a fast clock kept its run 2 minutes"


@scripted
async def test_a_value_stamped_from_python_uses_the_measured_offset(
    tmp_path: Path, postgres_database: str
) -> None:
    store = RunStore(postgres_database)
    fast = Leases(store, "fast", ttl=30, clock=shifted(120))
    skew = await asyncio.to_thread(fast.time.measure)
    assert -121 < skew.offset < -119 and skew.beyond(10)
    assert abs((fast.time.now() - utcnow()).total_seconds()) < 1
    run_id = await a_leased_run(tmp_path, store, fast)  # stamped at creation
    left = (await lease_expires(store, run_id) - utcnow()).total_seconds()
    assert 28 < left <= 31, left
    own = await asyncio.to_thread(DatabaseClock(store.engine).measure)
    assert not own.beyond(1), "this test's own clock is the database's"


@scripted
async def test_on_sqlite_the_local_clock_is_the_only_clock(tmp_path: Path) -> None:
    store = RunStore(f"sqlite:///{tmp_path}/preprod.db")
    clock = DatabaseClock(store.engine, shifted(120))
    assert clock.measure() == Skew(0.0, 0.0)
    assert abs((clock.now() - utcnow()).total_seconds() - 120) < 1
    run_id = await a_leased_run(tmp_path, store, Leases(store, "healthy", ttl=30))
    assert await Leases(store, "later", ttl=30, clock=shifted(31)).claim(run_id)


# -- a real worker under faketime +120 s beside a healthy bot executing a run -----------


async def test_a_worker_120s_fast_does_not_take_a_live_run(
    target_factory: Callable[..., RunningTarget],
    tmp_path: Path,
    postgres_database: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "bot.slack.runs")
    if shutil.which("faketime") is None:
        missing = "Debian's faketime is needed (make test installs it)"
        pytest.fail(missing) if os.environ.get("CI") else pytest.skip(missing)
    target = target_factory("slow")  # each /api/items takes 1.2 s: the run lasts ~3.6 s
    config = config_file(tmp_path, staging_config(target.http_url, slow_items(3)))
    RunStore(postgres_database).engine.dispose()  # migrated before two processes open it
    log = tmp_path / "fast-worker.log"
    async with running_bot(
        config, tmp_path, database_url=postgres_database, lease_ttl=1.5
    ) as healthy:
        env = {
            **os.environ,
            "SLACK_BOT_TOKEN": healthy.standin.token,
            "SLACK_API_URL": healthy.standin.api_url,
            "PREPROD_CONFIG": str(config),
            "DATABASE_URL": postgres_database,
            "PREPROD_LEASE_TTL": "1.5",
            "PREPROD_POLL_INTERVAL": "0.2",  # PREPROD_MAX_CLOCK_SKEW: the default 10 s
        }
        with log.open("wb") as out:
            fast = subprocess.Popen(
                ["faketime", "-f", "+120s", *preprod_command("worker")],
                cwd=tmp_path,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # faketime forks the worker: stop them both
            )
        worker: list[int] = []
        try:
            healthy.bot.start(schedule=False)  # the harness's server runs no lifespan
            await until(lambda: "claims no runs" in log.read_text(), timeout=30)
            worker = children(fast.pid)  # faketime forks the worker and waits for it
            said = log.read_text()
            ahead = r"clock skew: our clock is 1[12]\d\.\d+ s ahead of the database's"
            assert re.search(ahead, said) and "PREPROD_MAX_CLOCK_SKEW=10s" in said, said

            assert "Starting the validation" in await healthy.command(
                "start checkout-api 2.14.0 staging"
            )
            await healthy.settle(timeout=30)
            run = await healthy.bot.store.get_run(1)
            assert run is not None and run.status == RunStatus.FINISHED
            assert f"executing run 1 in process {os.getpid()}" in caplog.text
            assert "lost" not in caplog.text, caplog.text
            assert served(target, "/api/items") == 3, "a check ran twice"

            # now the healthy bot's clock jumps 120 s too: it leaves its new run to the
            # others, and the fast worker still claims nothing, even a run nobody holds
            healthy.bot.manager.leases.time.local = shifted(120)
            await healthy.bot.manager.check_clock()
            assert healthy.bot.manager.skewed and "clock skew:" in caplog.text
            assert "Starting the validation" in await healthy.command(
                "start checkout-api 2.14.1 staging"
            )
            await healthy.settle(timeout=30)
            await asyncio.sleep(1.0)  # five of the fast worker's polls
            run = await healthy.bot.store.get_run(2)
            assert run is not None and run.status == RunStatus.RUNNING
            assert run.lease_owner is None, "left to the others, not executed by a skewed clock"
            assert set((await healthy.bot.store.check_states(2)).values()) == {"pending"}
            assert served(target, "/api/items") == 3
        finally:
            stop_group(fast)
    assert worker and not any(alive(pid) for pid in worker), (
        f"the worker under faketime outlived it: {worker}"
    )
    said = log.read_text()
    assert "executing run" not in said and "Traceback" not in said, said
