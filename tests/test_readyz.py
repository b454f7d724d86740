"""``/readyz`` and the health figures of ``/metrics``, over real HTTP on the real app: a
private PostgreSQL stopped with pg_ctl, frozen with SIGSTOP and holding a row lock;
SQLite on a full tmpfs, with an outbox backlog and with a schema behind; Slack's
reachability from real Web API attempts. ``/healthz`` stays 200 throughout. The pure
side: tests/test_readiness.py."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from bot.slack.client import RetryPolicy, SlackClient, SlackRetriesExhausted
from bot.store import migrate
from bot.store.models import OutboxMessage
from bot.web.ready import ReadinessProbe
from tests.slackbot import METRICS_TOKEN, Harness, running_bot
from tests.support.postgres import PostgresUnavailable, find_bin
from tests.support.processes import free_port

CONFIG = """\
channel: C0RELEASES
roles:
  sre: {label: SRE, members: [U0SRE1]}
environments:
  staging:
    base_url: http://127.0.0.1:9
    plan: quick
plans:
  quick:
    checks:
      - {id: one, type: http, requests: [{path: /}]}
"""
PASSWORD = "s3cret-pw"
BOUND = 2.5
"""Seconds within which ``/readyz`` must answer, whatever the database does."""


@dataclass
class Postgres:
    """A private server this module may stop, start and freeze."""

    url: str
    data: Path
    start_command: list[str]
    stop_command: list[str]

    def stop(self) -> None:
        subprocess.run(self.stop_command, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        subprocess.run(self.start_command, check=True, capture_output=True, timeout=60)

    def postmaster(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    try:
        initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
    except PostgresUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is needed in CI: {exc}")
        pytest.skip(str(exc))
    with tempfile.TemporaryDirectory(prefix="preprod-readyz-pg-") as tmp:
        base = Path(tmp)
        as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if as_user:
            shutil.chown(base, "postgres")
        data, log, port = base / "data", base / "server.log", free_port()
        subprocess.run([*as_user, initdb, "-D", str(data), "-U", "preprod", "--auth=trust",
                        "--no-sync"], check=True, capture_output=True, timeout=60)  # fmt: skip
        options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
        ctl = [*as_user, pg_ctl, "-D", str(data)]
        server = Postgres(
            # trust accepts any password: it is here to be kept out of /readyz's answers
            url=f"postgresql+psycopg://preprod:{PASSWORD}@127.0.0.1:{port}/postgres",
            data=data,
            start_command=[*ctl, "-o", options, "-l", str(log), "-w", "start"],
            stop_command=[*ctl, "-m", "immediate", "-w", "stop"],
        )
        server.start()
        try:
            yield server
        finally:
            with suppress(OSError, ValueError):  # never left frozen
                os.kill(server.postmaster(), signal.SIGCONT)
            subprocess.run(server.stop_command, capture_output=True, timeout=60)


@pytest.fixture
async def on_postgres(postgres: Postgres, tmp_path: Path) -> AsyncIterator[Harness]:
    config = tmp_path / "preprod.yml"
    config.write_text(CONFIG)
    async with running_bot(config, tmp_path, database_url=postgres.url) as harness:
        yield harness


@pytest.fixture
async def on_sqlite(tmp_path: Path) -> AsyncIterator[Harness]:
    config = tmp_path / "preprod.yml"
    config.write_text(CONFIG)
    async with running_bot(config, tmp_path) as harness:
        yield harness


async def get(harness: Harness, path: str) -> tuple[httpx.Response, float]:
    """``path`` of the bot's app and the seconds it took."""
    headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    async with httpx.AsyncClient(base_url=harness.url, timeout=10) as client:
        started = time.monotonic()
        response = await client.get(path, headers=headers)
        return response, time.monotonic() - started


async def readyz(harness: Harness) -> tuple[int, dict[str, Any], float]:
    response, took = await get(harness, "/readyz")
    assert PASSWORD not in response.text
    return response.status_code, response.json(), took


