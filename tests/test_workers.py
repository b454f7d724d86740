"""`preprod serve --workers 1`: the process that acks Slack executes no run; its worker
child claims each run within about a second, executes it and posts to its thread once.
Real processes, a real target, SQLite and the Slack stand-in over HTTP."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.settings import Settings, SettingsError
from tests.support.plans import SMOKE_VERSION, config_file, slow_items, staging_config
from tests.support.processes import alive, bots, niceness, parent_pid, until
from tests.support.target import RunningTarget, served


async def test_serve_with_a_worker_leaves_every_run_to_the_worker(
    target_factory: Callable[..., RunningTarget], tmp_path: Path
) -> None:
    target = target_factory("slow")  # each /api/items takes 1.2 s: the run lasts ~2.4 s
    config = config_file(tmp_path, staging_config(target.http_url, SMOKE_VERSION, slow_items(2)))
    database = f"sqlite:///{tmp_path}/bot.db"
    async with bots(config, tmp_path, database_url=database) as group:
        serve = group.serve("--workers", "1")
        await until(lambda: "executes runs" in serve.output())  # the worker is up
        worker = int(re.findall(r"worker (\d+) executes runs", serve.output())[0])
        assert worker != serve.proc.pid and parent_pid(worker) == serve.proc.pid
        # the acks come first on a shared machine (PREPROD_WORKER_NICE, default 10)
        assert niceness(worker) == min(19, niceness(serve.proc.pid) + 10)

        ack = await group.command(serve, "start checkout-api 2.14.0 staging")
        assert "Starting the validation" in ack
        # serve holds the run only while it opens the thread, then the worker claims it
        by_worker = (
            f"SELECT id FROM run WHERE status = 'RUNNING' AND lease_owner LIKE '%:{worker}:%'"
        )
        claimed_in = await until(lambda: bool(group.query(by_worker)), timeout=10)
        assert claimed_in < 3.0, f"the worker took {claimed_in:.1f}s to claim the run"

        await until(lambda: group.query("SELECT status FROM run") == [("FINISHED",)])
        assert served(target, "/version") == 1 and served(target, "/api/items") == 2
        assert f"executing run 1 in process {worker}" in serve.output()
        assert f"in process {serve.proc.pid}" not in serve.output(), "serve ran check work"

        parents = group.parents()
        assert len(parents) == 1, "one parent message"
        await until(lambda: any("sign-off" in t.lower() for t in group.thread(parents[0])))
        thread = group.thread(parents[0])
        assert sum(t.startswith("Results for") for t in thread) == 1, thread
        assert sum(" checks done" in t for t in thread) == 1, "one progress message"
        assert not any("resumed after a restart" in t for t in thread), thread

        def progress() -> str:
            return next(m.text for m in group.standin.thread("C0RELEASES", parents[0].ts)
                        if " checks done" in m.text)  # fmt: skip

        # edited by the worker; the final state may land just after the panel (the panel
        # does not wait for it)
        await until(lambda: "2/2 checks done" in progress(), timeout=10)

        group.stop(serve)
        await until(lambda: not alive(worker), timeout=15)  # workers end with serve
        assert f"worker {worker} stopped" in serve.output()
        assert "Traceback" not in group.logs(), group.logs()


def test_the_workers_niceness_is_a_setting() -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}
    assert Settings.from_env(env).worker_nice == 10
    assert Settings.from_env({**env, "PREPROD_WORKER_NICE": "0"}).worker_nice == 0
    for wrong in ("20", "-1", "ten"):
        with pytest.raises(SettingsError, match="PREPROD_WORKER_NICE must be a whole number"):
            Settings.from_env({**env, "PREPROD_WORKER_NICE": wrong})
