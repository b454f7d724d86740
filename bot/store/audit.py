"""The audit trail in the database. An event is appended inside the transaction of the
change it records (a sign-off and its event commit together or not at all), so a retried
click, a redelivery or a crash between the two can neither lose nor repeat it.

Appends are serialised so the chain never forks: PostgreSQL takes a transaction-scoped
advisory lock, SQLite its single writer lock, before the head is read; the unique
``prev_hash`` refuses a fork should anything slip past, and a standalone append retries.

An event may instead be *queued* with its change (:func:`queue`, the ack of a start:
it must not wait for that lock behind the runs executing). Whoever takes the lock next
chains the queue before anything else (:func:`hold_write_lock`), so a queued event
precedes every event written by someone who saw its change; a bot process chains what
is left within its poll interval (``AuditLog.chain_queued``, bot/store/audit_log.py)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, text
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, InternalError, ProgrammingError
from sqlmodel import Session, SQLModel

from bot.audit.chain import GENESIS, seal
from bot.store.jsonrows import as_rows, stored_json, stored_time
from bot.store.models import AuditEvent, AuditQueued, ConfigSnapshot, as_utc, utcnow

log = logging.getLogger(__name__)
LOCK_KEY = 0x70726570  # "prep": the advisory lock that serialises appends on PostgreSQL
RETRIES = 5


@dataclass(frozen=True)
class Note:
    """An event to append: what happened, who did it, to which run."""

    action: str
    actor: str
    run_id: int | None
    details: Mapping[str, Any] = field(default_factory=dict)


CLOCK = "preprod_clock"
"""A ``session.info`` key: the store's clock (the database's, bot/store/clock.py), which
stamps the events' times; without it, this process's clock."""


def _now(session: Session) -> datetime:
    clock = session.info.get(CLOCK)
    return clock() if clock is not None else utcnow()


HEAD_KEPT = "preprod_audit_head"
"""A ``session.info`` key: set (to None) by a writer that appends several events in one
transaction and commits once (bot/store/batch.py); the head it appended last is then
the head, still under the lock, so it is not locked and read again for each event, and
the events are inserted together by :func:`write_kept` before the commit."""
_KEPT_ROWS = "preprod_audit_rows"
"""A ``session.info`` key: the events appended under :data:`HEAD_KEPT`, not yet inserted."""


def append(session: Session, note: Note, at: datetime | None = None) -> AuditEvent:
    """Append ``note`` in the session's transaction (the caller commits)."""
    if HEAD_KEPT in session.info:
        return AuditEvent(**append_kept(session, note, at))
    _lock(session)
    row = AuditEvent(**_sealed(_head(session), note, at or _now(session)))
    session.add(row)
    session.flush()
    return row


def append_kept(session: Session, note: Note, at: datetime | None = None) -> dict[str, Any]:
    """:func:`append` for a writer that set :data:`HEAD_KEPT` and calls :func:`write_kept`
    before it commits: the head is locked and read once a transaction, and the events
    are inserted together (a plain multi-row INSERT: the ORM's unit of work, and a model
    object an event, cost more than the rows). The event's columns."""
    head: tuple[int, str] | None = session.info[HEAD_KEPT]
    if head is None:
        head = _locked_head(session)
    row = _sealed(head, note, at or _now(session))
    session.info[HEAD_KEPT] = (row["seq"], row["hash"])
    session.info.setdefault(_KEPT_ROWS, []).append(row)
    return row


def write_kept(session: Session) -> None:
    """Insert the events :func:`append_kept` queued in this transaction, in one statement
    over a JSON array of them (bot/store/jsonrows.py), in the chain's order."""
    if rows := session.info.pop(_KEPT_ROWS, None):
        connection = session.connection()
        values = [
            {
                "seq": row["seq"],
                "at": stored_time(row["at"], _EVENTS.c.at, connection),
                "run": row["run_id"],
                "actor": row["actor"],
                "action": row["action"],
                "details": stored_json(row["details"]),
                "prev": row["prev_hash"],
                "hash": row["hash"],
            }
            for row in rows
        ]
        statement = _INSERT_EVENTS[connection.dialect.name]
        connection.execute(statement, {"rows": as_rows(values)})


