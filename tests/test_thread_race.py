"""Two processes opening the same run's thread (a serve handing a run to a worker while
Slack is slow) both store where it lives: the second is an update, never a "UNIQUE
constraint failed" traceback, and a save that does not know the progress message yet
does not erase the one the other process stored."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.store.models import Run, SlackThread
from bot.store.runs import RunStore


@pytest.fixture(params=["sqlite", "postgres"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[RunStore, RunStore]:
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_database")
    else:
        url = f"sqlite:///{tmp_path}/race.db"
    return RunStore(url), RunStore(url)  # two processes' engines on one database


async def _runs(store: RunStore, n: int) -> list[int]:
    made = []
    for i in range(n):
        run = await store.create_run(
            Run(
                service="svc",
                version=f"1.0.{i}",
                environment="staging",
                plan="p",
                base_url="http://127.0.0.1:9",
            ),
            [],
        )
        assert run.id is not None
        made.append(run.id)
    return made


async def test_both_processes_store_the_thread_at_once(stores: tuple[RunStore, RunStore]) -> None:
    a, b = stores
    for run_id in await _runs(a, 15):
        await asyncio.gather(
            a.save_thread(SlackThread(run_id=run_id, channel="C1", parent_ts="1.1")),
            b.save_thread(SlackThread(run_id=run_id, channel="C1", parent_ts="1.1")),
        )
        thread = await a.get_thread(run_id)
        assert thread is not None and thread.parent_ts == "1.1"


async def test_a_late_first_save_keeps_the_progress_message(
    stores: tuple[RunStore, RunStore],
) -> None:
    a, b = stores
    [run_id] = await _runs(a, 1)
    await a.save_thread(
        SlackThread(run_id=run_id, channel="C1", parent_ts="1.1", progress_ts="1.2")
    )
    await b.save_thread(SlackThread(run_id=run_id, channel="C1", parent_ts="1.1"))
    thread = await a.get_thread(run_id)
    assert thread is not None and thread.progress_ts == "1.2"
