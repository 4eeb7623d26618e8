"""Job functions moved with the layout (issue 11): outbox entries not yet handed to RQ keep
the old dotted paths, so rename them; RQ jobs already in Redis under an old path fail once
and the clock's recovery sweep enqueues their work again under the new one.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

MOVED = {
    "workflows.jobs.reprocess": "workflows.actions.jobs.reprocess",
    "workflows.jobs.booked_manually": "workflows.actions.jobs.booked_manually",
    "workflows.jobs.mark_complete": "workflows.actions.jobs.mark_complete",
    "workflows.jobs.refresh_alert": "workflows.orders.jobs.refresh_alert",
    "workflows.jobs.poll_stuck_orders": "workflows.intake.poller.poll_stuck_orders",
    "workflows.escalation.check_due": "workflows.oncall.escalation.check_due",
    "workflows.escalation.notify": "workflows.oncall.escalation.notify",
    "workflows.escalation.page": "workflows.oncall.escalation.page",
    "workflows.escalation.page_event": "workflows.oncall.escalation.page_event",
    "workflows.outage.refresh_incident": "workflows.outage.jobs.refresh_incident",
    "workflows.outage.page_incident": "workflows.outage.jobs.page_incident",
    "workflows.outage.check_quiet": "workflows.outage.jobs.check_quiet",
    "workflows.outage.announce_all_clear": "workflows.outage.jobs.announce_all_clear",
    "workflows.digest.post_daily": "workflows.reports.digest.post_daily",
    "workflows.reconcile.run_daily": "workflows.reports.reconcile.run_daily",
    "workflows.retail.send_retail_reminder": "workflows.retail.service.send_retail_reminder",
    "workflows.retail.dispatched": "workflows.retail.service.dispatched",
}

outbox = sa.table("outbox", sa.column("function", sa.String), sa.column("dispatched_at", sa.DateTime))


def _rename(mapping: dict[str, str]) -> None:
    for old, new in mapping.items():
        op.execute(outbox.update().where(outbox.c.function == old, outbox.c.dispatched_at.is_(None))
                   .values(function=new))


def upgrade() -> None:
    _rename(MOVED)


def downgrade() -> None:
    _rename({new: old for old, new in MOVED.items()})
