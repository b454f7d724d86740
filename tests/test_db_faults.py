"""No silent drops when the database fails (issue 23, points 2 and 5).

Real PostgreSQL (a server of this module's own, stopped, started, frozen with SIGSTOP),
real SQLite on a tiny tmpfs filled up, the real app over HTTP and the Slack stand-in: a
click and a start get an honest private answer within Slack's 3 s and store nothing; the
same request sent again once the database is back is recorded (its claim did not stand);
a run stopped by a database error is resumed and says so once in its thread."""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, select

import bot.engine.durable
from bot.slack.actions import APPROVE, REASON_BLOCK, REASON_INPUT, REJECT, REJECT_MODAL, WAIVE_MODAL
from bot.slack.commands import Status
from bot.slack.unavailable import of_command, of_payload
from bot.store.faults import cause, is_database_fault
from bot.store.models import CheckRecord, Run, RunStatus, SeenRequest
from bot.web.dedupe import request_key
from tests.hostile_bot import CONFIG, form, state, tracebacks
from tests.slackbot import CHANNEL, Harness, running_bot
from tests.support.pg_control import ControlledPostgres, controlled_postgres
from tests.support.postgres import PostgresUnavailable
from tests.support.processes import Database

SRE, SEC = "U0SRE1", "U0SEC1"
ACK_WINDOW = 3.0
APPROVAL_LOST = (
    "Could not record your approval: the bot's database is unavailable. "
    "Nothing was recorded; try again in a minute."
)
REJECTION_LOST = (
    "Could not record your rejection: the bot's database is unavailable. "
    "Nothing was recorded; try again in a minute."
)
START_LOST = (
    "Could not start the validation of svc 1.1 on staging: the bot's database is "
    "unavailable. Nothing was recorded; try again in a minute."
)


@pytest.fixture(scope="module")
def pg() -> Iterator[ControlledPostgres]:
    try:
        with controlled_postgres() as server:
            yield server
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))


def bot_config(tmp_path: Path, config: str = CONFIG) -> Path:
    path = tmp_path / "preprod.yml"
    path.write_text(config)
    return path


@pytest.fixture
async def pg_bot(
    pg: ControlledPostgres, tmp_path: Path, scripted_kinds: None
) -> AsyncIterator[Harness]:
    """A bot on a fresh PostgreSQL database with one run awaiting sign-off."""
    pg.restore()
    async with running_bot(bot_config(tmp_path), tmp_path, database_url=pg.new_database()) as h:
        try:
            await h.command("start svc 1.0 staging")
            await h.settle()
            yield h
        finally:
            pg.restore()  # the bot's shutdown writes


def panel_ts(harness: Harness) -> str:
    return next(m for m in harness.thread() if m.button_labels()).ts


def told(harness: Harness, user: str) -> list[str]:
    return [m.text for m in harness.standin.ephemerals(user)]


async def timed(request: Any) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await request
    return response, time.perf_counter() - started


async def click_and_start_are_told(harness: Harness) -> dict[str, Any]:
    """A click on the panel and a ``/preprod start`` during the fault, side by side:
    each a 200 within the ack window with the honest private answer. Returns the click's
    payload."""
    before = len(told(harness, SRE))
    click = timed(harness.standin.click(SRE, panel_ts(harness), CHANNEL, APPROVE))
    start = timed(harness.standin.send_command("start svc 1.1 staging", "U0RM", CHANNEL))
    (clicked, click_took), (started, start_took) = await asyncio.gather(click, start)
    assert clicked.status_code == 200, clicked.text
    assert click_took < ACK_WINDOW, f"the click was answered after {click_took:.2f} s"
    await harness.until(lambda: len(told(harness, SRE)) > before, timeout=10)
    assert APPROVAL_LOST in told(harness, SRE)[-1]

    assert started.status_code == 200, started.text
    assert start_took < ACK_WINDOW, f"the start was answered after {start_took:.2f} s"
    assert started.json()["response_type"] == "ephemeral"
    assert START_LOST in started.json()["text"]
    return next(
        d.payload for d in reversed(harness.standin.deliveries) if d.kind == "block_actions"
    )


