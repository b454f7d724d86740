"""A database blip while checks execute (issue 23, the chaos bench's db-restart and
disk-full): a check that finishes while PostgreSQL is stopped keeps its result and stores
it once the database answers (bot/engine/durable.py), so the run is not interrupted and
no check executes twice. Real PostgreSQL (stopped and started), the real app over HTTP."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from bot.store.models import RunStatus
from tests.kinds import ScriptedCheck
from tests.slackbot import running_bot
from tests.support.pg_control import ControlledPostgres
from tests.test_db_faults import SLOW_CONFIG, bot_config, check_state, pg, run_status

__all__ = ["pg"]  # the module's PostgreSQL fixture, shared


async def test_a_check_finishing_during_a_blip_is_stored_after_it_and_runs_once(
    pg: ControlledPostgres, tmp_path: Path, scripted_kinds: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    pg.restore()
    url = pg.new_database()
    async with running_bot(bot_config(tmp_path, SLOW_CONFIG), tmp_path, database_url=url) as h:
        h.bot.start(schedule=False)  # the duties loop that would resume an interrupted run
        try:
            await h.command("start svc 1.0 staging")
            await h.until(lambda: check_state(h, "slow") == "running", timeout=20)
            pg.stop()
            await asyncio.sleep(2.5)  # the slow check (1.5 s) ends while the database is down
            restarted = time.monotonic()
            pg.start()
            await h.until(lambda: run_status(h) == RunStatus.FINISHED, timeout=30)
            await h.settle()
        finally:
            pg.restore()
    assert check_state(h, "slow") == "passed"
    began, _ = ScriptedCheck.spans["slow"]
    assert began < restarted, "the slow check executed again after the blip"
    log = "\n".join(r.getMessage() for r in caplog.records)
    assert "interrupted by a database error" not in log
    assert "cannot store check slow of run 1 yet" in log
