"""Issue 14: the search terms `find` uses (an index, not a scan), and the alert columns of
Snooze and Hand over. Existing orders get their search terms here.

Revision ID: 0007
Revises: 0006
"""
import re

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import workflows.core.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "order_search",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("term", sa.String(200).with_variant(postgresql.VARCHAR(200, collation="C"), "postgresql"),
                  nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name="fk_order_search_order_id", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_order_search_term", "order_search", ["term"])
    op.create_index("ix_order_search_order", "order_search", ["order_id"])
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("snoozed_until", workflows.core.models.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("snoozed_by", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("owner", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("owner_since", workflows.core.models.UTCDateTime(timezone=True), nullable=True))
        batch.create_index("ix_alerts_snoozed_until", ["snoozed_until"])
    _backfill()


def _backfill() -> None:
    """The terms of every order already stored, as `workflows.orders.search.terms` makes them
    (written out here so this migration never changes with the module)."""
    conn = op.get_bind()
    refs: dict[str, set[str]] = {}
    for order_id, ref in conn.execute(sa.text(
            "SELECT order_id, external_reference FROM order_items WHERE external_reference IS NOT NULL "
            "UNION SELECT order_id, confirmation FROM sync_attempts WHERE confirmation IS NOT NULL")):
        refs.setdefault(order_id, set()).add(ref)
    rows = []
    for order_id, first, last, email, phone, payment in conn.execute(sa.text(
            "SELECT id, guest_first_name, guest_last_name, guest_email, guest_phone, payment_reference FROM orders")):
        words = {" ".join(f"{first or ''} {last or ''}".lower().split()), " ".join((last or "").lower().split()),
                 (email or "").strip().lower(), (payment or "").strip().lower(),
                 *(r.strip().lower() for r in refs.get(order_id, ()))}
        digits = re.sub(r"\D", "", (phone or "").replace("(0)", ""))
        if len(digits) >= 6:
            words.add("#" + digits[::-1])
        rows += [{"order_id": order_id, "term": w[:200]} for w in sorted(words) if w]
    if rows:
        conn.execute(sa.text("INSERT INTO order_search (order_id, term) VALUES (:order_id, :term)"), rows)


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_index("ix_alerts_snoozed_until")
        batch.drop_column("owner_since")
        batch.drop_column("owner")
        batch.drop_column("snoozed_by")
        batch.drop_column("snoozed_until")
    op.drop_index("ix_order_search_order", table_name="order_search")
    op.drop_index("ix_order_search_term", table_name="order_search")
    op.drop_table("order_search")
