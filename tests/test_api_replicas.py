"""A waiter on one replica is woken by a decision taken on another (two apps, one
database): the shared poller reads the waited runs' decisions about once a second."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from bot.gate.policy import Vote
from bot.gate.view import Target
from bot.store.requests import Requests
from bot.store.runs import RunStore
from bot.web.api_wait import Waiters
from tests.slackbot import Harness, running_bot
from tests.support.target import RunningTarget
from tests.test_api import SRE1, client, config_for, request, signable, token


async def waiter_woken_across_replicas(
    target: RunningTarget, tmp_path: Path, database_url: str
) -> None:
    config = config_for(tmp_path, target)
    (tmp_path / "b").mkdir()
    async with (
        running_bot(config, tmp_path, database_url=database_url) as deciding,
        running_bot(
            config,
            tmp_path / "b",
            database_url=database_url,
        ) as waiting,
    ):
        secret = await token(deciding)
        async with client(deciding, secret) as on_a, client(waiting, secret) as on_b:
            run_id = (await request(on_a, "k1")).json()["id"]
            await signable(deciding, run_id)
            waiter = asyncio.create_task(on_b.get(f"/api/v1/runs/{run_id}?wait=30"))
            await asyncio.sleep(0.5)
            assert not waiter.done()
            decided = time.monotonic()
            await deciding.bot.gate.sign(SRE1, Target(run_id, 1, "sre"), Vote.APPROVE)
            answer = (await waiter).json()
            woke = time.monotonic() - decided
            assert answer["decision"] == "go" and woke < 3.0, (answer["decision"], woke)
            assert waiting_polls(waiting) >= 1
        await deciding.settle()


def waiting_polls(harness: Harness) -> int:
    """How many shared-poller queries the waiting replica made (the listener it added)."""
    [waiters] = [w for w in harness.bot.gate.listeners if isinstance(w, Waiters)]
    return waiters.polls


async def test_sqlite(healthy_target: RunningTarget, tmp_path: Path) -> None:
    await waiter_woken_across_replicas(healthy_target, tmp_path, f"sqlite:///{tmp_path}/one.db")


async def test_postgresql(
    healthy_target: RunningTarget, tmp_path: Path, postgres_database: str
) -> None:
    await waiter_woken_across_replicas(healthy_target, tmp_path, postgres_database)


async def test_thousands_of_waiters_share_one_poller(tmp_path: Path) -> None:
    """Waiting costs a future, not a thread: 2,000 waiters on one run, one poller task
    (one query per beat for all of them) that stops when the last waiter leaves."""
    waiters = 2000
    store = RunStore(f"sqlite:///{tmp_path}/w.db")
    hub = Waiters(Requests(store), poll_every=0.05)
    threads = threading.active_count()
    tasks = [asyncio.create_task(hub.wait(1, "pending", 2)) for _ in range(waiters)]
    await asyncio.sleep(0.3)
    assert hub.count() == waiters
    assert 1 <= hub.polls <= 10  # one query a beat for all 2,000, not one each
    assert threading.active_count() <= threads + 2  # at most the poller's database thread
    hub.wake(1, "go")
    assert set(await asyncio.gather(*tasks)) == {"go"}
    assert hub.count() == 0
    await asyncio.sleep(0.1)
    assert hub.poller is not None and hub.poller.done()
    late = [asyncio.create_task(hub.wait(1, "pending", 0.2)) for _ in range(waiters)]
    assert set(await asyncio.gather(*late)) == {None}  # the wait ended without a decision
    await hub.aclose()
    store.engine.dispose()
