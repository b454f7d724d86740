"""Signed but malformed interactions: read into typed models at the edge; anything that
cannot be read is acked at once, logged once, answered "could not read this action"
privately when there is someone and somewhere to tell, and changes nothing."""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import AsyncIterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from bot.slack.actions import APPROVE, REASON_BLOCK, REASON_INPUT, REJECT_MODAL, WAIVE
from bot.slack.payloads import (
    DB_INT,
    Click,
    Submission,
    Unreadable,
    check_bolt_can_read,
    parse_target,
    read,
)
from tests.hostile_bot import form, quick_bot, state, tracebacks
from tests.slackbot import CHANNEL, Harness

SRE, OUT = "U0SRE1", "U0OUT"
_ids = count()


def click_payload(value: str = "1:1:sre", action_id: str = APPROVE) -> dict[str, Any]:
    n = next(_ids)
    return {
        "type": "block_actions",
        "user": {"id": SRE, "name": "sam"},
        "trigger_id": f"T{n}",
        "container": {"type": "message", "channel_id": CHANNEL, "message_ts": "1.1"},
        "channel": {"id": CHANNEL},
        "message": {"ts": "1.1"},
        "actions": [{"action_id": action_id, "value": value, "action_ts": f"{n}.5"}],
    }


def view_payload(metadata: str = "1:1:sre", text: str = "not ready at all") -> dict[str, Any]:
    n = next(_ids)
    return {
        "type": "view_submission",
        "user": {"id": SRE},
        "trigger_id": f"T{n}",
        "view": {
            "id": f"V{n}",
            "type": "modal",
            "callback_id": REJECT_MODAL,
            "private_metadata": metadata,
            "hash": f"h{n}",
            "state": {"values": {REASON_BLOCK: {REASON_INPUT: {"value": text}}}},
        },
    }


def without(payload: dict[str, Any], *path: str) -> dict[str, Any]:
    broken = copy.deepcopy(payload)
    holder = broken
    for key in path[:-1]:
        holder = holder[key]
    del holder[path[-1]]
    return broken


def replaced(payload: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    broken = copy.deepcopy(payload)
    holder = broken
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    return broken


MALFORMED_CLICKS = {
    "no user": without(click_payload(), "user"),
    "no trigger_id": without(click_payload(), "trigger_id"),
    "no container": without(without(click_payload(), "channel"), "container"),
    "no actions": replaced(click_payload(), [], "actions"),
    "actions not a list": replaced(click_payload(), "nope", "actions"),
    "garbage value": click_payload(value="💥:not:ours"),
    "run id too big": click_payload(value=f"{2**63}:1:sre"),
    "user id a number": replaced(click_payload(), {"id": 5}, "user"),
}
MALFORMED_VIEWS = {
    "garbage metadata": view_payload(metadata="{{garbage"),
    "no state": without(view_payload(), "view", "state"),
    "values not a dict": replaced(view_payload(), [1], "view", "state", "values"),
    "run id too big": view_payload(metadata=f"{DB_INT + 1}:1:sre"),
    "no user": without(view_payload(), "user"),
    # Slack's views always carry a type; without it Bolt's listener arguments raised a
    # KeyError (a 500 with a traceback; found by tests/test_hostile_property.py)
    "no view type": without(view_payload(), "view", "type"),
    "not ours, no view type": replaced(
        without(view_payload(), "view", "type"), "other", "view", "callback_id"
    ),
}


def test_well_formed_payloads_are_models() -> None:
    click = read(click_payload("7:2:security"))
    assert isinstance(click, Click)
    assert (click.user.id, click.channel_id, click.thread_ts) == (SRE, CHANNEL, "1.1")
    assert (click.target.run_id, click.target.generation, click.target.subject) == (
        7,
        2,
        "security",
    )
    view = read(view_payload("7:2:security", "because"))
    assert isinstance(view, Submission)
    assert (view.user.id, view.target.run_id, view.text) == (SRE, 7, "because")
    assert read({"type": "block_actions", "actions": [{"action_id": "open_run"}]}) is None
    assert read({"type": "shortcut"}) is None
    assert read([1]) is None


@pytest.mark.parametrize(
    "name", sorted(MALFORMED_CLICKS) + sorted(f"view {n}" for n in MALFORMED_VIEWS)
)
def test_malformed_payloads_are_unreadable_with_what_can_be_salvaged(name: str) -> None:
    payload = MALFORMED_VIEWS[name[5:]] if name.startswith("view ") else MALFORMED_CLICKS[name]
    with pytest.raises(Unreadable) as caught:
        read(payload)
        check_bolt_can_read(payload)
    salvaged = caught.value.salvaged
    if "user" in payload and isinstance(payload["user"].get("id"), str):
        assert salvaged.user == SRE


def test_targets_stay_in_the_database_range() -> None:
    assert parse_target(f"{DB_INT}:0:x").run_id == DB_INT
    for bad in (f"{DB_INT + 1}:1:x", "0:1:x", "1:1:", "-1:1:x", "1:x:y", "", "1:1"):
        with pytest.raises(ValueError):
            parse_target(bad)


@pytest.fixture
async def harness(tmp_path: Path, scripted_kinds: None) -> AsyncIterator[Harness]:
    async with quick_bot(tmp_path) as harness:
        await harness.command("start svc 1.0 staging")
        await harness.settle()
        yield harness


async def _send(harness: Harness, payload: dict[str, Any]) -> float:
    began = time.perf_counter()
    response = await harness.standin.send_raw(form(payload))
    assert response.status_code == 200, (response.status_code, response.text)
    return time.perf_counter() - began


async def test_malformed_clicks_are_acked_told_and_logged_once(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    before = state(harness)
    for name, payload in MALFORMED_CLICKS.items():
        caplog.clear()
        told = len(harness.standin.ephemerals(SRE))
        elapsed = await _send(harness, payload)
        assert elapsed < 1.0, name
        await asyncio.sleep(0.2)
        lines = [r for r in caplog.records if "could not read" in r.getMessage()]
        assert len(lines) == 1, name
        assert not tracebacks(caplog), name
        if name not in ("no user", "no container", "user id a number"):
            await harness.until(lambda n=told + 1: len(harness.standin.ephemerals(SRE)) == n)
            assert "Could not read this action" in harness.standin.ephemerals(SRE)[-1].text
    assert state(harness) == before


async def test_malformed_modal_submissions_are_acked_told_and_logged_once(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    before = state(harness)
    for name, payload in MALFORMED_VIEWS.items():
        caplog.clear()
        elapsed = await _send(harness, payload)
        assert elapsed < 1.0, name
        await asyncio.sleep(0.2)
        assert len([r for r in caplog.records if "could not read" in r.getMessage()]) == 1, name
        assert not tracebacks(caplog), name
    # the one with a readable run id (no state) was told in the run's thread
    assert any("Could not read this action" in m.text for m in harness.standin.ephemerals(SRE))
    assert state(harness) == before


async def test_a_well_formed_click_still_works(harness: Harness) -> None:
    panel = next(m for m in harness.thread() if m.button_labels())
    await harness.standin.click(SRE, panel.ts, CHANNEL, WAIVE)
    await harness.until(lambda: bool(harness.standin.modals(SRE)))
