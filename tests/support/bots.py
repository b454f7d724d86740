"""Real `preprod serve` / `preprod socket` / `preprod check` processes for tests: started
in the test's own directory (so their Locust work files, and so Locust's command lines,
carry the test's tmp path), signalled by pid, and their Locust processes found by that
path. Nothing is ever killed by name."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path

from examples.processes import wait_http
from slack_standin import SlackStandIn
from tests.slackbot import CHANNEL, USERS
from tests.support.target import RunningTarget


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def locust_pids(marker: str) -> list[int]:
    """Live (non-zombie) Locust processes whose command line mentions ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and " -m locust " in cmdline and state != "Z":
            found.append(int(entry))
    return found


def kill_leftover_locust(marker: str) -> None:
    """After a test, even a failing one: no Locust of this test keeps loading the target."""
    for pid in locust_pids(marker):
        with suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> float:
    """Wait for ``condition``; the seconds it took."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "condition not met in time"
        await asyncio.sleep(0.1)
    return time.monotonic() - started


class Bots:
    """Bot processes sharing one SQLite database and one Slack stand-in."""

    def __init__(
        self, standin: SlackStandIn, config: Path, tmp_path: Path, lease_ttl: float
    ) -> None:
        self.standin = standin
        self.config = config
        self.tmp_path = tmp_path
        self.db = tmp_path / "bot.db"
        self.env = {
            **os.environ,
            "SLACK_BOT_TOKEN": standin.token,
            "SLACK_SIGNING_SECRET": standin.signing_secret,
            "SLACK_API_URL": standin.api_url,
            "PREPROD_CONFIG": str(config),
            "DATABASE_URL": f"sqlite:///{self.db}",
            "PREPROD_LEASE_TTL": str(lease_ttl),
            "PREPROD_UPDATE_INTERVAL": "0.2",
        }
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = (self.tmp_path / f"bot-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", *args],
            cwd=self.tmp_path,
            env=env or self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def serve(self) -> subprocess.Popen[bytes]:
        port = free_port()
        proc = self.spawn("serve", "--port", str(port))
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=30)
        self.standin.bot_url = f"http://127.0.0.1:{port}/slack/events"
        return proc

    def signal(self, proc: subprocess.Popen[bytes], sig: int) -> None:
        os.kill(proc.pid, sig)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        kill_leftover_locust(str(self.tmp_path))

    def query(self, sql: str) -> list[tuple[object, ...]]:
        with sqlite3.connect(self.db) as db:
            return list(db.execute(sql))

    def locust(self) -> list[int]:
        return locust_pids(str(self.tmp_path))

    def logs(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.tmp_path.glob("bot-*.log")))


@asynccontextmanager
async def bots(config: Path, tmp_path: Path, lease_ttl: float = 60.0) -> AsyncIterator[Bots]:
    standin = SlackStandIn(users=USERS, channels={CHANNEL: "releases"})
    await standin.start()
    group = Bots(standin, config, tmp_path, lease_ttl)
    try:
        yield group
    finally:
        group.stop_all()
        await standin.stop()


PLAN = """\
channel: C0RELEASES
roles: {{sre: {{members: [U0SRE1]}}}}
policy: {{required_signoffs: [sre]}}
environments:
  staging:
    base_url: {url}
    plan: p
plans:
  p:
    checks:
      - {{id: smoke, type: http, requests: [{{path: /version}}]}}
      - id: load
        type: load
        users: 2
        spawn_rate: 2
        duration: {duration}
        workers: 1
        tasks: [{{path: /healthz}}]
"""


def write_plan(tmp_path: Path, target: RunningTarget, duration: str) -> Path:
    config = tmp_path / "preprod.yml"
    config.write_text(PLAN.format(url=target.http_url, duration=duration))
    return config


def load_is_running(tmp_path: Path) -> Callable[[], bool]:
    """Locust's master and worker are up and its monitor has written figures."""
    timelines = list(tmp_path.glob(".preprod/work/run-*/load/load/timeline.jsonl"))

    def running() -> bool:
        timelines[:] = timelines or list(
            tmp_path.glob(".preprod/work/run-*/load/load/timeline.jsonl")
        )
        return bool(timelines) and timelines[0].stat().st_size > 0

    return running


async def start_load_run(group: Bots) -> None:
    response = await group.standin.send_command(
        "start checkout-api 2.14.0 staging", user_id="U0RM", channel_id=CHANNEL
    )
    assert response.status_code == 200
    await until(load_is_running(group.tmp_path), timeout=30)
    assert len(group.locust()) == 2, "a master and a worker"
