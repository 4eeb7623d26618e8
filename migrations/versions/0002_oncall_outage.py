"""on-call overrides, outage incidents, and the alert columns escalation needs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 10:00:00

Written by hand: `op.batch_alter_table` for the alerts columns, so SQLite (which cannot
add a foreign key with ALTER TABLE) gets the table rebuilt and PostgreSQL plain ALTERs.
"""
from alembic import op
import sqlalchemy as sa
import workflows.core.models


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('oncall_overrides',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('person_id', sa.String(length=128), nullable=False),
    sa.Column('starts_at', workflows.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', workflows.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', workflows.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('oncall_overrides', schema=None) as batch_op:
        batch_op.create_index('ix_oncall_overrides_ends_at', ['ends_at'], unique=False)

    op.create_table('incidents',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('system', sa.String(length=32), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('open_for', sa.String(length=32), nullable=True),
    sa.Column('opened_at', workflows.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('first_failure_at', workflows.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_failure_at', workflows.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('all_clear_at', workflows.core.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('failure_count', sa.Integer(), nullable=False),
    sa.Column('error_classes', sa.JSON(), nullable=False),
    sa.Column('channel', sa.String(length=128), nullable=True),
    sa.Column('message_id', sa.String(length=128), nullable=True),
    sa.Column('paged_at', workflows.core.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reprocess_requested_by', sa.String(length=128), nullable=True),
    sa.Column('reprocess_requested_at', workflows.core.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reprocess_items', sa.JSON(), nullable=True),
    sa.Column('created_at', workflows.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', workflows.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('open_for')
    )
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.create_index('ix_incidents_state', ['state'], unique=False)

    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('incident_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('last_human_action_at', workflows.core.models.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('paged_at', workflows.core.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key('fk_alerts_incident_id', 'incidents', ['incident_id'], ['id'],
                                    ondelete='SET NULL')
        batch_op.create_index('ix_alerts_incident_id', ['incident_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_alerts_incident_id')
        batch_op.drop_constraint('fk_alerts_incident_id', type_='foreignkey')
        batch_op.drop_column('paged_at')
        batch_op.drop_column('last_human_action_at')
        batch_op.drop_column('incident_id')

    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index('ix_incidents_state')
    op.drop_table('incidents')

    with op.batch_alter_table('oncall_overrides', schema=None) as batch_op:
        batch_op.drop_index('ix_oncall_overrides_ends_at')
    op.drop_table('oncall_overrides')
