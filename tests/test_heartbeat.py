"""The heartbeat renews this process's leases whatever the other duties wait on: one that
waits on Slack (a resumed run's note, an announcement behind the channel's one message a
second) must not let a lease expire under a live owner, or another process resumes a run
still executing here and its checks run twice (bench/chaos.py saw it)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.engine.request import RunRequest
from bot.store.leases import Leases
from bot.store.models import as_utc, utcnow
from tests.hostile_bot import CONFIG
from tests.slackbot import running_bot


@pytest.mark.usefixtures("scripted_kinds")
async def test_leases_are_renewed_while_a_duty_waits_on_slack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "preprod.yml"
    path.write_text(CONFIG)
    async with running_bot(path, tmp_path, lease_ttl=0.6) as harness:
        manager = harness.bot.manager
        slack_never_answers = asyncio.Event()

        async def stuck_on_slack(grace: float) -> list[int]:
            await slack_never_answers.wait()
            return []

        monkeypatch.setattr(manager, "republish", stuck_on_slack)
        harness.bot.start(schedule=False)  # the harness's server runs no lifespan
        request = RunRequest("svc", "1.0", "staging", requester="U0RM", source="slack")
        run = await manager.engine().start(request)  # leased to this process
        assert run.id is not None
        manager.opening.add(run.id)  # held here, as while its thread opens
        try:
            await asyncio.sleep(2.0)  # more than three leases' length
            stored = await harness.bot.store.get_run(run.id)
            assert stored is not None and stored.lease_expires is not None
            assert stored.lease_owner == manager.leases.owner
            assert as_utc(stored.lease_expires) > utcnow(), "the lease expired under its owner"
            rival = Leases(harness.bot.store, owner="another-replica", ttl=0.6)
            assert not await rival.claim(run.id)
        finally:
            manager.opening.discard(run.id)
            slack_never_answers.set()
