"""The database schema: orders, their items, sync attempts (the order queue), alerts,
audit events, intake events and the outbox.

SQLAlchemy 2.0 typed models. Status columns hold the strings of `workflows.core.states`;
only `workflows.core.states` and `workflows.orders.service` write them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# A search term: compared byte by byte ("C" collation on PostgreSQL, SQLite's default BINARY),
# so a prefix is one btree range (`term >= 'walk' AND term < 'wall'`) on either backend.
SearchTerm = String(200).with_variant(postgresql.VARCHAR(200, collation="C"), "postgresql")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; use datetime.now(timezone.utc)")
        return value.astimezone(dt.timezone.utc)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, dt.datetime: UTCDateTime}


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    platform_status: Mapped[str] = mapped_column(String(32))
    placed_at: Mapped[dt.datetime | None]
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(BigInteger)
    guest_first_name: Mapped[str] = mapped_column(String(200), default="")
    guest_last_name: Mapped[str] = mapped_column(String(200), default="")
    guest_email: Mapped[str] = mapped_column(String(320), default="")
    guest_phone: Mapped[str] = mapped_column(String(64), default="")
    payment_provider: Mapped[str] = mapped_column(String(32), default="")
    payment_reference: Mapped[str] = mapped_column(String(128), default="")
    payment_amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    payment_state: Mapped[str | None] = mapped_column(String(32))
    payment_detail: Mapped[dict[str, Any] | None]
    payment_checked_at: Mapped[dt.datetime | None]
    # When the poller last read the order back from the platform (`recheck_open_alerts`).
    platform_checked_at: Mapped[dt.datetime | None]
    # When the guest's name, e-mail and phone were erased (issue 28, migration 0009: retention or
    # a request, `workflows.guests`); a later copy from the platform does not bring them back.
    guest_erased_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", order_by="OrderItem.item_id", cascade="all, delete-orphan"
    )
    alerts: Mapped[list[Alert]] = relationship(back_populates="order", cascade="all, delete-orphan")

    __table_args__ = (
        Index("ix_orders_platform_status", "platform_status"),
        Index("ix_orders_placed_at", "placed_at"),
    )

    @property
    def guest_name(self) -> str:
        return f"{self.guest_first_name} {self.guest_last_name}".strip()


class OrderItem(Base):
    __tablename__ = "order_items"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    item_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    system: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(32))
    sync_status: Mapped[str | None] = mapped_column(String(16))
    start: Mapped[dt.date | None] = mapped_column(Date)
    end: Mapped[dt.date | None] = mapped_column(Date)
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    guests: Mapped[int] = mapped_column(Integer, default=1)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    external_reference: Mapped[str | None] = mapped_column(String(128))
    confirmed_by: Mapped[str | None] = mapped_column(String(128))
    confirmed_at: Mapped[dt.datetime | None]
    payment_method: Mapped[str | None] = mapped_column(String(64))
    notes: Mapped[str | None] = mapped_column(Text)

    order: Mapped[Order] = relationship(back_populates="items")
    attempts: Mapped[list[SyncAttempt]] = relationship(
        back_populates="item", order_by="SyncAttempt.number", cascade="all, delete-orphan"
    )

    __table_args__ = (
        UniqueConstraint("order_id", "item_id", name="uq_order_items_order_item"),
        Index("ix_order_items_sync_status", "sync_status"),
    )


class SyncAttempt(Base):
    """One try at creating an item's booking: the order-queue row of resort platforms."""

    __tablename__ = "sync_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_pk: Mapped[int] = mapped_column(ForeignKey("order_items.pk", ondelete="CASCADE"))
    order_id: Mapped[str] = mapped_column(String(64))
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    error_class: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str | None] = mapped_column(Text)
    raw_log: Mapped[str | None] = mapped_column(Text)
    triggered_by: Mapped[str] = mapped_column(String(128))
    job_id: Mapped[str | None] = mapped_column(String(200))
    confirmation: Mapped[str | None] = mapped_column(String(128))
    # Issue 24 (migration 0010): check-first found a booking by one of its two keys only (in
    # words for staff), and when a held booking it found and could not confirm lapses.
    warning: Mapped[str | None] = mapped_column(Text)
    hold_deadline: Mapped[dt.datetime | None]
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]

    item: Mapped[OrderItem] = relationship(back_populates="attempts")

    __table_args__ = (
        UniqueConstraint("item_pk", "number", name="uq_sync_attempts_item_number"),
        Index("ix_sync_attempts_order", "order_id"),
        Index("ix_sync_attempts_started_at", "started_at"),
    )


class Alert(Base):
    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    surface: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str | None] = mapped_column(String(128))
    message_id: Mapped[str | None] = mapped_column(String(128))
    thread_id: Mapped[str | None] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16))
    acknowledged_by: Mapped[str | None] = mapped_column(String(128))
    acknowledged_at: Mapped[dt.datetime | None]
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[dt.datetime | None]
    resolved_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # On-call workflows (migration 0002): the outage it belongs to, the last click, the page.
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL", name="fk_alerts_incident_id"), index=True)
    last_human_action_at: Mapped[dt.datetime | None]
    paged_at: Mapped[dt.datetime | None]
    # Issue 14 (migration 0007): Snooze pauses escalation until then (set by whom); Hand over
    # names the owner escalation targets first. The same on every surface's row of an order.
    snoozed_until: Mapped[dt.datetime | None]
    snoozed_by: Mapped[str | None] = mapped_column(String(128))
    owner: Mapped[str | None] = mapped_column(String(128))
    owner_since: Mapped[dt.datetime | None]

    order: Mapped[Order] = relationship(back_populates="alerts")

    __table_args__ = (
        UniqueConstraint("order_id", "surface", name="uq_alerts_order_surface"),
        Index("ix_alerts_state", "state"),
        Index("ix_alerts_message_id", "message_id"),  # the recovery sweep's "never shown" lookup
        Index("ix_alerts_snoozed_until", "snoozed_until"),  # the clock's "snooze over" lookup
    )