async def healthz_ok(harness: Harness) -> None:
    response, took = await get(harness, "/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"
    assert took < 1.0


async def metrics(harness: Harness) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response, _ = await get(harness, "/metrics")
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


async def wait_ready(harness: Harness, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status, body, _ = await readyz(harness)
        if status == 200:
            return
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.3)


async def test_postgres_stopped_is_503_naming_the_database_then_200(
    postgres: Postgres, on_postgres: Harness
) -> None:
    status, body, took = await readyz(on_postgres)
    assert (status, body["status"], body["failing"]) == (200, "ready", [])
    assert body["parts"]["database"]["state"] == "ok"
    assert body["parts"]["schema"]["revision"] == migrate.head()
    assert body["parts"]["outbox"]["backlog"] == 0
    figures = await metrics(on_postgres)
    for part in ("database", "schema", "outbox", "slack"):
        assert figures[("preprod_ready", (("part", part),))] == 1
    assert figures[("preprod_outbox_backlog", ())] == 0
    assert 0 < figures[("preprod_ready_probe_seconds", ())] < 1

    postgres.stop()
    try:
        await asyncio.sleep(1.1)  # past the cached answer
        status, body, took = await readyz(on_postgres)
        assert status == 503 and took < BOUND
        assert body["status"] == "not ready" and "database" in body["failing"]
        reason = body["parts"]["database"]["reason"]
        assert "OperationalError" in reason and len(reason) <= 200
        assert body["parts"]["schema"]["state"] == "unknown"
        await healthz_ok(on_postgres)
        figures = await metrics(on_postgres)  # answers without the database
        assert figures[("preprod_ready", (("part", "database"),))] == 0
        assert figures[("preprod_database_errors_total", (("kind", "probe"),))] >= 1
        with pytest.raises(OperationalError):  # the store's own calls are counted too
            await on_postgres.bot.store.call(lambda session: session.execute(text("SELECT 1")))
        figures = await metrics(on_postgres)
        assert figures[("preprod_database_errors_total", (("kind", "connect"),))] >= 1
        assert ("preprod_runs", (("status", "running"),)) not in figures
    finally:
        postgres.start()
    await wait_ready(on_postgres)
    await healthz_ok(on_postgres)


async def test_a_write_waiting_on_a_lock_is_503_with_the_servers_reason(
    postgres: Postgres, on_postgres: Harness
) -> None:
    await wait_ready(on_postgres)
    await asyncio.sleep(1.1)
    holder = create_engine(postgres.url)
    try:
        with holder.begin() as held:
            held.execute(text("SELECT version_num FROM alembic_version FOR UPDATE"))
            status, body, took = await readyz(on_postgres)
        assert (status, body["failing"][0]) == (503, "database") and took < BOUND
        reason = body["parts"]["database"]["reason"]
        assert reason.startswith("LockNotAvailable: canceling statement due to lock timeout")
    finally:
        holder.dispose()
    await wait_ready(on_postgres)


async def test_a_hung_database_is_503_within_the_bound(
    postgres: Postgres, on_postgres: Harness
) -> None:
    await wait_ready(on_postgres)
    await asyncio.sleep(1.1)
    now = [0.0]  # a probe of the test's own, on a clock it moves past the cache
    own = ReadinessProbe(
        on_postgres.bot.store, on_postgres.bot.slack.reachability, on_postgres.bot.settings,
        clock=lambda: now[0],
    )  # fmt: skip
    pid = postgres.postmaster()
    os.kill(pid, signal.SIGSTOP)  # connections are accepted by the kernel, never answered
    try:
        status, body, took = await readyz(on_postgres)
        assert status == 503 and took < BOUND, (took, body)
        assert body["failing"][0] == "database"
        assert body["parts"]["database"]["reason"] == "no answer within 1.5s"
        await healthz_ok(on_postgres)

        started = time.monotonic()
        first = await own.check()
        now[0] += 1.1
        second = await own.check()
        assert time.monotonic() - started < BOUND
        assert first.parts["database"].reason == "no answer within 1.5s"
        assert (second.parts["database"].reason or "").startswith(
            "no answer: the probe sent 1.1s ago is still waiting"
        )
        assert own.probes == 1 and own.db_errors["probe"] == 2  # one thread, not one a call
    finally:
        os.kill(pid, signal.SIGCONT)
        own.close()
    await wait_ready(on_postgres)


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A 4 MiB tmpfs (needs the right to mount: root in the test container)."""
    with tempfile.TemporaryDirectory(prefix="preprod-readyz-disk-") as tmp:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", tmp],
                                 capture_output=True, text=True)  # fmt: skip
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs: {mounted.stderr.strip()}")
        try:
            yield Path(tmp)
        finally:
            subprocess.run(["umount", "-l", tmp], capture_output=True)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError:  # ENOSPC: full
        pass
    finally:
        os.close(fd)
    return filler


async def test_sqlite_on_a_full_disk_is_503_naming_the_database(
    small_disk: Path, tmp_path: Path
) -> None:
    config = tmp_path / "preprod.yml"
    config.write_text(CONFIG)
    url = f"sqlite:///{small_disk}/bot.db"
    async with running_bot(config, tmp_path, database_url=url) as harness:
        await wait_ready(harness)
        filler = fill(small_disk)
        try:
            await asyncio.sleep(1.1)
            status, body, took = await readyz(harness)
            assert (status, body["failing"][0]) == (503, "database") and took < BOUND
            assert "database or disk is full" in body["parts"]["database"]["reason"]
            await healthz_ok(harness)
        finally:
            filler.unlink()
        await wait_ready(harness)


async def test_an_old_outbox_backlog_is_degraded_not_503(on_sqlite: Harness) -> None:
    with Session(on_sqlite.bot.store.engine) as session:
        old = datetime.now(UTC) - timedelta(minutes=11)
        session.add(OutboxMessage(key="run:1:parent", channel="C0RELEASES", at=old))
        session.add(OutboxMessage(key="run:2:parent", channel="C0RELEASES"))
        session.add(OutboxMessage(key="run:3:parent", channel="C0RELEASES", ts="1.0", at=old))
        session.commit()
    status, body, _ = await readyz(on_sqlite)
    assert (status, body["status"], body["failing"]) == (200, "degraded", ["outbox"])
    outbox = body["parts"]["outbox"]
    assert outbox["backlog"] == 2 and 660 <= outbox["oldest_seconds"] < 700
    assert outbox["reason"].startswith("2 message(s) owed to Slack, the oldest for 6")
    figures = await metrics(on_sqlite)
    assert figures[("preprod_outbox_backlog", ())] == 2
    assert figures[("preprod_outbox_oldest_seconds", ())] >= 660
    assert figures[("preprod_ready", (("part", "outbox"),))] == 0
    assert figures[("preprod_ready", (("part", "database"),))] == 1
    await healthz_ok(on_sqlite)


async def test_a_schema_behind_the_code_is_503_naming_the_schema(on_sqlite: Harness) -> None:
    with on_sqlite.bot.store.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0015'"))
    status, body, _ = await readyz(on_sqlite)
    assert (status, body["failing"]) == (503, ["schema"])
    assert body["parts"]["schema"]["reason"] == (
        f"the schema is at 0015, this code needs {migrate.head()}"
    )


async def test_database_errors_are_counted_by_statement_kind(on_sqlite: Harness) -> None:
    kind = ("preprod_database_errors_total", (("kind", "select"),))
    before = (await metrics(on_sqlite)).get(kind, 0.0)
    for _ in range(2):
        with pytest.raises(OperationalError, match="no such table"):
            await on_sqlite.bot.store.call(
                lambda session: session.execute(text("SELECT * FROM no_such_table"))
            )
    assert (await metrics(on_sqlite))[kind] == before + 2


async def test_a_storm_of_probes_is_one_database_probe_a_second(on_sqlite: Harness) -> None:
    await readyz(on_sqlite)
    probes = ("preprod_ready_probes_total", ())
    before = (await metrics(on_sqlite))[probes]
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=on_sqlite.url, timeout=10) as client:
        storm = await asyncio.gather(*(client.get("/readyz") for _ in range(40)))
    assert [response.status_code for response in storm] == [200] * 40
    sent = (await metrics(on_sqlite))[probes] - before
    # the 40 answers (and the scrape) shared the cached probe or a new one per second
    assert 0 <= sent <= int(time.monotonic() - started) + 2


async def test_slack_failures_are_recorded_from_real_calls(on_sqlite: Harness) -> None:
    dead = SlackClient(
        "xoxb-test",
        base_url=f"http://127.0.0.1:{free_port()}/api/",
        policy=RetryPolicy(max_failures=2, backoff_base=0.01, backoff_cap=0.02),
    )
    try:
        with pytest.raises(SlackRetriesExhausted):
            await dead.auth_test()
    finally:
        await dead.aclose()
    seen = dead.reachability.snapshot()
    assert seen.consecutive_failures == 2 and seen.errors_by_method == {"auth.test": 2}
    assert seen.last_error is not None and seen.last_error.startswith("auth.test: ")

    live = on_sqlite.bot.slack
    await live.auth_test()
    answered = live.reachability.snapshot()
    assert answered.consecutive_failures == 0 and answered.last_answer is not None
