"""What the command line looks like where people read it: a CI log is not a terminal, and
Rich's 80 columns folded words there ("decisio n", "awaitin g"): issue 24, point 6."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import Session

from bot.cli.common import LOG_WIDTH, consoles
from bot.store.models import CheckRecord, Run, RunStatus
from bot.store.runs import RunStore
from tests.support.in_process import preprod_main


def test_a_log_gets_wide_lines_and_columns_still_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    out, err = consoles()  # pytest's capture is not a terminal
    assert out.width == LOG_WIDTH and err.width == LOG_WIDTH
    monkeypatch.setenv("COLUMNS", "100")
    out, _ = consoles()
    assert out.width == 100


def test_runs_in_a_ci_log_breaks_no_word(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/preprod.db"
    store = RunStore(url)  # the schema, migrated as the CLI expects it
    with Session(store.engine) as session:
        session.add(
            Run(
                service="checkout-api-with-a-long-name",
                version="2.14.0-rc.1+build.20261206",
                environment="staging-eu-west-1",
                plan="standard",
                base_url="http://127.0.0.1:9",
                status=RunStatus.FINISHED,
            )
        )
        session.flush()  # the run's row first: the check refers to it
        session.add(CheckRecord(run_id=1, check_id="smoke", check_type="http", position=0,
                                status="passed"))  # fmt: skip
        session.commit()
    store.engine.dispose()
    environ = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "runs", "--database", url],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=True,
    )
    for whole in ("decision", "awaiting sign-offs", "checkout-api-with-a-long-name",
                  "2.14.0-rc.1+build.20261206", "staging-eu-west-1"):  # fmt: skip
        assert whole in done.stdout, done.stdout


# Issue 24, point 5: `preprod checks` speaks to people who write plans.


def _checks(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], cols: int) -> str:
    monkeypatch.setenv("COLUMNS", str(cols))
    assert preprod_main("checks") == 0
    return capsys.readouterr().out


def test_checks_shows_no_developer_text(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _checks(monkeypatch, capsys, 200)
    for developer in ("``", ":func:", ":class:", "{'", "=None", "expect_status=", "1048576"):
        assert developer not in text, developer
    sizes = {tuple(line.split()[1:4]) for line in text.splitlines() if line.startswith("max_body ")}
    assert sizes == {("size", "1", "MB")}
    [findings_max] = [line for line in text.splitlines() if line.startswith("max ")]
    assert "critical: 0" in findings_max  # a mapping's default as a plan writes it
    assert "audit_logging: an action must leave an audit record" in text  # no ``name``: twice


def test_checks_at_80_columns_keeps_every_line_and_key_whole(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _checks(monkeypatch, capsys, 80)
    assert all(len(line) <= 80 for line in text.splitlines()), max(text.splitlines(), key=len)
    for key in ("requests[].expect_body_contains", "expect[].with_credentials", "max_body"):
        assert f"  {key}  (" in text, key  # an option's name is never broken
    assert "      Bytes of each response body kept" in text  # its description under it
