"""rollup sums: each insight rollup row keeps its durations' exact sums (a few doubles
each, bot/store/tally.py exact_sum), so a period's share of automated time adds a few
numbers a row instead of every duration; every run counted again

Revision ID: 0020a
Revises: 0019e
Create Date: 2026-12-07 19:00:00.000000

The recount calls bot/store/facts.rebuild, which writes the insight tables as the code
knows them: a later migration that changes them should recount in its own turn (and
this one then only change the tables). A million runs recount in a few minutes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store.facts import rebuild

revision: str = "0020a"
down_revision: str | None = "0019e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("insightday", "insightweek")
SUMS = ("automated_sum", "waiting_sum")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name in SUMS:
                batch_op.add_column(sa.Column(name, sa.LargeBinary(), nullable=True))
    rebuild(op.get_bind())


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name in SUMS:
                batch_op.drop_column(name)
