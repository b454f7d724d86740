"""github rerun: the re-run of a GitHub job that waits for its run's next decision
(a NO-GO reopened after GitHub took its rejection)

Revision ID: 0019e
Revises: 0019a
Create Date: 2026-12-07 04:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0019e"
down_revision: str | None = "0019a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("githubjob", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("rerun_delivery", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("githubjob", schema=None) as batch_op:
        batch_op.drop_column("rerun_delivery")
