"""Issue 26: maintenance windows (a system's, or one property's): the failures held in them
and, per recurring rule of the routing file, one row per occurrence.

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

import workflows.core.models

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UTC = workflows.core.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "maintenance_windows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("property", sa.String(length=64), nullable=True),
        sa.Column("starts_at", UTC, nullable=False),
        sa.Column("ends_at", UTC, nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recurrence", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("started_at", UTC, nullable=True),
        sa.Column("ended_at", UTC, nullable=True),
        sa.Column("ended_by", sa.String(length=128), nullable=True),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name="fk_maintenance_windows_incident_id",
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("recurrence", "starts_at", name="uq_maintenance_windows_recurrence_start"),
    )
    op.create_index("ix_maintenance_windows_system_ends", "maintenance_windows", ["system", "ends_at"])
    op.create_index("ix_maintenance_windows_incident", "maintenance_windows", ["incident_id"])


def downgrade() -> None:
    op.drop_index("ix_maintenance_windows_incident", table_name="maintenance_windows")
    op.drop_index("ix_maintenance_windows_system_ends", table_name="maintenance_windows")
    op.drop_table("maintenance_windows")
