"""insight facts and rollups: each run's part of the success metrics, the runs of a
service and day added up, and how far they follow the audit trail; counted for every
run already stored

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 17:35:00.000000

The backfill is done by 0020a (bot/store/facts.rebuild writes these tables as the
code knows them, with the columns and tables 0018f, 0019a and 0020a add), so this one
only creates the tables.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "insightmark",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "insightcheck",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("service", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("check_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "service", "check_id"),
    )
    op.create_table(
        "insightday",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("service", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("go", sa.Integer(), nullable=False),
        sa.Column("no_go", sa.Integer(), nullable=False),
        sa.Column("expired", sa.Integer(), nullable=False),
        sa.Column("cancelled", sa.Integer(), nullable=False),
        sa.Column("succeeded", sa.Integer(), nullable=False),
        sa.Column("rolled_back", sa.Integer(), nullable=False),
        sa.Column("escaped", sa.Integer(), nullable=False),
        sa.Column("waivers", sa.Integer(), nullable=False),
        sa.Column("cycles", sa.LargeBinary(), nullable=False),
        sa.Column("automated", sa.LargeBinary(), nullable=False),
        sa.Column("waiting", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("day", "service"),
    )
    op.create_table(
        "insightrun",
        sa.Column("run_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("started", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("service", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("production", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("cycle", sa.Float(), nullable=True),
        sa.Column("checks", sa.Float(), nullable=True),
        sa.Column("waivers", sa.Integer(), nullable=False),
        sa.Column("tallies", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("run_id"),
    )
    with op.batch_alter_table("insightrun", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_insightrun_started"), ["started"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("insightrun", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_insightrun_started"))
    op.drop_table("insightrun")
    op.drop_table("insightday")
    op.drop_table("insightcheck")
    op.drop_table("insightmark")
