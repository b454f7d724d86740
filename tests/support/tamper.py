"""Attacks on the audit trail by someone with write access to the database, in real SQL
on SQLite or PostgreSQL: the ones a hash chain alone cannot see (a cut tail, the last
event rewritten with its hash, a middle event rewritten and every later hash redone).
Used by tests/test_checkpoints.py and bench/tamper_table.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from sqlalchemy import create_engine, text
from sqlmodel import Session, col, select

from bot.audit.chain import Entry, digest
from bot.store.audit_log import entry
from bot.store.models import AuditEvent

FORGER = "U0MALLORY"


def _rows(url: str, since: int) -> list[Entry]:
    engine = create_engine(url)
    with Session(engine) as session:
        query = select(AuditEvent).where(col(AuditEvent.seq) >= since)
        found = [entry(row) for row in session.exec(query.order_by(col(AuditEvent.seq)))]
    engine.dispose()
    return found


def delete_tail(url: str, count: int) -> str:
    """Delete the last ``count`` events."""
    engine = create_engine(url)
    with engine.begin() as connection:
        last = connection.execute(text("SELECT MAX(seq) FROM auditevent")).scalar_one()
        connection.execute(text("DELETE FROM auditevent WHERE seq > :n"), {"n": last - count})
    engine.dispose()
    return f"deleted events #{last - count + 1} to #{last}"


def rewrite_last(url: str) -> str:
    """Change the last event's actor and give it the hash its new content has."""
    engine = create_engine(url)
    with engine.begin() as connection:
        last = connection.execute(text("SELECT MAX(seq) FROM auditevent")).scalar_one()
    engine.dispose()
    rehash_from(url, last)
    return f"rewrote event #{last} and its hash"


def rewrite_and_rehash(url: str, seq: int) -> str:
    """Change event ``seq``'s actor, then recompute its hash and every later event's link
    and hash, so the chain is consistent again from end to end."""
    count = rehash_from(url, seq)
    return f"rewrote event #{seq} and re-hashed the {count - 1} events after it"


def rehash_from(url: str, seq: int, change: Callable[[Entry], Entry] | None = None) -> int:
    """Rewrite event ``seq`` (its actor becomes the forger, or ``change``) and re-chain
    everything after it with real UPDATEs; how many rows were rewritten."""
    rows = _rows(url, seq)
    forge = change or (lambda e: replace(e, actor=FORGER))
    engine = create_engine(url)
    with engine.begin() as connection:
        prev: str | None = None
        for number, row in enumerate(rows):
            changed = forge(row) if number == 0 else replace(row, prev_hash=prev or row.prev_hash)
            new_hash = digest(changed)
            connection.execute(
                text(
                    "UPDATE auditevent SET actor = :actor, prev_hash = :prev, hash = :hash "
                    "WHERE seq = :seq"
                ),
                {"actor": changed.actor, "prev": changed.prev_hash, "hash": new_hash,
                 "seq": row.seq},
            )  # fmt: skip
            prev = new_hash
    engine.dispose()
    return len(rows)
