"""`preprod db upgrade` / `preprod db current`: explicit migrations that say what they did."""

from __future__ import annotations

import subprocess
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine

from bot.store.migrate import alembic_config, head
from examples.processes import ROOT
from tests.support.processes import Database, preprod_command


def preprod(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        preprod_command(*args),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_db_upgrade_on_a_fresh_then_a_current_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/db.sqlite"
    fresh = preprod("db", "upgrade", "--database", url)
    assert fresh.returncode == 0, fresh.stderr
    assert f"schema upgraded from none (empty database) to {head()}" in fresh.stdout
    with Database(url) as db:
        assert db.query("SELECT version_num FROM alembic_version") == [(head(),)]
        assert "cancel_requested_by" in {row[1] for row in db.query("PRAGMA table_info(run)")}

    again = preprod("db", "upgrade", "--database", url)
    assert again.returncode == 0, again.stderr
    assert f"schema {head()}, already the newest; nothing to do" in again.stdout

    current = preprod("db", "current", "--database", url)
    assert current.returncode == 0 and f"schema {head()};" in current.stdout


def test_db_upgrade_from_an_older_revision_names_both(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/db.sqlite"
    assert preprod("db", "upgrade", "--database", url).returncode == 0
    engine = create_engine(url)
    with engine.begin() as connection:  # back to 0003 through the migrations' own downgrades
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")
    engine.dispose()
    older = preprod("db", "upgrade", "--database", url)
    assert older.returncode == 0, older.stderr
    assert f"schema upgraded from 0003 to {head()}" in older.stdout


def test_db_upgrade_refuses_a_database_newer_than_the_code(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/db.sqlite"
    assert preprod("db", "upgrade", "--database", url).returncode == 0
    with Database(url) as db:
        db.query("UPDATE alembic_version SET version_num = '9999'")
    newer = preprod("db", "upgrade", "--database", url)
    assert newer.returncode == 2
    assert f"schema revision 9999, newer than this preprod knows (its newest is {head()})" in (
        newer.stderr.replace("\n", " ")
    )
    current = preprod("db", "current", "--database", url)
    assert current.returncode == 0 and "schema 9999;" in current.stdout
