"""``preprod request --wait`` against the real API: a real bot over real HTTP with the
Slack stand-in, the CLI a subprocess as a pipeline step runs it, the sign-off clicked in
the stand-in. (tests/test_request_cli.py covers every exit path against a stand-in of the
API; this holds the two sides to the same contract.)"""

from __future__ import annotations

import asyncio
import json

from bot.slack.actions import APPROVE
from bot.store.tokens import Tokens
from tests.slackbot import CHANNEL, Harness
from tests.support.processes import preprod_command
from tests.test_api import harness, signable
from tests.test_request_cli import environ

__all__ = ["harness"]


async def pipeline_step(harness: Harness, token: str, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *preprod_command(*args, "--json", "--poll-wait", "5", "--retry-for", "20s"),
        env=environ(harness.url, token),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_a_pipeline_step_waits_for_the_click_and_exits_0_on_go(harness: Harness) -> None:
    token = await Tokens(harness.bot.store).create("ci", "checkout-*", "*", "test")
    step = await pipeline_step(
        harness, token, "request", "checkout-api", "2.14.0", "staging", "--wait", "--timeout", "90s"
    )
    await harness.until(lambda: bool(harness.parents()), 60)
    panel = await signable(harness, 1)
    await harness.standin.click("U0SRE1", panel.ts, CHANNEL, APPROVE, block_id="signoff:sre")
    stdout, stderr = await asyncio.wait_for(step.communicate(), 60)
    assert step.returncode == 0, stderr.decode()
    verdict = json.loads(stdout)
    assert (verdict["id"], verdict["decision"], verdict["exit"]) == (1, "go", 0)
    assert verdict["source"]["kind"] == "cli"
    # `preprod wait` on the decided run answers at once with the same verdict
    again = await pipeline_step(harness, token, "wait", "1")
    stdout, _ = await asyncio.wait_for(again.communicate(), 30)
    assert again.returncode == 0 and json.loads(stdout)["decision"] == "go"
    # a revoked token: exit 4, however long the step would wait
    await Tokens(harness.bot.store).revoke("ci", "test")
    refused = await pipeline_step(harness, token, "wait", "1", "--timeout", "60s")
    _, stderr = await asyncio.wait_for(refused.communicate(), 30)
    assert refused.returncode == 4, stderr.decode()
