"""Statements sent together on PostgreSQL (bot/store/pipeline.py): what the server
refuses, or a connection lost, surfaces as SQLAlchemy would have raised it, so the group
commit still tells one write's problem from the database's fault."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy import exc as sa

from bot.store.faults import is_database_fault
from bot.store.pipeline import pipelined


def test_a_refused_statement_is_raised_as_sqlalchemy_raises_it(postgres_database: str) -> None:
    engine = create_engine(postgres_database)
    with engine.connect() as connection:
        connection.execute(text("CREATE TABLE t (i int PRIMARY KEY)"))
        connection.commit()
        with pytest.raises(sa.IntegrityError) as raised, pipelined(connection):
            connection.execute(text("INSERT INTO t VALUES (:i)"), [{"i": 1}, {"i": 2}])
            connection.execute(text("INSERT INTO t VALUES (1)"))
        assert not is_database_fault(raised.value)
        connection.rollback()
        assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 0
    engine.dispose()


def test_a_lost_connection_is_the_databases_fault(postgres_database: str) -> None:
    engine = create_engine(postgres_database)
    with engine.connect() as victim, engine.connect() as killer:
        pid = victim.execute(text("SELECT pg_backend_pid()")).scalar()
        killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(sa.DBAPIError) as raised, pipelined(victim):
            victim.execute(text("SELECT pg_advisory_xact_lock(1)"))
            victim.execute(text("SELECT 1"))
        assert is_database_fault(raised.value)
        assert victim.invalidated
    engine.dispose()


def test_elsewhere_the_statements_run_as_they_come(tmp_path: object) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/x.db")
    with engine.connect() as connection, pipelined(connection):
        connection.execute(text("CREATE TABLE t (i int)"))
        assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 0
    engine.dispose()
