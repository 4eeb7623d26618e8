"""Issue 24: an attempt's check-first warning (a booking found by one key only) and the
deadline of a held booking it found and could not confirm.

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

import workflows.core.models

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_attempts") as batch:
        batch.add_column(sa.Column("warning", sa.Text(), nullable=True))
        batch.add_column(sa.Column("hold_deadline", workflows.core.models.UTCDateTime(timezone=True),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_attempts") as batch:
        batch.drop_column("hold_deadline")
        batch.drop_column("warning")
