"""A cancel recorded for the process that executes a run (another replica asked) stops
the run within about one poll period, however slowly Slack takes the "cancelled by"
messages: the cancel loop does not wait for them before it takes the next request."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.store.models import RunStatus
from tests.slackbot import CHANNEL, Harness, running_bot

CONFIG = """\
channel: C0RELEASES
environments:
  staging: {base_url: "http://127.0.0.1:9", plan: slow}
plans:
  slow:
    checks:
      - {id: wait, type: scripted, outcome: hang, timeout: 1m}
"""
SLACK_WAIT = 4
"""Seconds Slack makes the first "cancelled by" reply wait (a 429 with Retry-After)."""

pytestmark = pytest.mark.usefixtures("scripted_kinds")


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Harness]:
    config = tmp_path / "preprod.yml"
    config.write_text(CONFIG)
    async with running_bot(config, tmp_path) as harness:
        harness.bot.start(schedule=False)  # its loops: the cancel requests' among them
        yield harness


async def test_cancels_asked_elsewhere_stop_their_runs_within_a_poll(bot: Harness) -> None:
    manager = bot.bot.manager
    for n in (1, 2):
        assert "Starting the validation" in await bot.command(f"start svc-{n} 1.0 staging")
    await bot.until(lambda: len(manager.tasks) == 2 and len(bot.parents()) == 2)
    # each thread has its progress message: the next chat.postMessage is a "cancelled by"
    await bot.until(lambda: len(thread_texts(bot)) == 2)
    bot.standin.rate_limit("chat.postMessage", times=1, retry_after=SLACK_WAIT)

    asked = time.monotonic()
    for run_id in (1, 2):  # as a replica that does not execute them records it
        assert await manager.leases.request_cancel(run_id, "U0RM")

    async def status(run_id: int) -> RunStatus | None:
        run = await bot.bot.store.get_run(run_id)
        return run.status if run else None

    stopped: dict[int, float] = {}
    while len(stopped) < 2 and time.monotonic() - asked < SLACK_WAIT + 5:
        for run_id in (1, 2):
            if run_id not in stopped and await status(run_id) == RunStatus.CANCELLED:
                stopped[run_id] = time.monotonic() - asked
        await asyncio.sleep(0.05)
    poll = bot.bot.settings.poll_interval
    # one poll period, plus a second for a loaded machine; the second run used to wait
    # for the first one's reply, which Slack held for SLACK_WAIT seconds
    assert set(stopped) == {1, 2}, stopped
    assert max(stopped.values()) < poll + 1.0, stopped
    assert not manager.tasks

    await bot.until(lambda: sum("cancelled by <@U0RM>" in t for t in thread_texts(bot)) == 2, 30)
    assert [c.status for c in bot.standin.calls_to("chat.postMessage")].count(429) == 1


def thread_texts(bot: Harness) -> list[str]:
    return [m.text for parent in bot.parents() for m in bot.standin.thread(CHANNEL, parent.ts)]
