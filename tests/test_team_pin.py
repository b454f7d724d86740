"""Requests signed for this app but sent from another workspace (the same app installed
there shares the signing secret) are refused and change nothing: a slash command, a
click, over HTTP and as Socket Mode hands them to Bolt; the bot's own workspace works.
Without ``PREPROD_SLACK_TEAM_ID`` the bot token's workspace (``auth.test``) is the pin."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.actions import APPROVE
from bot.web.team import PinnedToWorkspace, foreign_team, named_teams
from slack_standin import SlackStandIn
from slack_standin.sender import command_fields
from tests.hostile_bot import log_text, quick_bot, state, tracebacks
from tests.slackbot import CHANNEL, Harness

OTHER = "T0ELSEWHERE"
SRE = "U0SRE1"


@pytest.fixture
async def harness(tmp_path: Path, scripted_kinds: None) -> AsyncIterator[Harness]:
    async with quick_bot(tmp_path) as harness:
        yield harness


@contextmanager
def from_workspace(standin: SlackStandIn, team: str) -> Iterator[None]:
    """The stand-in sends as if the app were installed in ``team`` (same secret)."""
    ours = standin.workspace.team_id
    standin.workspace.team_id = team
    try:
        yield
    finally:
        standin.workspace.team_id = ours


def test_the_workspaces_a_payload_names() -> None:
    command = {"command": "/preprod", "team_id": "T1", "user_id": "U1"}
    click = {"type": "block_actions", "team": {"id": "T1"}, "user": {"id": "U", "team_id": "T2"}}
    event = {"type": "event_callback", "team_id": "T3", "authorizations": [{"team_id": "T1"}]}
    assert named_teams(command) == ["T1"]
    assert named_teams(click) == ["T1", "T2"]
    assert named_teams(event) == ["T1"]  # delivered for T1 (a shared channel's event)
    assert named_teams({"type": "event_callback", "team_id": "T3"}) == ["T3"]
    assert named_teams({"type": "url_verification", "challenge": "x"}) == []
    assert named_teams({"team": 5, "user": "U1", "team_id": None}) == []
    assert foreign_team(command, "T1") is None
    assert foreign_team(click, "T1") == "T2"  # a guest from another workspace
    assert foreign_team(event, "T2") == "T1"
    assert foreign_team({}, "T1") is None


async def test_a_command_from_another_workspace_is_refused_and_ours_works(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    before = state(harness)
    with from_workspace(harness.standin, OTHER):
        answer = await harness.standin.send_command("start svc 1.0 staging", user_id=SRE)
    assert answer.status_code == 200 and answer.content == b""
    await harness.settle()
    assert state(harness) == before, "nothing stored"
    assert harness.parents() == [] and harness.standin.ephemerals(SRE) == []
    [line] = [r.getMessage() for r in caplog.records if r.name == "bot.web.team"]
    assert OTHER in line and "serves" in line and "svc" not in line, line  # no body

    assert "Starting the validation" in await harness.command("start svc 1.0 staging")
    await harness.settle()
    assert state(harness)["Run"] == 1
    assert not tracebacks(caplog)


async def test_a_click_from_another_workspace_signs_nothing(harness: Harness) -> None:
    await harness.command("start svc 1.0 staging")
    await harness.settle()
    panel = next(m for m in harness.thread() if m.button_labels())
    before = state(harness)
    with from_workspace(harness.standin, OTHER):
        answer = await harness.standin.click(SRE, panel.ts, CHANNEL, APPROVE, block_id=None)
    assert answer.status_code == 200 and answer.content == b""
    await harness.settle()
    assert state(harness) == before and state(harness)["SignOff"] == 0
    assert harness.standin.ephemerals(SRE) == []

    await harness.standin.click(SRE, panel.ts, CHANNEL, APPROVE, block_id=None)
    await harness.until(lambda: state(harness)["SignOff"] == 1)


async def test_socket_mode_requests_are_pinned_too(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Socket Mode hands each envelope's payload to ``bolt.async_dispatch`` with
    ``mode="socket_mode"`` (no signature): the same middleware refuses it."""
    ws = harness.standin.workspace

    def command(team: str) -> dict[str, Any]:
        fields = command_fields(
            ws,
            command="/preprod",
            text="start svc 1.0 staging",
            user_id=SRE,
            channel_id=CHANNEL,
            response_url=f"{harness.standin.url}/response",
            trigger_id=ws.issue_trigger(SRE),
        )
        return {**fields, "team_id": team}

    foreign = AsyncBoltRequest(body=command(OTHER), mode="socket_mode")
    answer = await harness.bot.bolt.async_dispatch(foreign)
    assert answer.status == 200 and answer.body == ""
    await harness.settle()
    assert state(harness)["Run"] == 0
    assert OTHER in log_text(caplog)

    ours = AsyncBoltRequest(body=command(ws.team_id), mode="socket_mode")
    answer = await harness.bot.bolt.async_dispatch(ours)
    assert answer.status == 200 and "Starting the validation" in answer.body
    await harness.settle()
    assert state(harness)["Run"] == 1


async def test_without_a_configured_workspace_the_bot_token_s_is_the_pin() -> None:
    standin = SlackStandIn(users={"U1": "ana"}, channels={CHANNEL: "releases"})
    await standin.start()
    try:
        bolt = AsyncApp(
            client=AsyncWebClient(token=standin.token, base_url=standin.api_url),
            signing_secret=standin.signing_secret,
        )
        bolt.use(PinnedToWorkspace(None))
        heard: list[str] = []

        @bolt.command("/preprod")
        async def listener(ack: Any, command: dict[str, Any]) -> None:
            heard.append(command["team_id"])
            await ack("heard")

        for team in (OTHER, standin.workspace.team_id):
            body = {"command": "/preprod", "text": "list", "team_id": team, "user_id": "U1"}
            await bolt.async_dispatch(AsyncBoltRequest(body=body, mode="socket_mode"))
        assert heard == [standin.workspace.team_id]  # auth.test's team
    finally:
        await standin.stop()
