"""The tables' time stamps: always aware UTC, whatever the database hands back. A module
of its own so that both table modules (models.py, models_callers.py) use it without
importing each other."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands datetimes back naive, PostgreSQL aware; both were stored as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
