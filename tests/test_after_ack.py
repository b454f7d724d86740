"""After the ack (issue 23): what was acked is not lost when Slack or the database fails
next. A cancel whose note meets a Slack outage is shown once Slack answers (the
publisher's cancel, finish and note go through the same retries as every owed message),
and a database failure after the ack is told in the honest words of
bot/slack/unavailable.py, never "something went wrong"."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

import bot.slack.publisher
from bot.slack.dispatch import _honest_after_ack
from bot.slack.opening import ReplyError
from bot.slack.unavailable import cancel_after_ack, rerun_after_ack, started_after_ack
from tests.slackbot import Harness, running_bot
from tests.support.plans import SMOKE_VERSION, staging_config
from tests.support.processes import free_port
from tests.support.target import RunningTarget
from tests.test_slack_outage import FAST, told

pytestmark = pytest.mark.usefixtures("scripted_kinds")


@pytest.fixture
async def long_run_bot(
    healthy_target: RunningTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Harness]:
    monkeypatch.setattr(bot.slack.publisher, "RETRY_CAP", 0.5)
    config = tmp_path / "preprod.yml"
    slow = (  # the run lasts long enough for the outage
        "- {id: slow, type: scripted, sleep: 20.0}",
        '- {id: flaky, type: scripted, outcome: fail, sleep: 20.0, evidence: "it broke",'
        " critical: false}",
    )
    config.write_text(staging_config(healthy_target.http_url, SMOKE_VERSION, *slow))
    async with running_bot(config, tmp_path) as running:
        running.bot.slack.policy = FAST
        yield running


async def test_a_cancel_during_a_slack_outage_is_shown_once_it_answers(
    long_run_bot: Harness,
) -> None:
    h = long_run_bot
    await h.command("start svc 1.0 staging")
    await h.until(lambda: bool(h.parents()) and bool(h.bot.manager.tasks))
    h.standin.fail("chat.postMessage", times=100_000, status=503)  # posts fail, edits land
    try:
        assert "Cancelling run #1" in await h.command("cancel 1")
        await asyncio.sleep(1.5)  # the cancel's note meets the outage
        assert not [m for m in h.thread() if "cancelled by" in m.text]
    finally:
        h.standin._faults.pop("chat.postMessage", None)
    # tried again in the background (the duties loop that follows cancel requests is not
    # held while Slack is down), so it lands a moment after Slack answers
    await h.until(lambda: any("cancelled by" in m.text for m in h.thread()), timeout=30)
    await h.settle(timeout=30)
    notes = [m for m in h.thread() if "cancelled by <@U0RM>" in m.text]
    assert len(notes) == 1, [m.text for m in h.thread()]
    assert "went wrong" not in told(h)
    run = await h.bot.store.get_run(1)
    assert run is not None and run.status.value == "cancelled"


async def test_a_database_failure_after_the_ack_is_told_honestly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    nowhere = create_engine(f"postgresql+psycopg://preprod@127.0.0.1:{free_port()}/none")

    async def work() -> None:  # a real connection refused, as a stopped PostgreSQL gives
        await asyncio.to_thread(nowhere.connect)

    with caplog.at_level(logging.WARNING), pytest.raises(ReplyError) as raised:
        await _honest_after_ack(work(), started_after_ack(7), "U0RM")
    assert raised.value.reply == (
        "Run #7 is stored, but the bot's database is unavailable while starting it: the run "
        "starts or goes on by itself when the database answers, and its thread shows it then."
    )
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith("could not start run #7 for U0RM after the ack: the bot's database")
    assert "Connection refused" in line or "connection failed" in line
    for told_after in (rerun_after_ack(7), cancel_after_ack(7)):
        assert "the bot's database is unavailable" in told_after.sentence


async def test_other_failures_after_the_ack_are_not_dressed_as_the_database() -> None:
    async def work() -> None:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        await _honest_after_ack(work(), started_after_ack(7), "U0RM")