def _head(session: Session) -> tuple[int, str] | None:
    """The newest event's (seq, hash), read under the appenders' lock."""
    found = session.execute(_HEAD).first()  # the session's: pending rows flushed first
    return (found[0], found[1]) if found is not None else None


_KEPT_LOCKED = "preprod_audit_locked"
"""A ``session.info`` key: :func:`lock_kept` took the appenders' lock in this transaction."""


def lock_kept(session: Session) -> None:
    """Take the appenders' lock now for a writer under :data:`HEAD_KEPT` that will append
    (sent with its other statements: bot/store/pipeline.py); the head is read at the
    first :func:`append_kept`, the queue chained then."""
    if session.info.get(HEAD_KEPT) is None and not session.info.get(_KEPT_LOCKED):
        take_write_lock(session.connection())
        session.info[_KEPT_LOCKED] = True


def _locked_head(session: Session) -> tuple[int, str] | None:
    """:func:`_lock` then :func:`_head`, with one statement fewer: the head is read with
    whether events are queued, and the queue chained (and the head read again) only then."""
    if not session.info.pop(_KEPT_LOCKED, False):
        take_write_lock(session.connection())
    seq, hash, queued = session.execute(_HEAD_AND_QUEUED).one()
    if not queued:
        return (seq, hash) if seq is not None else None
    _chain_queued(session.connection())
    return _head(session)


def _sealed(head: tuple[int, str] | None, note: Note, at: datetime) -> dict[str, Any]:
    """The columns of the event after ``head`` that records ``note``."""
    entry = seal(
        seq=head[0] + 1 if head else 1,
        at=at,
        run_id=note.run_id,
        actor=note.actor,
        action=note.action,
        details=note.details,
        prev_hash=head[1] if head else GENESIS,
    )
    return {
        "seq": entry.seq,
        "at": entry.at,
        "run_id": entry.run_id,
        "actor": entry.actor,
        "action": entry.action,
        "details": dict(entry.details),
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


_EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]
_EVENT_COLUMNS = (
    "INSERT INTO auditevent (seq, at, run_id, actor, action, details, prev_hash, hash) "
)
_INSERT_EVENTS = {
    "sqlite": text(
        _EVENT_COLUMNS + "SELECT r.value ->> '$.seq', r.value ->> '$.at', r.value ->> '$.run', "
        "r.value ->> '$.actor', r.value ->> '$.action', r.value ->> '$.details', "
        "r.value ->> '$.prev', r.value ->> '$.hash' FROM json_each(:rows) AS r ORDER BY r.key"
    ),
    "postgresql": text(
        _EVENT_COLUMNS + "SELECT r.seq, r.at, r.run, r.actor, r.action, CAST(r.details AS json), "
        "r.prev, r.hash FROM json_to_recordset(CAST(:rows AS json)) AS r(seq bigint, "
        "at timestamptz, run integer, actor text, action text, details text, prev text, "
        "hash text) ORDER BY r.seq"
    ),
}
_HEAD = sa_select(_EVENTS.c.seq, _EVENTS.c.hash).order_by(_EVENTS.c.seq.desc()).limit(1)


_QUEUE = AuditQueued.__table__  # type: ignore[attr-defined]
_HEAD_AND_QUEUED = sa_select(
    _HEAD.with_only_columns(_EVENTS.c.seq).scalar_subquery(),
    _HEAD.with_only_columns(_EVENTS.c.hash).scalar_subquery(),
    sa_select(_QUEUE.c.id).exists(),
)


_INSERT_QUEUED = insert(_QUEUE)
"""Built once, the row given as parameters: ``.values(row)`` built and compiled a new
statement for every event (a third of a ``start``'s transaction CPU)."""


def queue(session: Session, *notes: Note, at: datetime | None = None) -> None:
    """Store ``notes`` in the session's transaction without the appenders' lock, in one
    statement; they are chained by the next holder of the lock (the caller commits)."""
    when = at or _now(session)
    rows = [{"at": when, "run_id": note.run_id, "actor": note.actor, "action": note.action,
             "details": dict(note.details)} for note in notes]  # fmt: skip
    if rows:  # one row: one execution; more: an executemany
        session.connection().execute(_INSERT_QUEUED, rows)


