"""Real ``preprod`` processes for tests: start them, signal and kill them by pid (or process
group), wait for what they do, read their logs and their database.

``bots()`` gives a group of ``preprod serve`` / ``socket`` / ``worker`` processes sharing
one database (SQLite or PostgreSQL) and one Slack stand-in. Each runs in the test's own
directory, so its Locust work files, and so Locust's command lines, carry the test's tmp
path: that is how a test finds its Locust processes. Nothing is ever killed by name."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import create_engine, text

from examples.processes import wait_http
from slack_standin import Message, SlackStandIn
from tests.support.plans import SMOKE_VERSION, config_file, staging_config
from tests.support.target import RunningTarget
from tests.support.workspace import CHANNEL, USERS

# -- waiting ---------------------------------------------------------------------------


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports on 127.0.0.1 that nothing listens on (held together while
    picked, so no two are the same)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    return free_ports(1)[0]


async def until(
    condition: Callable[[], bool],
    timeout: float = 30.0,
    message: str = "condition not met in time",
) -> float:
    """Wait for ``condition`` (polled every 50 ms); the seconds it took. Fails the test
    with ``message`` after ``timeout`` seconds."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, message
        await asyncio.sleep(0.05)
    return time.monotonic() - started


# -- processes by pid -----------------------------------------------------------------


def preprod_command(*args: str) -> list[str]:
    """The command line of ``preprod <args>`` in this interpreter."""
    return [sys.executable, "-m", "bot.cli", *args]


def _stat(pid: int | str) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name: state, ppid, ... (Linux)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def parent_pid(pid: int) -> int:
    """The parent of a live process."""
    return int(_stat(pid)[1])


def niceness(pid: int) -> int:
    """The CPU niceness of a live process."""
    return int(_stat(pid)[16])


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie waiting to be reaped (nor dead)."""
    try:
        return _stat(pid)[0] not in ("Z", "X")
    except OSError:  # gone, or going while it is read
        return False


def locust_pids(marker: str) -> list[int]:
    """Live (non-zombie) Locust processes whose command line mentions ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = _stat(entry)[0]
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


def kill(proc: subprocess.Popen[bytes]) -> int:
    """SIGKILL ``proc`` by its pid, unless it has already exited, and reap it; its exit code."""
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    return proc.wait()


