"""metric totals: runs by status, decisions by outcome (with the decision cycle's
seconds) and production outcomes by result, kept with the insight rows so that a
/metrics scrape reads a few rows; the run's status in insightrun

Revision ID: 0018f
Revises: 0018c
Create Date: 2026-12-06 23:00:00.000000

The recount is done by 0020a (bot/store/facts.rebuild writes the insight tables as the
code knows them, the week rollups of 0019a and the sums of 0020a included), so this one
only changes the tables.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0018f"
down_revision: str | None = "0018c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "insighttotal",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("insightrun", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("insightrun", schema=None) as batch_op:
        batch_op.drop_column("status")
    op.drop_table("insighttotal")
