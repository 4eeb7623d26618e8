"""Issue 25: the arrival check's findings (one row per day and item) and where each
property's daily summary was posted.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

import workflows.core.models

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UTC = workflows.core.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "arrival_checks",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("property", sa.String(length=64), nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("confirmation", sa.String(length=128), nullable=True),
        sa.Column("first_problem_at", UTC, nullable=True),
        sa.Column("resolved_at", UTC, nullable=True),
        sa.Column("checked_by", sa.String(length=128), nullable=True),
        sa.Column("checked_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("day", "order_id", "item_id"),
    )
    op.create_index("ix_arrival_checks_day_property", "arrival_checks", ["day", "property"])
    op.create_table(
        "arrival_summaries",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("property", sa.String(length=64), nullable=False),
        sa.Column("surface", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=256), nullable=True),
        sa.Column("message_id", sa.String(length=128), nullable=True),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("day", "property", "surface"),
    )


def downgrade() -> None:
    op.drop_table("arrival_summaries")
    op.drop_index("ix_arrival_checks_day_property", table_name="arrival_checks")
    op.drop_table("arrival_checks")
