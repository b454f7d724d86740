"""Real ``preprod`` processes (serve replicas, workers) sharing one database, driven
through the Slack stand-in. Their output goes to one log file per process under tmp_path
(a ``serve --workers`` process shares its file with its worker children)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from examples.processes import ROOT, wait_http
from slack_standin import Message, SlackStandIn
from tests.slackbot import CHANNEL, USERS
from tests.support.target import RunningTarget


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Replica:
    def __init__(self, proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.proc, self.url, self.log = proc, url, log

    @property
    def events_url(self) -> str:
        return f"{self.url}/slack/events"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class Replicas:
    """``preprod serve`` processes on one database, started and stopped at will."""

    def __init__(
        self, standin: SlackStandIn, config: Path, database_url: str, tmp_path: Path, **env: str
    ) -> None:
        self.standin = standin
        self.tmp_path = tmp_path
        self.database_url = database_url
        self.env = {
            **os.environ,
            "SLACK_BOT_TOKEN": standin.token,
            "SLACK_SIGNING_SECRET": standin.signing_secret,
            "SLACK_API_URL": standin.api_url,
            "PREPROD_CONFIG": str(config),
            "DATABASE_URL": database_url,
            "PREPROD_UPDATE_INTERVAL": "0.2",
            **env,
        }
        self.replicas: list[Replica] = []
        self.db = create_engine(database_url)

    def start(self, *args: str) -> Replica:
        port = free_port()
        log = self.tmp_path / f"serve-{len(self.replicas)}.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--port", str(port), *args],
            cwd=ROOT,
            env=self.env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        replica = Replica(proc, f"http://127.0.0.1:{port}", log)
        self.replicas.append(replica)
        wait_http(f"{replica.url}/healthz", timeout=30)
        return replica

    async def command(self, replica: Replica, text: str, user: str = "U0RM") -> str:
        """``/preprod text`` sent to one replica; returns the ack's text."""
        self.standin.bot_url = replica.events_url
        response = await self.standin.send_command(text, user_id=user, channel_id=CHANNEL)
        assert response.status_code == 200, response.text
        return str(response.json().get("text", "")) if response.content else ""

    def query(self, sql: str) -> list[tuple[object, ...]]:
        with self.db.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql))]

    def stop(self, replica: Replica, timeout: float = 20.0) -> int:
        if replica.proc.poll() is None:
            replica.proc.send_signal(signal.SIGTERM)
            try:
                replica.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                replica.proc.kill()
                replica.proc.wait()
        return replica.proc.returncode

    def stop_all(self) -> None:
        for replica in self.replicas:
            self.stop(replica)
        self.db.dispose()

    def logs(self) -> str:
        return "\n".join(replica.output() for replica in self.replicas)

    def parents(self) -> list[Message]:
        """The channel's top-level messages: one parent per run."""
        return [m for m in self.standin.channel(CHANNEL).messages if m.thread_ts in (None, m.ts)]

    def thread(self, parent: Message) -> list[str]:
        return [m.text for m in self.standin.thread(CHANNEL, parent.ts)]


@asynccontextmanager
async def replicas(
    config: Path, database_url: str, tmp_path: Path, **env: str
) -> AsyncIterator[Replicas]:
    standin = SlackStandIn(users=USERS, channels={CHANNEL: "releases"})
    await standin.start()
    group = Replicas(standin, config, database_url, tmp_path, **env)
    try:
        yield group
    finally:
        group.stop_all()
        await standin.stop()


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> float:
    """Wait for ``condition``; returns the seconds it took."""
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < timeout, "condition not met in time"
        await asyncio.sleep(0.05)
    return time.monotonic() - began


def served(target: RunningTarget, path: str) -> int:
    """How many requests the target answered on ``path`` (its own Prometheus counters)."""
    body = httpx.get(f"{target.http_url}/metrics").text
    found = re.findall(rf'http_requests_total{{path="{re.escape(path)}",status="\d+"}} (\d+)', body)
    return sum(int(n) for n in found)


def parent_pid(pid: int) -> int:
    """The parent of a live process, from /proc (Linux)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
