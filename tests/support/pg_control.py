"""A real PostgreSQL the tests can stop, start, freeze and thaw: the database faults of
issue 23 (stopped, hung) on a server of its own, not the session's shared one."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from tests.support.postgres import PostgresUnavailable, find_bin
from tests.support.processes import Database, children, free_port


class ControlledPostgres:
    """One cluster in ``base``; ``url`` stays the same across stops and starts."""

    def __init__(self, base: Path) -> None:
        self.base, self.data, self.log = base, base / "data", base / "server.log"
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.pg_ctl = find_bin("pg_ctl")
        self.server_url = f"postgresql+psycopg://preprod@127.0.0.1:{self.port}/postgres"
        self.frozen: list[int] = []
        self.running = False

    def _run(self, *command: str) -> None:
        done = subprocess.run([*self.as_user, *command], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            detail = self.log.read_text() if self.log.exists() else ""
            raise PostgresUnavailable(f"{command[0]} failed: {done.stderr}{done.stdout}{detail}")

    def init(self) -> None:
        if self.as_user:
            shutil.chown(self.base, "postgres")
        initdb = find_bin("initdb")
        self._run(initdb, "-D", str(self.data), "-U", "preprod", "--auth=trust", "--no-sync")
        self.start()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(self.pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self.log), "-w",
                  "start")  # fmt: skip
        self.running = True

    def stop(self) -> None:
        self._run(self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop")
        self.running = False

    def restore(self) -> None:
        """Running and answering again, whatever the test left."""
        self.thaw()
        if not self.running:
            self.start()

    def new_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with Database(self.server_url, autocommit=True) as admin:
            admin.query(f'CREATE DATABASE "{name}"')
        return self.server_url.rsplit("/", 1)[0] + f"/{name}"

    def freeze(self) -> None:
        """SIGSTOP the postmaster and every backend: connections are accepted by the
        kernel and queries sent, but nothing answers (a hung database)."""
        main = int((self.data / "postmaster.pid").read_text().split()[0])
        self.frozen = [main, *children(main)]
        for pid in self.frozen:
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in reversed(self.frozen):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self.frozen = []


@contextmanager
def controlled_postgres() -> Iterator[ControlledPostgres]:
    with tempfile.TemporaryDirectory(prefix="preprod-pgctl-") as tmp:
        server = ControlledPostgres(Path(tmp))
        server.init()
        try:
            yield server
        finally:
            server.thaw()
            with suppress(PostgresUnavailable):  # already stopped by the test
                server.stop()
