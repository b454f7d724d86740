"""run indexes: the dashboard's periods, filtered pages and failure counts

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 06:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.create_index("ix_run_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_run_service_id", ["service", "id"], unique=False)
        batch_op.create_index("ix_run_environment_id", ["environment", "id"], unique=False)
    with op.batch_alter_table("checkrecord", schema=None) as batch_op:
        batch_op.create_index(
            "ix_checkrecord_run_status", ["run_id", "status", "check_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("checkrecord", schema=None) as batch_op:
        batch_op.drop_index("ix_checkrecord_run_status")
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.drop_index("ix_run_environment_id")
        batch_op.drop_index("ix_run_service_id")
        batch_op.drop_index("ix_run_created_at")