async def open_rejection(harness: Harness) -> None:
    """Security's Reject button: its modal opens (the database answering)."""
    panel = next(m for m in harness.thread() if m.button_labels())
    [block] = [
        b.get("block_id")
        for b in panel.blocks
        if any(str(e.get("value", "")).endswith(":security") for e in b.get("elements", []))
    ]
    await harness.standin.click(SEC, panel.ts, CHANNEL, REJECT, block_id=block)
    await harness.until(lambda: bool(harness.standin.modals(SEC)), timeout=10)


async def rejection_stays_open(harness: Harness) -> None:
    """Submitting it during the fault: the modal stays open and says why, in time."""
    reason = {REASON_BLOCK: {REASON_INPUT: "CSP report-only in staging"}}
    submitted, took = await timed(harness.standin.submit_view(SEC, REJECT_MODAL, reason))
    assert submitted.status_code == 200 and took < ACK_WINDOW, (submitted.text, took)
    assert submitted.json() == {
        "response_action": "errors",
        "errors": {REASON_BLOCK: REJECTION_LOST},
    }
    assert harness.standin.modals(SEC)  # still open, with what was typed


async def recorded_when_sent_again(harness: Harness, click: dict[str, Any]) -> None:
    """The very same click (same trigger and action_ts, as a retry carries) is recorded."""
    again = await harness.standin.send_raw(form(click))
    assert again.status_code == 200
    await harness.until(lambda: state(harness)["SignOff"] == 1, timeout=10)


def one_line_each(caplog: pytest.LogCaptureFixture, user: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if f"for {user}: the bot's database" in r.getMessage()
    ]


