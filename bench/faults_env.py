"""The real parts ``bench/faults.py`` breaks: a private PostgreSQL it can stop, start and
freeze, a small tmpfs it can fill, and ``preprod serve --workers 1`` (plus a worker under
``faketime``) on either.

Everything is stopped by pid (never by name) and unmounted by path when a fault ends."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from tests.support.postgres import PostgresUnavailable, find_bin
from tests.support.processes import free_port


class PgServer:
    """A throw-away PostgreSQL (initdb/pg_ctl, as tests/support/postgres.py) that the bench
    may stop and start again on the same port and data, or freeze with SIGSTOP. Its own
    temp dir straight under /tmp: the server may run as the postgres user."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="preprod-faults-pg-"))
        self.data, self.log = self.base / "data", self.base / "server.log"
        self.port = free_port()
        self.initdb, self.pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.frozen: list[int] = []

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://preprod@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        done = subprocess.run([*self.as_user, *command], capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        if done.returncode != 0:
            detail = self.log.read_text() if self.log.exists() else ""
            raise PostgresUnavailable(f"{command[0]} failed: {done.stderr}{done.stdout}{detail}")

    def create(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        if self.as_user:
            shutil.chown(self.base, "postgres")
        self._run(self.initdb, "-D", str(self.data), "-U", "preprod", "--auth=trust", "-E",
                  "UTF8", "--no-sync")  # fmt: skip
        self.start()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(self.pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self.log), "-w",
                  "start")  # fmt: skip

    def stop(self) -> None:
        self.resume()
        if (self.data / "postmaster.pid").exists():
            self._run(self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        """Stop it (if it runs) and remove its files."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def pids(self) -> list[int]:
        """The postmaster and its children (backends and helpers), postmaster first."""
        with suppress(OSError, ValueError, IndexError):
            master = int((self.data / "postmaster.pid").read_text().splitlines()[0])
            return [master, *children_of(master)]
        return []

    def freeze(self) -> list[int]:
        """SIGSTOP every server process: connections are still accepted (the kernel's
        backlog), nothing answers."""
        self.frozen = self.pids()
        for pid in self.frozen:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        return self.frozen

    def resume(self) -> None:
        for pid in self.frozen:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self.frozen = []


def children_of(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with suppress(OSError, IndexError):
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                if int(stat[1]) == parent:
                    found.append(int(entry))
    return found


class SmallDisk:
    """A tmpfs of ``size`` bytes mounted at ``path`` (we run as root in a container); a
    filler file takes every free byte for the fault and is removed after it."""

    def __init__(self, path: Path, size: int) -> None:
        self.path, self.size = path, size
        self.filler = path / "filler"
        self.mounted = False

    def mount(self) -> None:
        """Raises OSError naming why the kernel refused (no privilege, no tmpfs)."""
        self.path.mkdir(parents=True, exist_ok=True)
        command = ["mount", "-t", "tmpfs", "-o", f"size={self.size}", "tmpfs", str(self.path)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=20)
        if done.returncode != 0:
            raise OSError(f"mount -t tmpfs refused: {done.stderr.strip() or done.returncode}")
        self.mounted = True

    def fill(self) -> int:
        """Write until ENOSPC; the bytes written."""
        written = 0
        chunk = b"\0" * 65536
        with self.filler.open("wb", buffering=0) as out:
            while True:
                try:
                    written += out.write(chunk) or 0
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    return written

    def free(self) -> int:
        stats = os.statvfs(self.path)
        return stats.f_bavail * stats.f_frsize

    def release(self) -> None:
        self.filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        if self.mounted:
            self.release()
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True, timeout=20)
            self.mounted = False


def bench_engine(url: str) -> Engine:
    """The bench's own reads: no pooled connection survives a restart, and a connect to a
    frozen server gives up after 3 s."""
    args: dict[str, Any] = {"connect_timeout": 3} if url.startswith("postgresql") else {}
    return create_engine(url, poolclass=NullPool, connect_args=args)


def query(engine: Engine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(sql), params)]


class Processes:
    """``preprod`` processes in ``cwd`` with ``env``; their output goes to log files."""

    def __init__(self, cwd: Path, env: Mapping[str, str]) -> None:
        self.cwd, self.env = cwd, dict(env)
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def cli(self, *args: str) -> None:
        done = subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=self.cwd,
                              env=self.env, capture_output=True, text=True, timeout=90)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"preprod {' '.join(args)} failed:\n{done.stdout}{done.stderr}")

    def start(self, name: str, *args: str, prefix: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
        """``preprod <args>`` (after ``prefix``, e.g. faketime, which forks the real process):
        in a session of its own, so ``signal_group`` reaches the wrapper and its child."""
        log = self.cwd / f"{name}.log"
        with log.open("ab") as out:
            command = [*prefix, sys.executable, "-m", "bot.cli", *args]
            proc = subprocess.Popen(
                command,
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=bool(prefix),
            )
        self.procs.append((proc, log))
        return proc

    def logs(self) -> str:
        return "".join(log.read_text(errors="replace") for _, log in self.procs if log.exists())

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 15.0) -> None:
        """SIGTERM (a clean stop hands runs over), SIGKILL after ``grace`` s; by pid, or by
        process group for one started with a prefix."""
        grouped = os.getpgid(proc.pid) == proc.pid if proc.poll() is None else False
        if proc.poll() is None:
            signal_group(proc, signal.SIGCONT)  # a frozen process could not stop
            signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                signal_group(proc, signal.SIGKILL)
                proc.wait()
        if grouped:  # the wrapper's child, if it outlived the wrapper
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        for proc, _ in reversed(self.procs):
            self.stop(proc)


def signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    """``signum`` to ``proc``'s process group when it leads one, else to ``proc`` alone."""
    with suppress(ProcessLookupError):
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        with suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"preprod serve (pid {proc.pid}) did not answer {url}/healthz")
