"""Bring a database to the current schema with Alembic, on SQLite and PostgreSQL alike.

The store calls this when it opens, so an upgraded preprod keeps its history: tables are
created or altered by migrations, never by ``create_all`` (which cannot alter)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class SchemaError(RuntimeError):
    """A database preprod cannot migrate safely; the message says what to do."""


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


@cache
def _scripts() -> ScriptDirectory:
    """The migration scripts, read once per process (reading them took ~0.2 s, on every
    store opened: each ``preprod runs`` and ``show`` paid it)."""
    return ScriptDirectory(str(MIGRATIONS))


def head() -> str:
    """The newest schema revision this code knows."""
    revision = _scripts().get_current_head()
    assert revision is not None
    return revision


def current(engine: Engine) -> str | None:
    """The database's schema revision (None for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _at_head(engine: Engine) -> bool:
    """Whether the database is at the newest revision, by one query on its version table
    (the check every store opened pays: reflecting the tables and Alembic's context cost
    ~10 ms a ``preprod runs`` on PostgreSQL); False when it cannot tell."""
    try:
        with engine.connect() as connection:
            found = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except DBAPIError:
        return False
    return [row[0] for row in found] == [head()]


def upgrade(engine: Engine) -> None:
    """Apply every migration not applied yet (a no-op on a current database). A database
    whose schema is newer than this code (a newer preprod migrated it) is refused: an old
    server writing into a newer schema would lose or corrupt what it does not know."""
    if _at_head(engine):
        return  # current: nothing to apply
    tables = set(inspect(engine).get_table_names())
    if "alembic_version" in tables:
        found = current(engine)
        if found == head():
            return  # current: nothing to apply
        known = {script.revision for script in _scripts().walk_revisions()}
        if found is not None and found not in known:
            raise SchemaError(
                f"the database {engine.url.render_as_string(hide_password=True)} is at schema "
                f"revision {found}, newer than this preprod knows (its newest is {head()}); "
                "run the newer preprod, or upgrade this one"
            )
    if "run" in tables and "alembic_version" not in tables:
        raise SchemaError(
            f"the database {engine.url.render_as_string(hide_password=True)} was created by a "
            "development build of preprod without migrations; move it away and start afresh"
        )
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
