"""When the poller last read an order back from the platform (issue 13: re-check of open
alerts, least recently checked first).

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

import workflows.core.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("platform_checked_at", workflows.core.models.UTCDateTime(timezone=True),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("platform_checked_at")
