"""``environments.<name>.channel``: a run of that environment lives in its own channel
(Slack posts about one message a second per channel, so busy environments need not
share one); an environment without it keeps the release channel. Before, every run was
in the release channel whatever its environment said."""

from __future__ import annotations

from pathlib import Path

from bot.config.loader import load_config
from slack_standin import SlackStandIn
from tests.hostile_bot import CONFIG, quick_bot
from tests.slackbot import CHANNEL

OTHER = "C0RANDOM"
TWO = CONFIG.replace(
    "environments:\n",
    f"environments:\n  busy:\n    base_url: http://127.0.0.1:9\n    plan: quick\n"
    f"    channel: {OTHER}\n",
)


def parents(standin: SlackStandIn, channel: str) -> list[str]:
    return [m.text for m in standin.channel(channel).messages if "Pre-production" in m.text]


async def test_a_run_lives_in_its_environments_channel(
    tmp_path: Path, scripted_kinds: None
) -> None:
    assert TWO != CONFIG
    async with quick_bot(tmp_path, TWO) as harness:
        await harness.command("start svc 1.0 busy")
        await harness.command("start svc 2.0 staging")
        await harness.settle()
        busy, release = parents(harness.standin, OTHER), parents(harness.standin, CHANNEL)
    assert len(busy) == 1 and "1.0" in busy[0]
    assert len(release) == 1 and "2.0" in release[0]


def test_the_channel_is_optional_and_read(tmp_path: Path, scripted_kinds: None) -> None:
    path = tmp_path / "preprod.yml"
    path.write_text(TWO)
    config = load_config(path)
    assert config.environments["busy"].channel == OTHER
    assert config.environments["staging"].channel is None
