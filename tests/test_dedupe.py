"""Replayed signed requests (same ids inside Slack's 5-minute window) are acked quietly
and change nothing, across replicas sharing the database; fresh requests still work."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest

from bot.slack.actions import APPROVE
from bot.store.models import utcnow
from bot.store.runs import RunStore
from bot.store.seen import KEEP, SeenRequests
from bot.web.dedupe import request_key
from tests.hostile_bot import form, quick_bot, state, tracebacks
from tests.slackbot import CHANNEL, Harness

OUT = "U0OUT"


@pytest.fixture
async def harness(tmp_path: Path, scripted_kinds: None) -> AsyncIterator[Harness]:
    async with quick_bot(tmp_path) as harness:
        yield harness


async def test_a_replayed_start_creates_one_run(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    assert "Starting the validation" in await harness.command("start svc 1.0 staging")
    fields = harness.standin.deliveries[-1].payload
    replay = await harness.standin.send_raw(urlencode(fields))
    assert replay.status_code == 200 and replay.content == b""
    await harness.settle()
    assert state(harness)["Run"] == 1
    assert len(harness.parents()) == 1
    assert not tracebacks(caplog)

    assert "Starting the validation" in await harness.command("start svc 1.0 staging")
    await harness.settle()
    assert state(harness)["Run"] == 2  # a fresh command (new trigger_id) is not a replay

    # a read-only command claims no id: its replay is answered again, and changes nothing
    assert "2 runs" in await harness.command("list")
    fields = harness.standin.deliveries[-1].payload
    again = await harness.standin.send_raw(urlencode(fields))
    assert again.status_code == 200 and "2 runs" in again.text
    assert state(harness)["Run"] == 2


async def test_a_replayed_click_changes_nothing(harness: Harness) -> None:
    await harness.command("start svc 1.0 staging")
    await harness.settle()
    panel = next(m for m in harness.thread() if m.button_labels())
    await harness.standin.click(OUT, panel.ts, CHANNEL, APPROVE, block_id=None)
    await harness.until(lambda: len(harness.standin.ephemerals(OUT)) == 1)  # not a member
    payload = harness.standin.deliveries[-1].payload
    before = state(harness)

    replay = await harness.standin.send_raw(form(payload))
    assert replay.status_code == 200
    await harness.settle()
    await asyncio.sleep(0.5)  # time enough for a second refusal to arrive, were it sent
    assert len(harness.standin.ephemerals(OUT)) == 1
    assert state(harness) == before

    await harness.standin.click("U0SRE1", panel.ts, CHANNEL, APPROVE, block_id=None)
    approval = harness.standin.deliveries[-1].payload
    await harness.until(lambda: state(harness)["SignOff"] == 1)
    await harness.standin.send_raw(form(approval))
    await harness.settle()
    assert state(harness)["SignOff"] == 1


def test_request_keys_name_the_unique_ids() -> None:
    start = {"command": "/preprod", "text": "start svc 1.0 staging", "trigger_id": "T1"}
    assert request_key(start) == "command:T1"
    for acting in ("cancel 3", "rerun 3 smoke", "outcome 3 success"):
        assert request_key({**start, "text": acting}) == "command:T1", acting
    for reading in ("status", "status 3", "list", "report 3", "help", "", "start", "bogus"):
        assert request_key({**start, "text": reading}) is None, reading
    click = {"type": "block_actions", "trigger_id": "T2", "actions": [{"action_ts": "1.5"}]}
    assert request_key(click) == "block_actions:T2:1.5"
    view = {"type": "view_submission", "trigger_id": "T3", "view": {"id": "V1", "hash": "h"}}
    assert request_key(view) == "view_submission:T3:V1:h"
    long = request_key({**start, "trigger_id": "x" * 1000})
    assert long is not None and len(long) <= 255
    for nameless in (
        {},
        {"type": "event_callback", "event_id": "Ev1"},
        {"command": "/preprod"},
        {"type": "block_actions", "actions": "nope", "trigger_id": 5},
        {"type": "view_submission", "view": [1]},
    ):
        assert request_key(nameless) is None


async def test_seen_requests_hold_across_replicas_and_expire(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shared.db"
    one, two = SeenRequests(RunStore(url)), SeenRequests(RunStore(url))
    assert await one.first_time("command:T1")
    assert not await two.first_time("command:T1")  # the other replica already took it
    assert await two.first_time("command:T2")

    old = utcnow() - KEEP - timedelta(seconds=1)
    assert await one.first_time("command:OLD", now=old)
    assert await one.forget_before(utcnow() - KEEP) == 1
    assert await one.first_time("command:OLD")
    assert not await one.first_time("command:T2")
