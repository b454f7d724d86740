"""What bench/ack_latency.py reads of the busy runs on the bot's database: how many are
stored and executed checks inside a steady phase, and waits until they execute or end.
Split from ack_latency.py (one concept: the busy runs' state, by SQL)."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime

from sqlalchemy import create_engine, text


def query(database: str, sql: str, **params: object) -> list[tuple[object, ...]]:
    """One read on the bot's database (SQLite file or PostgreSQL), by URL."""
    engine = create_engine(database)
    try:
        with engine.connect() as db:
            return [tuple(row) for row in db.execute(text(sql), params)]
    finally:
        engine.dispose()


def busy_figures(database: str, tag: str, window: tuple[float, float]) -> tuple[int, int, int]:
    """Of the busy runs tagged ``tag``: how many are stored, how many executed checks
    inside the steady ``window`` (epoch seconds: from their first check's start to their
    last check's end, or still going), and the most executing at once inside it."""
    rows = query(
        database,
        "SELECT r.id, min(c.started_at), max(c.finished_at),"
        " sum(CASE WHEN c.finished_at IS NULL THEN 1 ELSE 0 END)"
        " FROM run r LEFT JOIN checkrecord c ON c.run_id = r.id WHERE r.service = :service"
        " GROUP BY r.id",
        service=f"busy-{tag}",
    )

    def epoch(value: object) -> float:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return moment.replace(tzinfo=UTC).timestamp()

    spans = []
    for _, first, last, open_ in rows:
        if first is None:
            continue  # no check started yet
        end = window[1] if open_ or last is None else epoch(last)
        start, end = max(epoch(first), window[0]), min(end, window[1])
        if start <= end:
            spans.append((start, end))
    edges = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    most = current = 0
    for _, step in edges:
        current += step
        most = max(most, current)
    return len(rows), len(spans), most


def wait_busy_executing(database: str, tag: str, count: int, timeout: float = 120.0) -> None:
    """Until ``count`` busy runs of ``tag`` have started a check (bounded)."""
    started = (
        "SELECT count(DISTINCT r.id) FROM run r JOIN checkrecord c ON c.run_id = r.id"
        " WHERE r.service = :service AND c.started_at IS NOT NULL"
    )
    _wait_count(database, started, tag, count, timeout, "only some busy runs of {} executing")


def wait_busy_done(database: str, tag: str, count: int, timeout: float = 90.0) -> None:
    """Until the busy runs of ``tag`` are no longer running (bounded)."""
    done = "SELECT count(*) FROM run WHERE service = :service AND status != 'RUNNING'"
    _wait_count(database, done, tag, count, timeout, "busy runs of {} still running")


def _wait_count(database: str, sql: str, tag: str, count: int, timeout: float, missed: str) -> None:
    """Until ``sql`` (a count of the busy runs of ``tag``) reaches ``count``; else says
    ``missed`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        [(found,)] = query(database, sql, service=f"busy-{tag}")
        if int(str(found)) >= count:
            return
        time.sleep(0.2)
    print(f"{missed.format(tag)} after {timeout:g}s", file=sys.stderr)
