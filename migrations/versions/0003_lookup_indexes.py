"""Indexes for the clock's recovery sweep (alerts never shown) and the order queue (by
placed date), which scanned whole tables (bench/RESULTS.md, hot-path EXPLAINs).

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_alerts_message_id", "alerts", ["message_id"])
    op.create_index("ix_orders_placed_at", "orders", ["placed_at"])


def downgrade() -> None:
    op.drop_index("ix_orders_placed_at", table_name="orders")
    op.drop_index("ix_alerts_message_id", table_name="alerts")
