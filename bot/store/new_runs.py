"""New runs written: their rows, pending checks, config text and audit events, in the
caller's transaction. However many runs are stored together (bot/store/together.py
groups a burst's), each kind is one statement: a round trip each on PostgreSQL, where
three a run made a burst of ``start`` acks wait on the database."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection
from sqlmodel import Session

from bot.audit.chain import Action
from bot.store.audit import Note, queue, save_config
from bot.store.marks import NewChecks, insert_checks
from bot.store.models import Run


@dataclass
class NewRun:
    run: Run
    checks: NewChecks
    config_text: str | None
    """The config's text (secrets redacted) when it is to be kept with the run: this
    store has not committed a snapshot of its digest yet."""


def insert_new_runs(session: Session, new: list[NewRun]) -> list[Run]:
    """Insert ``new`` (the caller commits); its runs, their ids set."""
    connection = session.connection()
    for each in new:
        if each.config_text is not None:  # a config not kept yet: rare
            save_config(session, each.run.config_digest, each.run.config_path, each.config_text)
    runs = [each.run for each in new]
    ids = _insert_rows(connection, runs)
    for run, run_id in zip(runs, ids, strict=True):
        run.id = run_id
    insert_checks(
        connection, [(run_id, each.checks) for run_id, each in zip(ids, new, strict=True)]
    )
    # queued, not appended: no wait for the trail's lock behind the runs executing
    queue(session, *(_started(each.run, [c for c, _, _ in each.checks]) for each in new))
    return runs


_RUN = Run.__table__  # type: ignore[attr-defined]
_RUN_COLUMNS = tuple(column.name for column in _RUN.columns if column.name != "id")
_INSERT_RUNS = _RUN.insert().returning(_RUN.c.id, sort_by_parameter_order=True)
"""Built once: building a statement is CPU on the ack path (its compiled form is cached)."""


def _insert_rows(connection: Connection, runs: list[Run]) -> list[int]:
    """Insert ``runs`` with Core, not the ORM's unit of work; their ids, in order. Runs
    that set the same columns go in one ``INSERT ... VALUES (...), (...) RETURNING id``
    on PostgreSQL (SQLAlchemy has no ordering sentinel for SQLite, so it sends SQLite a
    statement a row, in process). A column left unset is left out, as the ORM leaves
    it: NULL, not JSON null."""
    rows = [
        {name: v for name in _RUN_COLUMNS if (v := getattr(run, name)) is not None} for run in runs
    ]
    alike: dict[tuple[str, ...], list[int]] = {}
    for position, row in enumerate(rows):
        alike.setdefault(tuple(row), []).append(position)
    ids = [0] * len(rows)
    for positions in alike.values():
        inserted = connection.execute(_INSERT_RUNS, [rows[p] for p in positions]).scalars()
        for position, run_id in zip(positions, inserted, strict=True):
            ids[position] = run_id
    return ids


def _started(run: Run, checks: list[str]) -> Note:
    details: dict[str, object] = {
        "service": run.service,
        "version": run.version,
        "environment": run.environment,
        "plan": run.plan,
        "base_url": run.base_url,
        "source": run.source,
        "config_path": run.config_path,
        "config_sha256": run.config_digest,
        "checks": checks,
    }
    if run.origin or run.origin_commit:  # a pipeline's request (migration 0015)
        details["origin"] = run.origin or {}
        details["commit"] = run.origin_commit or ""
    if run.keep_going:  # every stage runs (migration 0018c)
        details["keep_going"] = True
    return Note(Action.RUN_STARTED, run.requester, run.id, details)
