"""a partial index of the re-run check attempts (attempt > 1) by start: the dashboard's
flaky checks find a period's re-runs without reading its other check records (~150 ms
of every /runs at a million runs); the insight rollups of each service and ISO week
(insightweek)

Revision ID: 0019a
Revises: 0019c
Create Date: 2026-12-07 02:00:00.000000

The recount is done by 0020a (bot/store/facts.rebuild writes the insight tables as the
code knows them, the sums of 0020a included), so this one only changes the tables.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0019a"
down_revision: str | None = "0019c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    counts = ("runs", "go", "no_go", "expired", "cancelled", "succeeded", "rolled_back")
    op.create_table(
        "insightweek",
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("service", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in counts),
        sa.Column("escaped", sa.Integer(), nullable=False),
        sa.Column("waivers", sa.Integer(), nullable=False),
        sa.Column("cycles", sa.LargeBinary(), nullable=False),
        sa.Column("automated", sa.LargeBinary(), nullable=False),
        sa.Column("waiting", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("week", "service"),
    )
    op.create_index(
        "ix_checkrecord_rerun",
        "checkrecord",
        ["started_at"],
        unique=False,
        sqlite_where=sa.text("attempt > 1"),
        postgresql_where=sa.text("attempt > 1"),
    )


def downgrade() -> None:
    op.drop_index("ix_checkrecord_rerun", table_name="checkrecord")
    op.drop_table("insightweek")
