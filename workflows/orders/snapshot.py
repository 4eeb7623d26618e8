"""An order as the chat surfaces and the CLI show it: a frozen, I/O-free picture of the
database state, built in one place so every message is a pure function of it.

Besides the rows, `load` records what rendering cannot look up itself: how each item's
system is booked (`workflows.systems.registry.description_for`: automatic, or a manual playbook
with the fields "Booked manually" needs) and the outage the order's alert is grouped under
(`incident_thread`: where its parent message is, so the alert is posted as a reply).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.types import SystemDescription
from workflows.core.models import (
    Alert,
    AuditEvent,
    Incident,
    Order,
    OrderItem,
    SyncAttempt,
)
from workflows.core.settings import Settings, get_settings
from workflows.core.statuses import ItemStatus
from workflows.orders import masking, problems
from workflows.orders.scrub import Scrubber
from workflows.systems.booking import booking_request
from workflows.systems.registry import description_for, destination_at, timezone_for

# What an order whose guest was erased (issue 28, `workflows.guests`) shows for the guest's name.
ERASED = "(guest details erased)"


@dataclass(frozen=True)
class AttemptView:
    item_id: str
    number: int
    status: str
    error_class: str | None
    message: str | None
    raw_log: str | None
    triggered_by: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    confirmation: str | None
    # Check-first found a booking by one of its two keys only (issue 24), in words for staff;
    # and when a held booking it found and could not confirm lapses.
    warning: str | None = None
    hold_deadline: dt.datetime | None = None


@dataclass(frozen=True)
class ItemView:
    item_id: str
    kind: str
    system: str
    description: str
    status: str
    sync_status: str | None
    start: dt.date | None
    end: dt.date | None
    quantity: int
    guests: int
    details: dict[str, Any]
    external_reference: str | None
    confirmed_by: str | None
    payment_method: str | None
    attempts: tuple[AttemptView, ...]
    # How the item's system is booked; None when not known (retail, or not looked up).
    system_description: SystemDescription | None = None
    timezone: str = "UTC"  # where its property is (routing file, else LOCAL_TIMEZONE)

    @property
    def last_attempt(self) -> AttemptView | None:
        return self.attempts[-1] if self.attempts else None


@dataclass(frozen=True)
class AuditView:
    at: dt.datetime
    actor: str
    action: str
    item_id: str | None
    result: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class NoteView:
    """A note in the order's history (issue 26.4, `workflows.orders.notes`): a reply in its alert's
    thread, as it reads now; an edited one says so, a deleted one has no text left."""

    at: dt.datetime
    author: str
    surface: str
    text: str
    edited_at: dt.datetime | None = None
    edited_by: str | None = None
    deleted_at: dt.datetime | None = None
    deleted_by: str | None = None

    @classmethod
    def of(cls, e: AuditView) -> NoteView:
        def when(key: str) -> dt.datetime | None:
            value = e.detail.get(key)
            return dt.datetime.fromisoformat(value) if isinstance(value, str) and value else None

        return cls(e.at, e.actor, str(e.detail.get("surface") or ""), str(e.detail.get("text") or ""),
                   when("edited_at"), e.detail.get("edited_by"), when("deleted_at"), e.detail.get("deleted_by"))


@dataclass(frozen=True)
class AlertView:
    surface: str
    state: str
    channel: str | None
    message_id: str | None
    acknowledged_by: str | None
    snoozed_until: dt.datetime | None = None  # Snooze: escalation paused until then ...
    snoozed_by: str | None = None  # ... by this person
    owner: str | None = None  # Hand over: the teammate who owns it


@dataclass(frozen=True)
class OrderSnapshot:
    order_id: str
    status: str
    placed_at: dt.datetime | None
    currency: str
    total_minor: int
    guest_name: str
    guest_email: str
    guest_phone: str
    payment_provider: str
    payment_reference: str
    payment_state: str | None
    payment_detail: dict[str, Any]
    payment_checked_at: dt.datetime | None
    items: tuple[ItemView, ...]
    alerts: tuple[AlertView, ...]
    audit: tuple[AuditView, ...]
    # The outage incident the order's alerts are grouped under, and its parent message
    # (channel, message id) once posted: the alert is shown as a reply in that thread.
    incident_id: int | None = None
    incident_thread: tuple[str, str] | None = None
    default_timezone: str = "UTC"  # LOCAL_TIMEZONE, for an order with no dated item
    # Where the alert goes by the routing file (issue 14): the Slack channel and the Teams
    # conversation of its first failing item's property or system; None: the surface's default.
    slack_channel: str | None = None
    teams_conversation: str | None = None
    guest_erased_at: dt.datetime | None = None  # the guest's details were erased then (issue 28)
    guest_masked: bool = False  # CHAT_GUEST_DETAILS=masked: the guest is shown masked (`workflows.orders.masking`)
    # Open booking problems (issues 25, 26.3: the arrival check or the front desk found the
    # booking missing in its system), by item: they keep a Complete order's alert open.
    problems: tuple[problems.Problem, ...] = ()

    def masked(self) -> OrderSnapshot:
        """The order as CHAT_GUEST_DETAILS=masked shows it, whatever the setting: what is written
        where the guest's details never go (the log lines of `bot.log`). An erased or masked
        snapshot is returned as it is."""
        if self.guest_masked or self.guest_erased_at is not None:
            return self
        first, _, last = self.guest_name.rpartition(" ")
        if not first:
            first, last = last, ""
        return _masked(self, first, last, Scrubber.for_guest(self.order_id, first, last, self.guest_email,
                                                             self.guest_phone))

    def problem(self, item_id: str) -> problems.Problem | None:
        return next((p for p in self.problems if p.item_id == item_id), None)

    def destination(self, surface: str) -> str | None:
        return {"slack": self.slack_channel, "teams": self.teams_conversation}.get(surface)

    @property
    def timezone(self) -> str:
        """The zone the guest arrives in: the arrival item's property's, else LOCAL_TIMEZONE."""
        dated = [i for i in self.items if i.start is not None and i.kind != "retail"]
        return min(dated, key=lambda i: i.start).timezone if dated else self.default_timezone  # type: ignore[arg-type,return-value]

    def today(self, now: dt.datetime | None = None) -> dt.date:
        """Today where the guest arrives: what "arrives today" is counted against."""
        return (now or dt.datetime.now(dt.timezone.utc)).astimezone(ZoneInfo(self.timezone)).date()

    @property
    def arrival(self) -> dt.date | None:
        starts = [i.start for i in self.items if i.start is not None and i.kind != "retail"]
        return min(starts) if starts else None

    @property
    def failing_items(self) -> tuple[ItemView, ...]:
        return tuple(i for i in self.items if i.kind != "retail" and i.status == ItemStatus.IN_PROGRESS)

    @property
    def notes(self) -> tuple[NoteView, ...]:
        """The notes people wrote in the alert's thread, oldest first (issue 26.4)."""
        return tuple(NoteView.of(e) for e in self.audit if e.action == "note.added")

    def pending_retry(self) -> AuditView | None:
        """The last automatic retry scheduled that no later attempt has used yet."""
        last_sched = next((a for a in reversed(self.audit) if a.action == "retry.scheduled"), None)
        if last_sched is None:
            return None
        for item in self.items:
            if item.item_id == last_sched.item_id and item.last_attempt is not None:
                if item.last_attempt.number > int(last_sched.detail.get("after_attempt", 0)):
                    return None
        return last_sched


