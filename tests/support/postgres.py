"""A real PostgreSQL for the tests: initdb and pg_ctl into a temporary directory.

initdb refuses to run as root, so as root the server runs as the ``postgres`` user that
Debian's package creates."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.processes import free_port


class PostgresUnavailable(RuntimeError):
    pass


def find_bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None
    )
    if found is None:
        raise PostgresUnavailable(f"{name} not found (make test installs Debian's postgresql)")
    return found


@contextmanager
def running_postgres() -> Iterator[str]:
    """Start a throw-away server; yields its SQLAlchemy URL; stops it afterwards."""
    # Not under pytest's tmp_path: its parents are private to root, and the server may
    # run as the postgres user.
    with tempfile.TemporaryDirectory(prefix="preprod-pg-") as tmp, postgres_in(Path(tmp)) as url:
        yield url


@contextmanager
def postgres_in(base: Path, timeout: int = 60) -> Iterator[str]:
    """A server whose data directory is ``base/data`` (initdb on its first use, so a
    bench can keep one), started for the block and stopped after it; yields its
    SQLAlchemy URL. As root it runs as the ``postgres`` user. ``timeout``: seconds each
    of initdb, start and stop may take (a large kept database recovers for longer)."""
    initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
    base.mkdir(parents=True, exist_ok=True)
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, "postgres")
    data, log = base / "data", base / "server.log"
    port = free_port()

    def run(*command: str) -> None:
        done = subprocess.run([*as_user, *command], capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            detail = log.read_text() if log.exists() else ""
            raise PostgresUnavailable(f"{command[0]} failed: {done.stderr}{done.stdout}{detail}")

    if not data.exists():
        run(initdb, "-D", str(data), "-U", "preprod", "--auth=trust", "-E", "UTF8", "--no-sync")
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    wait = ("-w", "-t", str(timeout))
    run(pg_ctl, "-D", str(data), "-o", options, "-l", str(log), *wait, "start")
    try:
        yield f"postgresql+psycopg://preprod@127.0.0.1:{port}/postgres"
    finally:
        run(pg_ctl, "-D", str(data), "-m", "fast", *wait, "stop")
