"""the GitHub jobs runs answer, and the answers owed to GitHub

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "githubjob",
        sa.Column("run_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(length=39), nullable=False),
        sa.Column("repo", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("workflow_run", sa.BigInteger(), nullable=False),
        sa.Column("environment", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("installation_id", sa.BigInteger(), nullable=False),
        sa.Column("delivery", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["run.id"]),
        sa.PrimaryKeyConstraint("run_id"),
    )
    op.create_table(
        "githubanswer",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("claimed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("answered_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("githubanswer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_githubanswer_run_id"), ["run_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_githubanswer_answered_at"), ["answered_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("githubanswer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_githubanswer_answered_at"))
        batch_op.drop_index(batch_op.f("ix_githubanswer_run_id"))
    op.drop_table("githubanswer")
    op.drop_table("githubjob")