def _attempt(a: SyncAttempt, item_id: str) -> AttemptView:
    return AttemptView(item_id, a.number, a.status, a.error_class, a.message, a.raw_log, a.triggered_by,
                       a.started_at, a.finished_at, a.confirmation, a.warning, a.hold_deadline)


def _described(order: Order, item: OrderItem, settings: Settings) -> SystemDescription | None:
    """How the item's system is booked (no I/O: the connector is built, not called)."""
    if item.kind == "retail":
        return None
    try:
        return description_for(booking_request(order, item), settings)
    except ValueError:  # a route whose options cannot build a connector: `syncdesk connectors` says why
        return None


def load(session: Session, order_id: str, *, audit_limit: int = 200,
         settings: Settings | None = None, guest_details: str | None = None) -> OrderSnapshot | None:
    """The order as the database says it is; `settings` (default: the environment's) route its systems.
    The guest is shown as `guest_details` says ("full" or "masked"; default CHAT_GUEST_DETAILS,
    what chat shows: the command line asks for "full")."""
    settings = settings or get_settings()
    masked = (guest_details or settings.chat_guest_details) == masking.MASKED
    order = session.get(Order, order_id)
    if order is None:
        return None
    attempts = session.scalars(
        select(SyncAttempt).where(SyncAttempt.order_id == order_id).order_by(SyncAttempt.number)
    ).all()
    by_item: dict[int, list[SyncAttempt]] = {}
    for a in attempts:
        by_item.setdefault(a.item_pk, []).append(a)
    audit = session.scalars(
        select(AuditEvent).where(AuditEvent.order_id == order_id).order_by(AuditEvent.id.desc()).limit(audit_limit)
    ).all()
    alerts = session.scalars(select(Alert).where(Alert.order_id == order_id).order_by(Alert.id)).all()
    items = tuple(
        ItemView(
            i.item_id, i.kind, i.system, i.description, i.status, i.sync_status, i.start, i.end, i.quantity,
            i.guests, dict(i.details or {}), i.external_reference, i.confirmed_by, i.payment_method,
            tuple(_attempt(a, i.item_id) for a in by_item.get(i.pk, [])), _described(order, i, settings),
            timezone_for(booking_request(order, i), settings),
        )
        for i in order.items
    )
    routed = sorted((i for i in order.items if i.kind != "retail"),
                    key=lambda i: (i.status != ItemStatus.IN_PROGRESS, i.start or dt.date.max, i.item_id))
    places = {surface: next((p for i in routed if (p := destination_at(i.system, i.details or {}, settings,
                                                                         surface))), None)
              for surface in ("slack", "teams")}
    incident_id = next((a.incident_id for a in alerts if a.incident_id is not None), None)
    incident = session.get(Incident, incident_id) if incident_id is not None else None
    thread = (incident.channel, incident.message_id) if incident and incident.channel and incident.message_id \
        else None
    snapshot = OrderSnapshot(
        order_id=order.id, status=order.platform_status, placed_at=order.placed_at, currency=order.currency,
        total_minor=order.total_minor, **_guest(order), payment_provider=order.payment_provider,
        payment_reference=order.payment_reference, payment_state=order.payment_state,
        payment_detail=dict(order.payment_detail or {}), payment_checked_at=order.payment_checked_at,
        items=items,
        alerts=tuple(AlertView(a.surface, a.state, a.channel, a.message_id, a.acknowledged_by, a.snoozed_until,
                               a.snoozed_by, a.owner) for a in alerts),
        audit=tuple(AuditView(e.created_at, e.actor, e.action, e.item_id, e.result, dict(e.detail or {}))
                    for e in reversed(audit)),
        incident_id=incident_id, incident_thread=thread, default_timezone=settings.local_timezone,
        problems=problems.open_problems(session, order),
        slack_channel=places["slack"], teams_conversation=places["teams"], guest_erased_at=order.guest_erased_at,
    )
    if masked and order.guest_erased_at is None:
        return _masked(snapshot, order.guest_first_name, order.guest_last_name, Scrubber.of(order))
    return snapshot


