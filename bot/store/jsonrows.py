"""Rows written by one statement over a JSON array of them (``json_each`` on SQLite,
``json_to_recordset`` on PostgreSQL), not an executemany: each row of an executemany
cost SQLAlchemy's and the driver's parameter work and, on PostgreSQL, its own execution
in the pipeline; on SQLite a release and a retaking of the GIL that the event loop's
thread wanted (bench/engine.py). The values go in as their columns would have bound
them, so what is stored reads back the same (tests/test_engine_own_cost.py)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Connection


def as_rows(values: list[dict[str, Any]]) -> str:
    """The statement's one parameter."""
    return json.dumps(values)


def stored_json(value: Any) -> str:
    """A JSON column's value as SQLAlchemy binds it (``json.dumps``), sent as text."""
    return json.dumps(value)


def stored_time(value: datetime | None, column: Column[Any], connection: Connection) -> str | None:
    """A time as its column stores it: on SQLite the column type's own text, on
    PostgreSQL ISO 8601 in UTC for a ``timestamptz``. A time without its zone is refused,
    as the column type refuses it."""
    if value is None:
        return None
    if value.utcoffset() is None:
        raise ValueError(f"a time without its zone: {value}")
    if connection.dialect.name == "sqlite":
        stored: str = _processor(column, connection.dialect)(value)
        return stored
    return value.astimezone(UTC).isoformat()


@functools.lru_cache(maxsize=16)
def _processor(column: Column[Any], dialect: Any) -> Callable[[datetime], Any]:
    processor = column.type.dialect_impl(dialect).bind_processor(dialect)
    assert processor is not None, f"{column} binds no text on {dialect.name}"
    return processor