async def test_a_click_and_a_start_while_postgres_is_stopped(
    pg: ControlledPostgres, pg_bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    before = state(pg_bot)
    await open_rejection(pg_bot)
    pg.stop()
    click = await click_and_start_are_told(pg_bot)
    await rejection_stays_open(pg_bot)
    pg.start()
    assert state(pg_bot) == before  # nothing stored: no sign-off, no second run
    await recorded_when_sent_again(pg_bot, click)
    assert len(one_line_each(caplog, SRE)) == 1  # one line with the cause, no traceback
    assert "OperationalError" in one_line_each(caplog, SRE)[0]
    assert not tracebacks(caplog)


async def test_a_hung_postgres_is_answered_within_the_ack_window(
    pg: ControlledPostgres, pg_bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Connections accepted, nothing answered (every server process stopped with
    SIGSTOP); once it wakes, the calls that were stuck commit nothing."""
    before = state(pg_bot)
    pg.freeze()
    try:
        click = await click_and_start_are_told(pg_bot)
    finally:
        pg.thaw()
    await asyncio.sleep(1.0)  # the stuck calls wake up and must not commit
    assert state(pg_bot) == before
    await recorded_when_sent_again(pg_bot, click)
    assert "no answer within the ack deadline" in one_line_each(caplog, SRE)[0]


async def test_a_claim_whose_record_fails_is_let_go(
    pg: ControlledPostgres, pg_bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """The replay guard's claim is written, then the sign-off's audit event waits on a
    lock until the ack path's statement timeout: the person is told, and the claim does
    not stand."""
    locker = Database(pg_bot.bot.settings.database_url or "")
    try:
        with locker.engine.connect() as connection:
            connection.exec_driver_sql("LOCK TABLE auditevent IN EXCLUSIVE MODE")
            before = len(told(pg_bot, SRE))
            await open_rejection(pg_bot)
            approve = timed(pg_bot.standin.click(SRE, panel_ts(pg_bot), CHANNEL, APPROVE))
            (response, took), _ = await asyncio.gather(approve, rejection_stays_open(pg_bot))
            assert response.status_code == 200 and took < ACK_WINDOW, took
            await pg_bot.until(lambda: len(told(pg_bot, SRE)) > before, timeout=10)
            assert APPROVAL_LOST in told(pg_bot, SRE)[-1]
            connection.rollback()
    finally:
        locker.close()
    click = [d.payload for d in pg_bot.standin.deliveries if d.kind == "block_actions"][-1]
    key = request_key(click)
    await pg_bot.until(lambda: not seen(pg_bot, key), timeout=10)  # let go
    assert "statement timeout" in one_line_each(caplog, SRE)[0]
    await recorded_when_sent_again(pg_bot, click)


def seen(harness: Harness, key: str | None) -> bool:
    with Session(harness.bot.store.engine) as session:
        return session.get(SeenRequest, key) is not None


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs (skipped where mounting is not allowed)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb") as out:
        try:
            while True:
                out.write(chunk)
                out.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


async def test_sqlite_on_a_full_disk(
    small_disk: Path, tmp_path: Path, scripted_kinds: None
) -> None:
    database = small_disk / "bot.db"
    url = f"sqlite:///{database}"
    async with running_bot(bot_config(tmp_path), tmp_path, database_url=url) as harness:
        await harness.command("start svc 1.0 staging")
        await harness.settle()
        before = state(harness)
        with sqlite3.connect(database) as db:  # new writes must grow the files
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        filler = fill(small_disk)
        try:
            click = await click_and_start_are_told(harness)
        finally:
            filler.unlink()
        assert state(harness) == before
        await recorded_when_sent_again(harness, click)


SLOW_CONFIG = CONFIG.replace(
    "      - {id: one, type: scripted}\n",
    "      - {id: one, type: scripted}\n      - {id: slow, type: scripted, sleep: 1.5}\n",
)


async def test_a_run_interrupted_by_the_database_is_resumed_once(
    pg: ControlledPostgres,
    tmp_path: Path,
    scripted_kinds: None,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A database down longer than a finished check waits to store its result
    (bot/engine/durable.py; a blip is tested in tests/test_db_blip.py)."""
    monkeypatch.setattr(bot.engine.durable, "PATIENCE", 0.5)
    assert SLOW_CONFIG != CONFIG
    caplog.set_level(logging.INFO)
    pg.restore()
    url = pg.new_database()
    async with running_bot(bot_config(tmp_path, SLOW_CONFIG), tmp_path, database_url=url) as h:
        h.bot.start(schedule=False)  # the duties loop that claims and resumes runs
        try:
            await h.command("start svc 1.0 staging")
            await h.until(lambda: check_state(h, "slow") == "running", timeout=20)
            pg.stop()  # the slow check's result cannot be stored
            await h.until(lambda: bool(h.bot.manager.interrupted), timeout=10)
            pg.start()
            await h.until(lambda: run_status(h) == RunStatus.FINISHED, timeout=30)
            await h.settle()
        finally:
            pg.restore()
        notes = [m.text for m in h.thread() if "resumed after a database error" in m.text]
        assert len(notes) == 1, [m.text for m in h.thread()]
        assert check_state(h, "slow") == "passed"
    gc.collect()  # an unretrieved task exception is logged when its task is collected
    log = "\n".join(r.getMessage() for r in caplog.records)
    assert "Task exception was never retrieved" not in log
    assert "broke" not in log
    assert log.count("interrupted by a database error") == 1
    assert not tracebacks(caplog)  # one line each, no stack dumps


def run_status(harness: Harness) -> RunStatus | None:
    try:
        with Session(harness.bot.store.engine) as session:
            run = session.get(Run, 1)
            return run.status if run else None
    except Exception:
        return None


def check_state(harness: Harness, check_id: str) -> str | None:
    try:
        with Session(harness.bot.store.engine) as session:
            query = (
                select(CheckRecord)
                .where(CheckRecord.check_id == check_id)
                .order_by(col(CheckRecord.attempt).desc())
            )
            record = session.exec(query).first()
            return record.status if record else None
    except Exception:
        return None


def test_what_counts_as_the_database_failing() -> None:
    refused = OperationalError("SELECT 1", None, Exception("connection refused"))
    assert is_database_fault(refused)
    assert is_database_fault(ExceptionGroup("a batch of checks", [refused]))
    assert not is_database_fault(ExceptionGroup("mixed", [refused, ValueError("a bug")]))
    assert not is_database_fault(IntegrityError("INSERT", None, Exception("duplicate key")))
    assert not is_database_fault(TimeoutError())  # a check's timeout is a result, not this
    assert cause(refused) == "Exception: connection refused"


def test_each_request_names_what_was_not_done() -> None:
    cancel = of_payload({"command": "/preprod", "text": "cancel 7"})
    assert cancel.sentence() == (
        "Could not cancel run #7: the bot's database is unavailable. "
        "Nothing was recorded; try again in a minute."
    )
    waiver = of_payload({"type": "view_submission", "view": {"callback_id": WAIVE_MODAL}})
    assert waiver.what == "record your waiver"
    status = of_command(Status())
    assert status.sentence() == (
        "Could not show the status: the bot's database is unavailable; try again in a minute."
    )
