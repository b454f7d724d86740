"""Where a run lives in Slack, written as one upsert: the insert of the first process to
open a run's thread and the update of any later one are the same statement, so two
processes racing to open it never collide on the primary key."""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.dml import Insert

from bot.store.models import SlackThread

_KEPT = ("progress_ts", "results_ts", "gate_ts")
"""Messages posted later in a run's life: a save that does not know one keeps it."""


def upsert_thread(thread: SlackThread, *, postgres: bool) -> Insert:
    insert = pg_insert if postgres else sqlite_insert
    values = thread.model_dump()
    statement = insert(SlackThread).values(values)
    table = SlackThread.__table__.c  # type: ignore[attr-defined]
    kept = {name: func.coalesce(statement.excluded[name], table[name]) for name in _KEPT}
    return statement.on_conflict_do_update(
        index_elements=[table.run_id],
        set_={
            "channel": statement.excluded.channel,
            "parent_ts": statement.excluded.parent_ts,
            **kept,
        },
    )
