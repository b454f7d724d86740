"""Many pipelines polling one run with one token share their reads: 500 long polls
arriving at once used to cost 500 token checks, run reads and run views (a handful of
queries each), queued in front of the deciding click. ``Shared`` itself, then a real
bot answering a crowd of concurrent polls with a few queries in all."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from bot.web.api_wait import Shared
from tests.slackbot import Harness, running_bot
from tests.support.target import RunningTarget
from tests.test_api import client, config_for, request, token


async def test_concurrent_reads_of_one_key_share_one_read() -> None:
    shared: Shared[str, int] = Shared()
    gate = asyncio.Event()
    made: list[str] = []

    async def read(key: str) -> int:
        made.append(key)
        await gate.wait()
        return len(made)

    crowd = [asyncio.create_task(shared(k, partial(read, k))) for k in "aaab"]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*crowd) == [1, 1, 1, 2]
    assert made == ["a", "b"] and shared.reads == 2 and shared.flying == {}
    assert await shared("a", lambda: read("a")) == 3  # landed: the next ask reads again


async def test_a_failed_read_reaches_every_sharer_and_is_not_kept() -> None:
    shared: Shared[int, int] = Shared()

    async def broken() -> int:
        await asyncio.sleep(0.01)
        raise LookupError("gone")

    results = await asyncio.gather(*(shared(1, broken) for _ in range(3)), return_exceptions=True)
    assert [type(r) for r in results] == [LookupError] * 3 and shared.reads == 1

    async def fine() -> int:
        return 7

    assert await shared(1, fine) == 7


async def test_one_sharer_cancelled_does_not_cancel_the_others() -> None:
    shared: Shared[int, str] = Shared()

    async def slow() -> str:
        await asyncio.sleep(0.05)
        return "view"

    first = asyncio.create_task(shared(1, slow))
    second = asyncio.create_task(shared(1, slow))
    await asyncio.sleep(0.01)
    first.cancel()
    assert await second == "view"


@pytest.fixture
async def harness(healthy_target: RunningTarget, tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_bot(config_for(tmp_path, healthy_target), tmp_path) as found:
        yield found


async def test_a_crowd_polling_one_run_costs_a_few_queries(harness: Harness) -> None:
    async with client(harness, await token(harness)) as http:
        asked = await request(http, "crowd-1")
        assert asked.status_code == 201, asked.text
        run_id = asked.json()["id"]
        await harness.settle()  # its thread and checks are done: the database is quiet
        statements: list[str] = []

        def count(*args: Any) -> None:
            statements.append(str(args[2]))

        event.listen(harness.bot.store.engine, "before_cursor_execute", count)
        try:
            crowd = await asyncio.gather(*(http.get(f"/api/v1/runs/{run_id}") for _ in range(60)))
        finally:
            event.remove(harness.bot.store.engine, "before_cursor_execute", count)
    assert {r.status_code for r in crowd} == {200}
    assert crowd[0].headers["content-type"] == "application/json"
    assert {r.json()["id"] for r in crowd} == {run_id}
    # before: each poll checked the token, read the run and built its view on its own,
    # 12 queries a poll (720); shared, 45-66 on a busy machine where polls overlap less
    assert len(statements) < 3 * 60, len(statements)
