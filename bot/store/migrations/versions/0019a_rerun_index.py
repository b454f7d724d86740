"""a partial index of the re-run check attempts (attempt > 1) by start: the dashboard's
flaky checks find a period's re-runs without reading its other check records (~150 ms
of every /runs at a million runs)

Revision ID: 0019a
Revises: 0018f
Create Date: 2026-12-07 02:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019a"
down_revision: str | None = "0018f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
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
