"""Claiming runs has a loop of its own: behind the other duties it waited for
republishing, which waits on Slack's pace (a final ``chat.update``, Tier 3 for the whole
workspace), and with hundreds of runs in flight a worker claimed no new run for minutes
(bench/pipelines.py left 200 runs queued with no owner)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.slackbot import Harness, running_bot
from tests.support.plans import SMOKE_HEALTHZ, config_file, staging_config
from tests.support.target import RunningTarget


@pytest.fixture
async def harness(healthy_target: RunningTarget, tmp_path: Path) -> AsyncIterator[Harness]:
    config = config_file(
        tmp_path, staging_config(healthy_target.http_url, SMOKE_HEALTHZ, policy=None)
    )
    async with running_bot(config, tmp_path) as found:
        yield found


async def test_runs_are_claimed_while_republishing_waits_on_slack(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = harness.bot.manager
    stuck = asyncio.Event()
    claims: list[float] = []

    async def republishing(grace: float) -> list[int]:
        await stuck.wait()  # a flush queued behind the workspace's chat.update pace
        return []

    async def recover() -> list[int]:
        claims.append(asyncio.get_running_loop().time())
        return []

    monkeypatch.setattr(manager, "republish", republishing)
    monkeypatch.setattr(manager, "recover", recover)
    harness.bot.start(schedule=False)
    try:
        await harness.until(lambda: len(claims) >= 2, 10)
    finally:
        stuck.set()
