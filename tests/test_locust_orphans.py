"""No Locust outlives its owner: a SIGKILL of `preprod serve` or `preprod check` in the
middle of a load test leaves no Locust process behind (the parent-death signal of
checks/load/children.py), and where that signal does not exist the generated
locustfile's own watchdog stops Locust. Real processes, real Locust, a real target."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from checks.load.children import ENV_OWNER
from tests.support.processes import (
    bots,
    kill,
    kill_leftover_locust,
    load_is_running,
    locust_pids,
    preprod_command,
    start_load_run,
    until,
    write_plan,
)
from tests.support.target import RunningTarget


async def test_sigkill_of_serve_leaves_no_locust(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    config = write_plan(tmp_path, healthy_target, duration="60s")
    async with bots(config, tmp_path, lease_ttl=60) as group:
        serve = group.serve()
        await start_load_run(group)
        group.kill(serve)
        took = await until(lambda: group.locust() == [], timeout=5)
        assert took < 3, f"Locust outlived its owner by {took:.1f} s"


async def test_sigkill_of_preprod_check_leaves_no_locust(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    config = write_plan(tmp_path, healthy_target, duration="60s")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PREPROD_CONFIG")}
    log = (tmp_path / "check.log").open("wb")
    check = subprocess.Popen(
        preprod_command("check", "--config", str(config), "--env", "staging"),
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        await until(load_is_running(tmp_path), timeout=30)
        assert len(locust_pids(str(tmp_path))) == 2
        kill(check)
        took = await until(lambda: locust_pids(str(tmp_path)) == [], timeout=5)
        assert took < 3, f"Locust outlived its owner by {took:.1f} s"
    finally:
        kill(check)
        kill_leftover_locust(str(tmp_path))


WATCHED = """\
import os, subprocess, sys, time
env = {**os.environ, "%(env)s": str(os.getpid())}
subprocess.Popen(
    [sys.executable, "-m", "locust", "-f", sys.argv[1], "--headless", "--users", "1",
     "--spawn-rate", "1", "--run-time", "60s", "--host", sys.argv[2]],
    env=env, start_new_session=True, cwd=os.path.dirname(sys.argv[1]),
)
time.sleep(600)
"""


async def test_the_locustfile_watchdog_alone_stops_locust_when_its_owner_dies(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    """Where there is no parent-death signal (not Linux), the generated locustfile's own
    watchdog stops the test: here Locust is started without the launcher."""
    from checks.load import locustfile
    from checks.load.options import LoadOptions

    options = LoadOptions.model_validate(
        {"users": 1, "duration": "60s", "tasks": [{"path": "/healthz"}]}
    )
    source = tmp_path / "locustfile.py"
    source.write_text(locustfile.generate(options))
    owner = subprocess.Popen(
        [sys.executable, "-c", WATCHED % {"env": ENV_OWNER}, str(source), healthy_target.http_url]
    )
    try:
        await until(lambda: len(locust_pids(str(tmp_path))) == 1, timeout=20)
        time.sleep(1.0)  # Locust is past its start-up
        assert len(locust_pids(str(tmp_path))) == 1
        kill(owner)
        took = await until(lambda: locust_pids(str(tmp_path)) == [], timeout=5)
        assert took < 2.5, took
    finally:
        kill(owner)
        kill_leftover_locust(str(tmp_path))
