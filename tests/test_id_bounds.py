"""Run numbers no run can have (0, or past PostgreSQL's 32-bit ``integer``) are "no such
run" everywhere a person types one, on SQLite and PostgreSQL: the web pages of a run
(404), ``/preprod status|report|rerun|cancel N`` (a clear notice) and ``preprod show|report
N`` (``no run N``). They were 500s and tracebacks: PostgreSQL's "integer out of range",
SQLite's "Python int too large to convert to SQLite INTEGER"."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.input_limits import MAX_RUN_ID, is_run_id
from tests.hostile_bot import CONFIG, state
from tests.slackbot import Harness, running_bot
from tests.support.signin import signed_in
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


def _preprod(
    *args: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """``preprod <args>`` in this process (exit code, stdout, stderr): an interpreter a
    case cost a second; the parsing and printing are the same code either way."""
    for name in [k for k in os.environ if k.startswith(("PREPROD_", "DATABASE"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("COLUMNS", "200")
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code if isinstance(exc.code, int) else 2
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_show_and_report_of_impossible_runs_say_no_run(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    absent = ("--config", str(tmp_path / "absent.yml"), "--database", database_url)
    for command in ("show", "report"):
        for number in (MAX_RUN_ID + 1, 9223372036854775808, MAX_RUN_ID):
            code, _, err = _preprod(command, str(number), *absent, monkeypatch=monkeypatch,
                                    capsys=capsys)  # fmt: skip
            assert code == 2, err
            assert err.strip() == f"preprod: no run {number}", err


def test_cli_runs_limit_is_bounded(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    absent = ("--config", str(tmp_path / "absent.yml"), "--database", database_url)
    code, out, err = _preprod("runs", "--limit", str(10**30), *absent, monkeypatch=monkeypatch,
                              capsys=capsys)  # fmt: skip
    assert code == 0 and "no runs yet" in out, err
    for bad in ("0", "-3", "x"):
        code, _, err = _preprod("runs", "--limit", bad, *absent, monkeypatch=monkeypatch,
                                capsys=capsys)  # fmt: skip
        assert code == 2 and "--limit" in err, err


def test_cli_audit_export_of_an_impossible_run_is_a_usage_error(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for bad in (str(MAX_RUN_ID + 1), "99999999999999999999", "0", "x"):
        code, _, err = _preprod("audit", "export", "--run", bad, "--database", database_url,
                                monkeypatch=monkeypatch, capsys=capsys)  # fmt: skip
        assert code == 2, err
        assert "is not a run number" in err
    code, out, err = _preprod("audit", "export", "--run", str(MAX_RUN_ID), "--database",
                              database_url, monkeypatch=monkeypatch, capsys=capsys)  # fmt: skip
    assert code == 0 and out == "", err
