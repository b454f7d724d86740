"""What waits for ``chat.update`` (Tier 3: about 50 a minute for the whole workspace,
the scarcest Slack call when many runs are in flight): the sign-off panel goes out as
soon as the run's results are posted, without waiting for the progress message's final
update, which under load queued behind every other run's updates (the pipelines bench:
panels minutes late, and so the clicks and decisions). The final progress still lands."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from slack_standin import Message
from tests.slackbot import Harness, running_bot
from tests.support.plans import SMOKE_HEALTHZ, config_file, staging_config
from tests.support.target import RunningTarget

SRE_LABELLED = "{sre: {label: SRE, members: [U0SRE1]}}"


@pytest.fixture
async def harness(healthy_target: RunningTarget, tmp_path: Path) -> AsyncIterator[Harness]:
    text = staging_config(healthy_target.http_url, SMOKE_HEALTHZ, roles=SRE_LABELLED)
    config = config_file(tmp_path, text)
    async with running_bot(config, tmp_path) as found:
        yield found


def panel(harness: Harness) -> Message | None:
    found = [m for m in harness.thread() if "Approve" in m.button_labels()]
    return found[0] if found else None


async def test_the_panel_does_not_wait_for_the_final_progress_update(harness: Harness) -> None:
    harness.standin.rate_limit("chat.update", times=3, retry_after=2)  # ~6 s of 429s
    await harness.command("start svc 1.0 staging")
    await harness.until(lambda: bool(harness.parents()) and panel(harness) is not None)
    landed = [c for c in harness.standin.calls_to("chat.update") if c.status == 200]
    assert landed == []  # the panel is out while the progress update still waits
    await harness.settle()  # until the coalescer delivered the final state too
    progress = [m for m in harness.thread() if "checks done" in m.text]
    assert len(progress) == 1 and "1/1 checks done" in progress[0].text, progress
