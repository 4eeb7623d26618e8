"""Where an outage's card is in Teams (issue 15: Teams gets the same outage view as Slack),
beside `channel`/`message_id`, which hold its Slack message.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("teams_conversation", sa.String(length=256), nullable=True))
        batch.add_column(sa.Column("teams_message_id", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("teams_message_id")
        batch.drop_column("teams_conversation")
