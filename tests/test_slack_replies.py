"""What ``/preprod`` answers in the cases a user is most likely to get wrong: one clear
answer each, with the bot's own markup intact and the user's text escaped. The real bot
over HTTP against the local Slack stand-in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.store.gate import GateStore
from tests.slackbot import CHANNEL, Harness, running_bot

CONFIG = """\
channel: C0RELEASES
roles:
  sre: {label: SRE, members: [U0SRE1]}
policy:
  required_signoffs: [sre]
environments:
  staging: {base_url: "http://127.0.0.1:9", plan: standard}
  qa: {base_url: "http://127.0.0.1:9", plan: standard}
plans:
  standard:
    checks:
      - {id: smoke, type: scripted, outcome: fail}
"""

pytestmark = pytest.mark.usefixtures("scripted_kinds")


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Harness]:
    path = tmp_path / "preprod.yml"
    path.write_text(CONFIG)
    async with running_bot(path, tmp_path) as harness:
        yield harness


def replies_to(harness: Harness, user: str = "U0RM") -> list[str]:
    """Every private answer the user saw (acks and later posts), text and blocks."""
    return [f"{m.text} {m.blocks}" for m in harness.standin.ephemerals(user)]


async def test_rerun_of_a_decided_run_gets_one_answer(bot: Harness) -> None:
    await bot.command("start checkout-api 2.14.0 staging")
    await bot.settle()
    gates, decided = GateStore(bot.bot.store), None
    for _ in range(100):  # the critical failure makes the run NO-GO at once
        if (decided := await gates.decision(1)) is not None:
            break
        await asyncio.sleep(0.1)
    assert decided is not None and decided.outcome == "no-go"
    before = len(replies_to(bot))

    ack = await bot.command("rerun 1")
    await bot.settle()

    assert "decided (NO-GO)" in ack and "start a new run" in ack
    answers = replies_to(bot)[before:]
    assert len(answers) == 1, answers
    assert "Re-running" not in answers[0]
    assert bot.bot.manager.tasks == {}


async def test_unknown_environment_lists_the_known_ones_as_the_cli_does(bot: Harness) -> None:
    ack = await bot.command("start checkout-api 2.14.0 prod")
    assert ack == "unknown environment 'prod'; known: qa, staging"
    [answer] = replies_to(bot)
    assert "known: qa, staging" in answer.split(" ", 1)[1]  # in the blocks as well
    assert bot.parents() == []


async def test_the_bots_own_channel_link_is_not_escaped(bot: Harness) -> None:
    ack = await bot.command("start checkout-api 2.14.0 staging", user="U0OUT", channel="C0RANDOM")
    assert f"<#{CHANNEL}>" in ack and "&lt;#" not in ack
    [answer] = replies_to(bot, "U0OUT")
    assert f"<#{CHANNEL}>" in answer and "&lt;#" not in answer
