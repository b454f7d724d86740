"""A listener returns once it has acked: Bolt answers Slack when the listener returns
(``process_before_response``), so whatever follows the ack runs on a task of its own
(handlers/after_ack.py) and a slow Slack call after the ack cannot hold the answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.slack.actions import REJECT
from handlers import after_ack
from tests.hostile_bot import quick_bot
from tests.slackbot import CHANNEL, Harness
from tests.test_click_failures import SEC, security_block


@pytest.fixture
async def harness(tmp_path: Path, scripted_kinds: None) -> AsyncIterator[Harness]:
    async with quick_bot(tmp_path) as harness:
        await harness.command("start svc 1.0 staging")
        await harness.settle()
        yield harness


async def test_bolt_answers_when_the_listener_returns(harness: Harness) -> None:
    assert harness.bot.bolt.process_before_response


async def test_a_click_is_answered_before_the_modal_it_opens(harness: Harness) -> None:
    """views.open is rate limited for a second: the click is answered at once, and the
    modal opens after the ack, once Slack lets it."""
    panel, block = security_block(harness)
    harness.standin.rate_limit("views.open", times=1, retry_after=1)
    response = await harness.standin.click(SEC, panel, CHANNEL, REJECT, block_id=block)
    assert response.status_code == 200
    assert not harness.standin.modals(SEC)  # still waiting for Slack's Retry-After
    assert after_ack.pending() >= 1
    await harness.until(lambda: bool(harness.standin.modals(SEC)), timeout=10)
    assert len(harness.standin.calls_to("views.open")) == 2  # the 429, then the modal


async def test_a_failure_after_the_ack_is_logged(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken() -> None:
        raise RuntimeError("boom")

    after_ack.spawn(broken(), "a test's work")
    await harness.until(lambda: after_ack.pending() == 0)
    assert "a test's work failed after its ack" in caplog.text
