"""Inserting a row whose unique key makes a repeat a no-op: the way a double click, a
redelivered request or a second replica is told "already done" without a race."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel


def insert_once(session: Session, row: SQLModel) -> bool:
    """Add and commit ``row``; False (and the session rolled back) when its key exists."""
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True