def _guest(order: Order) -> dict[str, Any]:
    """The guest as the database holds them, or as erased."""
    if order.guest_erased_at is not None:
        return {"guest_name": ERASED, "guest_email": "", "guest_phone": ""}
    return {"guest_name": order.guest_name, "guest_email": order.guest_email, "guest_phone": order.guest_phone}


def _masked(s: OrderSnapshot, first: str, last: str, scrubber: Scrubber) -> OrderSnapshot:
    """`s` with the guest masked (`workflows.orders.masking`) and scrubbed from what booking
    systems and people wrote about the order: each attempt's message, raw log and warning, and
    the audit details (a reason typed). A vendor's error that quotes the guest's e-mail shows
    `[guest of ORD-…]` in its place."""
    def text(value: str | None) -> str | None:
        return scrubber.text(value) if value else value

    items = tuple(replace(i, attempts=tuple(replace(a, message=text(a.message), raw_log=text(a.raw_log),
                                                    warning=text(a.warning)) for a in i.attempts))
                  for i in s.items)
    audit = tuple(replace(e, detail=scrubber.json(e.detail)) if e.detail else e for e in s.audit)
    return replace(s, guest_name=masking.name(first, last), guest_email=masking.email(s.guest_email),
                   guest_phone=masking.phone(s.guest_phone), guest_masked=True, items=items, audit=audit)
