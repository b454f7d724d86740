"""Run numbers no run can have (0, or past PostgreSQL's 32-bit ``integer``) are "no such
run" everywhere a person types one, on SQLite and PostgreSQL: the web pages of a run
(404), ``/preprod status|report|rerun|cancel N`` (a clear notice) and ``preprod show|report
N`` (``no run N``). They were 500s and tracebacks: PostgreSQL's "integer out of range",
SQLite's "Python int too large to convert to SQLite INTEGER"."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.input_limits import MAX_RUN_ID, is_run_id
from tests.hostile_bot import CONFIG, state
from tests.slackbot import Harness, running_bot
from tests.support.processes import preprod_command
from tests.support.signin import signed_in
from tests.support.target import REPO_ROOT
from tests.test_dashboard import csrf_of, form

SRE = "U0SRE1"
TOO_BIG = (MAX_RUN_ID + 1, 9223372036854775808, 10**30)
"""Just past PostgreSQL's integer; past SQLite's (and int64's); far past both."""
NO_RUN = (0, MAX_RUN_ID)
"""Numbers that fit the column but name no run here."""


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/bot.db"
    return str(request.getfixturevalue("postgres_database"))


@pytest.fixture
async def harness(
    database_url: str, tmp_path: Path, scripted_kinds: None
) -> AsyncIterator[Harness]:
    path = tmp_path / "preprod.yml"
    path.write_text(CONFIG)
    async with running_bot(path, tmp_path, web=True, database_url=database_url) as harness:
        yield harness


def test_the_bound_is_the_database_integer() -> None:
    assert [is_run_id(n) for n in (-1, 0, 1, MAX_RUN_ID, MAX_RUN_ID + 1)] == [
        False,
        False,
        True,
        True,
        False,
    ]


async def test_web_pages_of_impossible_runs_are_404(harness: Harness) -> None:
    assert "Starting the validation" in await harness.command("start svc 1.0 staging")
    await harness.settle()
    async with await signed_in(harness.url, harness.standin, SRE) as web:
        page = await web.get("/runs/1")
        assert page.status_code == 200
        token = csrf_of(page.text)
        for number in (*TOO_BIG, *NO_RUN):
            for path in (f"/runs/{number}", f"/runs/{number}/report"):
                answer = await web.get(path)
                assert answer.status_code == 404, (path, answer.status_code)
                assert "No such run" in answer.text
            acted = await web.post(f"/runs/{number}/act", data=form(token, "approve", "sre"))
            assert acted.status_code == 404, (number, acted.status_code)
        # page edges past every id: the first page, and the empty page after the last id
        for query in ("before", "after"):
            for number in TOO_BIG:
                answer = await web.get(f"/runs?{query}={number}")
                assert answer.status_code == 200, (query, number)
        assert "svc" in (await web.get(f"/runs?before={MAX_RUN_ID + 1}")).text
    assert state(harness)["SignOff"] == 0


async def test_slack_commands_on_impossible_runs_answer_plainly(harness: Harness) -> None:
    before = state(harness)
    for verb in ("status", "report", "rerun", "cancel"):
        for number in TOO_BIG:
            answer = await harness.command(f"{verb} {number}")
            assert f"`{number}` is not a run number" in answer, answer
        answer = await harness.command(f"{verb} {MAX_RUN_ID}")
        assert f"no run {MAX_RUN_ID}" in answer.replace("#", ""), answer
    assert state(harness) == before


def _preprod(*args: str, database_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PREPROD_", "DATABASE"))}
    environ.update(DATABASE_URL=database_url, COLUMNS="200")
    return subprocess.run(
        preprod_command(*args, "--config", str(tmp_path / "absent.yml")),
        cwd=REPO_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_show_and_report_of_impossible_runs_say_no_run(
    database_url: str, tmp_path: Path
) -> None:
    for command in ("show", "report"):
        for number in (MAX_RUN_ID + 1, 9223372036854775808, MAX_RUN_ID):
            done = _preprod(command, str(number), database_url=database_url, tmp_path=tmp_path)
            assert done.returncode == 2, done.stderr
            assert done.stderr.strip() == f"preprod: no run {number}", done.stderr
            assert "Traceback" not in done.stderr


def test_cli_runs_limit_is_bounded(database_url: str, tmp_path: Path) -> None:
    huge = _preprod("runs", "--limit", str(10**30), database_url=database_url, tmp_path=tmp_path)
    assert huge.returncode == 0 and "no runs yet" in huge.stdout, huge.stderr
    for bad in ("0", "-3", "x"):
        done = _preprod("runs", "--limit", bad, database_url=database_url, tmp_path=tmp_path)
        assert done.returncode == 2 and "--limit" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_cli_audit_export_of_an_impossible_run_is_a_usage_error(database_url: str) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PREPROD_", "DATABASE"))}

    def export(run: str) -> subprocess.CompletedProcess[str]:
        command = preprod_command("audit", "export", "--run", run, "--database", database_url)
        return subprocess.run(command, cwd=REPO_ROOT, env=environ, capture_output=True,
                              text=True, timeout=60)  # fmt: skip

    for bad in (str(MAX_RUN_ID + 1), "99999999999999999999", "0", "x"):
        done = export(bad)
        assert done.returncode == 2, done.stderr
        assert "is not a run number" in done.stderr and "Traceback" not in done.stderr
    done = export(str(MAX_RUN_ID))
    assert done.returncode == 0 and done.stdout == "", done.stderr
