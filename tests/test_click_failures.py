"""A Slack API failure during a click: the clicker is told privately that nothing was
recorded and why, and nothing is recorded half-way; once Slack is back, the click works."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.slack.actions import APPROVE, REJECT
from bot.slack.client import RetryPolicy
from tests.hostile_bot import CONFIG, quick_bot, state
from tests.slackbot import CHANNEL, Harness

SEC = "U0SEC1"
USERGROUP_CONFIG = CONFIG.replace(
    "security: {label: Security, members: [U0SEC1]}",
    "security: {label: Security, usergroup: S0SEC}",
)
NOT_RECORDED = (
    "Could not check your membership of Security: Slack is unavailable, try again."
    " Nothing was recorded."
)


@pytest.fixture
async def harness(tmp_path: Path, scripted_kinds: None) -> AsyncIterator[Harness]:
    assert USERGROUP_CONFIG != CONFIG
    async with quick_bot(tmp_path, USERGROUP_CONFIG) as harness:
        harness.standin.workspace.usergroups["S0SEC"] = [SEC]
        harness.bot.slack.policy = RetryPolicy(max_failures=2, backoff_base=0.02, backoff_cap=0.1)
        await harness.command("start svc 1.0 staging")
        await harness.settle()
        yield harness


def last_told(harness: Harness) -> str:
    told = harness.standin.ephemerals(SEC)
    return told[-1].text if told else ""


def security_block(harness: Harness) -> tuple[str, str | None]:
    """The panel's ts and the block of the Security role's buttons."""
    panel = next(m for m in harness.thread() if m.button_labels())
    for block in panel.blocks:
        for element in block.get("elements", []):
            if str(element.get("value", "")).endswith(":security"):
                return panel.ts, block.get("block_id")
    raise AssertionError("no Security buttons on the panel")


async def test_a_failing_membership_lookup_is_told_and_records_nothing(harness: Harness) -> None:
    panel, block = security_block(harness)
    before = state(harness)
    for action in (APPROVE, REJECT):
        harness.standin.fail("usergroups.users.list", times=20, status=503)
        told = len(harness.standin.ephemerals(SEC))
        response = await harness.standin.click(SEC, panel, CHANNEL, action, block_id=block)
        assert response.status_code == 200
        await harness.until(lambda n=told + 1: len(harness.standin.ephemerals(SEC)) == n)
        assert harness.standin.ephemerals(SEC)[-1].text.endswith(NOT_RECORDED)
        assert state(harness) == before
        assert not harness.standin.modals(SEC)  # the reject modal was not opened either
        harness.standin._faults.clear()  # what is left of the outage

    # Slack is back. The failed lookups spent the Tier 2 budget of usergroups.users.list,
    # so the first click may be told "try again in a moment" (the lookup would outlast
    # the ack); a person clicking again a moment later is recorded.
    for _ in range(10):
        harness.standin.workspace.ephemerals.get(SEC, []).clear()
        await harness.standin.click(SEC, panel, CHANNEL, APPROVE, block_id=block)
        await harness.until(lambda: state(harness)["SignOff"] == 1 or bool(last_told(harness)))
        if state(harness)["SignOff"] == 1:
            break
        assert last_told(harness).endswith("try again in a moment. Nothing was recorded.")
        await asyncio.sleep(1)
    assert state(harness)["SignOff"] == 1
