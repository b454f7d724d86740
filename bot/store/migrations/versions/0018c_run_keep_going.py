"""keep-going stored with the run, so that a resumed run and a re-run keep the choice

Revision ID: 0018c
Revises: 0017
Create Date: 2026-12-06 22:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018c"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # a plain ADD COLUMN (SQLite and PostgreSQL both take one with a default): a batch
    # would copy the run table, which the rows pointing at it forbid
    op.add_column(
        "run", sa.Column("keep_going", sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    with op.batch_alter_table("run") as batch:
        batch.drop_column("keep_going")
