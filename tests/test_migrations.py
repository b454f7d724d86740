"""The database schema comes from Alembic migrations, and they match the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel, create_engine

from bot.store.migrate import SchemaError, head, upgrade
from bot.store.runs import RunStore
from tests.support.processes import Database

HEAD = head()
"""The newest migration: a database opened by the store is at it."""


def test_migrations_create_exactly_the_models_schema(tmp_path: Path) -> None:
    store = RunStore(f"sqlite:///{tmp_path}/fresh.db")
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def test_upgrading_twice_keeps_the_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/keep.db"
    RunStore(url)
    with Database(url) as db:
        db.query(
            "INSERT INTO run (service, version, environment, plan, base_url, requester, source,"
            " status, config_path, config_digest, generation, created_at)"
            " VALUES ('svc', '1', 'staging', 'p', 'http://x', 'cli', 'cli', 'FINISHED', '', '',"
            " 1, '2026-11-27 08:00:00')"
        )
    RunStore(url)  # a second start: nothing to migrate, nothing lost
    with Database(url) as db:
        assert db.query("SELECT service FROM run") == [("svc",)]
        assert db.query("SELECT version_num FROM alembic_version") == [(HEAD,)]


def test_a_database_without_migrations_is_refused_with_advice(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/old.db")
    with Database(f"sqlite:///{tmp_path}/old.db") as db:
        db.query("CREATE TABLE run (id INTEGER PRIMARY KEY)")
    with pytest.raises(SchemaError, match="without migrations; move it away"):
        upgrade(engine)


def test_a_database_newer_than_the_code_is_refused_naming_both_versions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/newer.db"
    RunStore(url)
    with Database(url) as db:
        db.query("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(SchemaError, match=rf"schema revision 9999, newer .* newest is {HEAD}"):
        RunStore(url)


def test_a_current_database_is_opened_without_running_alembic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every ``preprod runs`` / ``show`` opens the store: a database already at the head is
    seen to be so from its version row, without Alembic's upgrade command."""
    engine = create_engine(f"sqlite:///{tmp_path}/current.db")
    upgrade(engine)
    calls: list[str] = []
    monkeypatch.setattr("bot.store.migrate.command.upgrade", lambda *a: calls.append("upgrade"))
    upgrade(engine)
    assert calls == []
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == head()
    engine.dispose()