class OrderSearch(Base):
    """`find`: the words an order is found by (guest name, e-mail, phone, payment reference,
    confirmation numbers, also undone ones), normalised by `workflows.orders.search`."""

    __tablename__ = "order_search"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE", name="fk_order_search_order_id"))
    term: Mapped[str] = mapped_column(SearchTerm)

    __table_args__ = (
        Index("ix_order_search_term", "term"),
        Index("ix_order_search_order", "order_id"),
    )


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str | None] = mapped_column(String(64))
    item_id: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(String(32), default="ok")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_audit_events_order_created", "order_id", "created_at"),)


class IntakeEvent(Base):
    __tablename__ = "intake_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(200), unique=True)
    order_id: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]]
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_intake_events_order", "order_id"),)


class OutboxEntry(Base):
    """A job to enqueue, written in the same transaction as the change that wants it.

    Intake is durable before it is acknowledged even when Redis is down: the entry waits
    here until `workflows.core.queue.dispatch` hands it to RQ.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    function: Mapped[str] = mapped_column(String(200))
    kwargs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    job_id: Mapped[str] = mapped_column(String(200))
    delay_seconds: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    dispatched_at: Mapped[dt.datetime | None]

    __table_args__ = (Index("ix_outbox_pending", "dispatched_at", "id"),)


class OncallOverride(Base):
    """`/oncall take [until]`: a person on call instead of the rotation until `ends_at`."""

    __tablename__ = "oncall_overrides"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(String(128))
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_oncall_overrides_ends_at", "ends_at"),)


class Incident(Base):
    """A burst of failures at one system: one outage message and one page, not N alerts.

    `open_for` holds the system while the incident is open and NULL afterwards; its unique
    constraint makes "one open incident per system" a database fact (NULLs never collide).
    """

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    system: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    open_for: Mapped[str | None] = mapped_column(String(32), unique=True)
    opened_at: Mapped[dt.datetime]
    first_failure_at: Mapped[dt.datetime]
    last_failure_at: Mapped[dt.datetime]
    all_clear_at: Mapped[dt.datetime | None]
    failure_count: Mapped[int] = mapped_column(Integer, default=0)
    error_classes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    channel: Mapped[str | None] = mapped_column(String(128))  # its Slack message
    message_id: Mapped[str | None] = mapped_column(String(128))
    teams_conversation: Mapped[str | None] = mapped_column(String(256))  # its Teams card (migration 0006)
    teams_message_id: Mapped[str | None] = mapped_column(String(128))
    paged_at: Mapped[dt.datetime | None]
    reprocess_requested_by: Mapped[str | None] = mapped_column(String(128))
    reprocess_requested_at: Mapped[dt.datetime | None]
    reprocess_items: Mapped[dict[str, Any] | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (Index("ix_incidents_state", "state"),)


class MaintenanceWindow(Base):
    """A maintenance window of a system, or of one property of it (issue 26, migration 0011):
    failures there inside it are held under its incident (`incident_id`, an outage incident in
    the "maintenance" state) and nobody is paged; when it ends they get the outage's view and
    Reprocess all (`workflows.outage.maintenance`). Set by a person (`/syncdesk maintenance`), or
    one occurrence of a recurring window of the routing file (`recurrence` names the rule; one
    row per rule and start, a unique fact)."""

    __tablename__ = "maintenance_windows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    system: Mapped[str] = mapped_column(String(32))
    property: Mapped[str | None] = mapped_column(String(64))  # None: every property of the system
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime]
    timezone: Mapped[str] = mapped_column(String(64))  # where its times are said (the property's zone)
    reason: Mapped[str] = mapped_column(Text, default="")
    recurrence: Mapped[str | None] = mapped_column(String(200))  # the routing file's rule, for a recurring one
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]  # its start was recorded (audited once)
    ended_at: Mapped[dt.datetime | None]  # it ended: at its end, or earlier by `ended_by`
    ended_by: Mapped[str | None] = mapped_column(String(128))
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL", name="fk_maintenance_windows_incident_id"))

    __table_args__ = (
        UniqueConstraint("recurrence", "starts_at", name="uq_maintenance_windows_recurrence_start"),
        Index("ix_maintenance_windows_system_ends", "system", "ends_at"),
        Index("ix_maintenance_windows_incident", "incident_id"),
    )


class ArrivalCheck(Base):
    """What the arrival check (workflows.arrivals) found for one item arriving on `day`: one
    row per day and item, rewritten by each run; `resolved_at` is set when a problem found
    earlier is confirmed later, `checked_by` when a person ticked a manual system's line."""

    __tablename__ = "arrival_checks"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    property: Mapped[str] = mapped_column(String(64))
    system: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")
    confirmation: Mapped[str | None] = mapped_column(String(128))
    first_problem_at: Mapped[dt.datetime | None]
    resolved_at: Mapped[dt.datetime | None]
    checked_by: Mapped[str | None] = mapped_column(String(128))
    checked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_arrival_checks_day_property", "day", "property"),)


class ArrivalSummary(Base):
    """Where the summary of one property's arrivals on `day` was posted, per chat surface, so
    each run updates it in place."""

    __tablename__ = "arrival_summaries"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    property: Mapped[str] = mapped_column(String(64), primary_key=True)
    surface: Mapped[str] = mapped_column(String(16), primary_key=True)
    channel: Mapped[str | None] = mapped_column(String(256))
    message_id: Mapped[str | None] = mapped_column(String(128))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