def kill_group(pgid: int) -> None:
    """SIGKILL every process of the process group ``pgid`` (a ``start_new_session`` child's
    pid), if any is left."""
    with suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def stop(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout`` s; its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            kill(proc)
    return proc.wait()


def stop_group(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    """SIGTERM the process group of ``proc`` (started with ``start_new_session``), then
    SIGKILL what is left of it; ``proc``'s exit code.

    For a wrapper such as ``faketime``, which forks the real process and waits for it:
    a signal to the wrapper alone leaves the real process running, orphaned."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout)
    kill_group(proc.pid)
    return proc.wait()


def children(parent: int) -> list[int]:
    """The pids of the processes whose parent is ``parent``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if int(_stat(entry)[1]) == parent:
                found.append(int(entry))
        except OSError:  # gone meanwhile
            continue
    return found


# -- the database ---------------------------------------------------------------------


class Database:
    """A database by its SQLAlchemy URL (``sqlite:///…`` or ``postgresql+psycopg://…``),
    for reading and poking at what the processes stored."""

    def __init__(self, url: str, *, autocommit: bool = False) -> None:
        self.url = url
        options: dict[str, Any] = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
        self.engine = create_engine(url, **options)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run one statement and commit; its rows (none for a statement without rows)."""
        with self.engine.begin() as connection:
            result = connection.execute(text(sql))
            return [tuple(row) for row in result] if result.returns_rows else []

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


# -- a group of bot processes ---------------------------------------------------------


@dataclass
class Bot:
    """One ``preprod`` process of a group; ``url`` is set for ``serve``."""

    proc: subprocess.Popen[bytes]
    log: Path
    url: str = ""

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def events_url(self) -> str:
        return f"{self.url}/slack/events"

    def wait(self, timeout: float | None = None) -> int:
        """Until the process exits (``subprocess.TimeoutExpired`` after ``timeout``)."""
        return self.proc.wait(timeout)

    def output(self) -> str:
        """All it has logged so far (a ``serve --workers`` shares it with its workers)."""
        return self.log.read_text(errors="replace")


class Bots:
    """``preprod`` processes sharing one database and one Slack stand-in, started, signalled
    and stopped at will; each logs to its own file in ``tmp_path``."""

    def __init__(
        self,
        standin: SlackStandIn,
        config: Path,
        tmp_path: Path,
        database_url: str,
        lease_ttl: float | None = None,
        **env: str,
    ) -> None:
        self.standin = standin
        self.tmp_path = tmp_path
        self.database = Database(database_url)
        self.env = {
            **os.environ,
            "SLACK_BOT_TOKEN": standin.token,
            "SLACK_SIGNING_SECRET": standin.signing_secret,
            "SLACK_API_URL": standin.api_url,
            "PREPROD_CONFIG": str(config),
            "DATABASE_URL": database_url,
            "PREPROD_UPDATE_INTERVAL": "0.2",
            **({"PREPROD_LEASE_TTL": str(lease_ttl)} if lease_ttl is not None else {}),
            **env,
        }
        self.bots: list[Bot] = []

    def spawn(self, *args: str, env: dict[str, str] | None = None) -> Bot:
        """``preprod <args>`` (``socket``, ``worker``, ...) in the background, not waited for."""
        log = self.tmp_path / f"{args[0]}-{len(self.bots)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                preprod_command(*args),
                cwd=self.tmp_path,
                env=env or self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        bot = Bot(proc, log)
        self.bots.append(bot)
        return bot

    def serve(self, *args: str) -> Bot:
        """``preprod serve <args>`` on a free port, once it answers; the stand-in now sends
        its events there."""
        port = free_port()
        bot = self.spawn("serve", "--port", str(port), *args)
        bot.url = f"http://127.0.0.1:{port}"
        wait_http(f"{bot.url}/healthz", timeout=30, proc=bot.proc, log=bot.log)
        self.standin.bot_url = bot.events_url
        return bot

    def signal(self, bot: Bot, sig: int) -> None:
        """Send ``sig`` to the process by its pid (not waiting for it)."""
        os.kill(bot.pid, sig)

    def kill(self, bot: Bot) -> int:
        """SIGKILL, and reap; its exit code."""
        return kill(bot.proc)

    def stop(self, bot: Bot, timeout: float = 20.0) -> int:
        """SIGTERM, SIGKILL after ``timeout`` s; its exit code."""
        return stop(bot.proc, timeout)

    def stop_all(self) -> None:
        """Every process stopped, and any Locust they left behind killed."""
        for bot in self.bots:
            self.stop(bot)
        kill_leftover_locust(str(self.tmp_path))
        self.database.close()

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """One statement on the group's database (committed)."""
        return self.database.query(sql)

    def locust(self) -> list[int]:
        """The live Locust processes of this test."""
        return locust_pids(str(self.tmp_path))

    def logs(self) -> str:
        """The output of every process, in the order they were started."""
        return "\n".join(bot.output() for bot in self.bots)

    async def command(self, bot: Bot, text: str, user: str = "U0RM") -> str:
        """``/preprod text`` sent to one ``serve`` process; returns the ack's text."""
        self.standin.bot_url = bot.events_url
        response = await self.standin.send_command(text, user_id=user, channel_id=CHANNEL)
        assert response.status_code == 200, response.text
        return str(response.json().get("text", "")) if response.content else ""

    def parents(self) -> list[Message]:
        """The top-level messages that opened a run's thread, one per run: not the
        weekday digest, which a replica started after its hour posts at top level too
        (the suite failed here every run after 09:00 on a weekday)."""
        return [
            m
            for m in self.standin.channel(CHANNEL).messages
            if m.thread_ts in (None, m.ts) and "Pre-production validation" in m.text
        ]

    def thread(self, parent: Message) -> list[str]:
        """The texts of the replies under ``parent``."""
        return [m.text for m in self.standin.thread(CHANNEL, parent.ts)]


@asynccontextmanager
async def bots(
    config: Path,
    tmp_path: Path,
    *,
    database_url: str | None = None,
    lease_ttl: float | None = None,
    **env: str,
) -> AsyncIterator[Bots]:
    """A Slack stand-in and an empty group of processes with config ``config``, on
    ``database_url`` (default: SQLite in ``tmp_path/bot.db``); ``env`` is added to their
    environment. Everything is stopped afterwards."""
    standin = SlackStandIn(users=USERS, channels={CHANNEL: "releases"})
    await standin.start()
    url = database_url or f"sqlite:///{tmp_path / 'bot.db'}"
    group = Bots(standin, config, tmp_path, url, lease_ttl, **env)
    try:
        yield group
    finally:
        group.stop_all()
        await standin.stop()


# -- a run with a load test -----------------------------------------------------------


def load_check(duration: str) -> str:
    """A load test of ``duration`` on /healthz: two users, one Locust worker."""
    return (
        "- id: load\n  type: load\n  users: 2\n  spawn_rate: 2\n"
        f"  duration: {duration}\n  workers: 1\n  tasks: [{{path: /healthz}}]"
    )


def write_plan(tmp_path: Path, target: RunningTarget, duration: str) -> Path:
    """``tmp_path/preprod.yml``: a smoke check, then a load test of ``duration`` with one
    Locust worker."""
    return config_file(
        tmp_path, staging_config(target.http_url, SMOKE_VERSION, load_check(duration))
    )


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
    """``/preprod start`` of the plan of ``write_plan``, until its load test is running."""
    response = await group.standin.send_command(
        "start checkout-api 2.14.0 staging", user_id="U0RM", channel_id=CHANNEL
    )
    assert response.status_code == 200
    await until(load_is_running(group.tmp_path), timeout=30)
    assert len(group.locust()) == 2, "a master and a worker"
