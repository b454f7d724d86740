"""Statements sent together: on PostgreSQL (psycopg) the statements made inside
:func:`pipelined` whose results nobody reads are sent in one go and answered in one
round trip (psycopg's pipeline mode), not one round trip each; elsewhere (SQLite,
another driver, a libpq without pipeline mode) they run as they come. Each statement
still runs on the server in order, as it would have."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import Connection
from sqlalchemy import exc as sa


@contextmanager
def pipelined(connection: Connection) -> Iterator[None]:
    """Send the statements made inside together (PostgreSQL). An error the server
    reports at the end is raised as SQLAlchemy would have raised it (a lost connection
    invalidates it: the database's fault, bot/store/faults.py), so callers meet the
    same exceptions either way."""
    if connection.dialect.name != "postgresql" or connection.dialect.driver != "psycopg":
        yield
        return
    import psycopg  # the driver, present whenever the dialect names it

    raw = connection.connection.driver_connection
    if not isinstance(raw, psycopg.Connection) or not psycopg.Pipeline.is_supported():
        yield  # a libpq older than 14 has no pipeline mode: one round trip each
        return
    try:
        with raw.pipeline():
            yield
    except psycopg.Error as exc:
        lost = connection.dialect.is_disconnect(cast(Any, exc), connection.connection, None)
        if lost:
            connection.invalidate(exc)
        raise sa.DBAPIError.instance(
            None, None, exc, psycopg.Error, connection_invalidated=lost, dialect=connection.dialect
        ) from exc
