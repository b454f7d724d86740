"""A run whose thread takes longer to open than its lease lasts (the channel's rate limit
holds its parent message back) is still executed once, by the process that stored it:
the lease of a run being opened is renewed like that of a running one, and the
process's own recovery leaves it alone (bench/chaos.py found a run executed twice)."""

from __future__ import annotations

from pathlib import Path

from tests.support.plans import SMOKE_VERSION, config_file, staging_config
from tests.support.processes import bots, until
from tests.support.target import RunningTarget, served
from tests.support.workspace import CHANNEL


async def test_a_run_opened_slower_than_its_lease_runs_once(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    config = config_file(tmp_path, staging_config(healthy_target.http_url, SMOKE_VERSION))
    before = served(healthy_target, "/version")  # the target is shared with other tests
    async with bots(config, tmp_path, lease_ttl=1.0, PREPROD_POLL_INTERVAL="0.2") as group:
        serve = group.serve()
        group.standin.rate_limit("chat.postMessage", times=1, retry_after=3)
        ack = await group.command(serve, "start svc 1.0 staging")
        assert "Starting the validation" in ack, ack
        await until(lambda: group.query("SELECT status FROM run") == [("FINISHED",)], timeout=30)
        channel = group.standin.channel(CHANNEL)
        await until(lambda: any(m.button_labels() for m in channel.all_messages))
        assert group.logs().count("executing run 1 in process") == 1, group.logs()
        assert served(healthy_target, "/version") - before == 1
        keys = [m.metadata["event_payload"]["key"] for m in channel.all_messages]
        assert len(keys) == len(set(keys)), f"a message was posted twice: {sorted(keys)}"
