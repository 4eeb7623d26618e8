"""Issue 28: when an order's guest details were erased (retention or a request).

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

import workflows.core.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("guest_erased_at", workflows.core.models.UTCDateTime(timezone=True),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("guest_erased_at")