def any_queued(connection: Connection) -> bool:
    """Whether events wait to be chained (a read, no lock)."""
    return connection.execute(sa_select(_QUEUE.c.id).limit(1)).first() is not None


def chain_now(session: Session) -> int:
    """Chain the queued events in a transaction of their own, so that what is read next
    is the whole trail; how many (a read when none wait). A reader that may not write
    (an auditor's read-only role) reads the chain as it is, and the log says so."""
    connection = session.connection()
    if not any_queued(connection):
        return 0
    try:
        take_write_lock(connection)
        chained = _chain_queued(connection)
        session.commit()
    except (InternalError, ProgrammingError) as exc:  # read-only transaction, no privilege
        session.rollback()
        why = " ".join(str(exc.orig).split())
        log.warning("queued audit events left unchained: this connection may not write (%s)", why)
        return 0
    return chained


def _lock(session: Session) -> None:
    hold_write_lock(session.connection())


def hold_write_lock(connection: Connection) -> None:
    """Hold the appenders' lock until the transaction ends, and chain the queued events
    first. The insight rollups (bot/store/facts.py) are recounted under it too, so one
    lock orders both."""
    take_write_lock(connection)
    _chain_queued(connection)


def take_write_lock(connection: Connection) -> None:
    """The appenders' lock alone, the queue left as it is (a migration's recount runs
    before the queue's table exists)."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    elif dialect == "sqlite":
        # A write (of nothing) takes SQLite's writer lock now, so the head read next is
        # the newest and stays so until commit; a read first would see a stale snapshot.
        connection.execute(text("UPDATE auditevent SET seq = seq WHERE 0 = 1"))


def _chain_queued(connection: Connection) -> int:
    """Append the queued events, oldest first, and take them off the queue (under the
    lock, in the caller's transaction); how many. A queue committed after this read
    waits for the next holder."""
    queued = connection.execute(sa_select(_QUEUE).order_by(_QUEUE.c.id)).all()
    if not queued:
        return 0
    last = connection.execute(_HEAD).first()
    head = (last[0], last[1]) if last is not None else None
    rows = []
    for event in queued:
        note = Note(event.action, event.actor, event.run_id, event.details or {})
        row = _sealed(head, note, as_utc(event.at))
        head = (row["seq"], row["hash"])
        rows.append(row)
    connection.execute(insert(_EVENTS), rows)
    connection.execute(delete(_QUEUE).where(_QUEUE.c.id.in_([event.id for event in queued])))
    return len(rows)


RUN_LOCK_SPACE = 0x72756E73  # "runs": PostgreSQL advisory locks of one run's gate actions


def hold_run_lock(connection: Connection, run_id: int) -> None:
    """Hold a lock on run ``run_id``'s gate actions until the transaction ends, so that
    what is read next is fresh and stays so until commit (every replica takes it).
    PostgreSQL: a per-run advisory lock. SQLite: its single writer lock (as appends do)."""
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT pg_advisory_xact_lock(CAST(:space AS integer), CAST(:run AS integer))"),
            {"space": RUN_LOCK_SPACE, "run": run_id},
        )
    else:
        hold_write_lock(connection)


def insert_once_audited(session: Session, row: SQLModel, note: Note) -> bool:
    """Insert ``row`` and append ``note`` in one transaction; False (nothing changed, no
    event) when the row's unique key exists: a repeat is not a new action."""
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return False
    append(session, note)
    session.commit()
    return True


def save_config(session: Session, digest: str, path: str, content: str) -> None:
    """Keep a config's (redacted) text once per digest, in the caller's transaction."""
    values = {"digest": digest, "path": path, "text": content, "at": utcnow()}
    if session.get_bind().dialect.name == "postgresql":
        statement: Any = pg_insert(ConfigSnapshot).values(**values).on_conflict_do_nothing()
    else:
        statement = sqlite_insert(ConfigSnapshot).values(**values).on_conflict_do_nothing()
    session.execute(statement)
