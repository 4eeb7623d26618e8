"""What the chat layer shows of an outage: the incident as a frozen view, and the port its
message is shown through.

The outage message replaces the thread storm (issue 15): while a system's incident is open,
the failures attached to it are not posted one by one; the message carries the counts by
error class, the most urgent guests (soonest arrival first, with their order ids and links),
the totals by property and the recovery's progress, and "Show all" pages through every
affected order with its state (`page`). Each order stays individually tracked: its alert
row, attempts and audit trail are all there (`/syncdesk order X`).

Everything here is read in a handful of queries whatever the number of orders (one for the
items, one for their last attempts), so a 1,000-order outage re-renders in milliseconds.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.errors import ErrorClass
from connectors.routing import PROPERTY_KEYS
from workflows.core import states
from workflows.core.db import transaction
from workflows.core.messages import MessageRef
from workflows.core.models import Alert, Incident, MaintenanceWindow, Order, OrderItem, SyncAttempt
from workflows.core.ports import Port
from workflows.core.settings import Settings
from workflows.orders import masking
from workflows.systems.clients import order_link
from workflows.systems.names import system_name

URGENT_SHOWN = 10  # guests named in the outage message itself
PAGE_SIZE = 25  # orders per page of "Show all"

# "mostly timeouts": an error class in the plural, as the outage message says it.
CLASS_PLURALS = {
    "timeout": "timeouts", "connection": "connection failures", "server_error": "server errors",
    "rate_limited": "rate limiting", "no_availability": "no availability", "auth_failure": "authentication failures",
    "permission_denied": "permission refusals", "not_mapped": "unmapped properties",
    "data_format": "data format mismatches", "missing_field": "missing fields", "unknown": "unknown errors",
}
# The property an item belongs to, by the detail key that names it (connectors.routing.PROPERTY_KEYS).
PROPERTY_WORDS = {"hotel_id": "hotel", "property_id": "property", "property_code": "property",
                  "site_code": "site", "site_id": "site", "restaurant_id": "restaurant"}

# An affected item's state, as the view and "Show all" say it.
FAILED = "failed"
REBOOKING = "rebooking"
REBOOKED = "rebooked"
NO_AVAILABILITY = "no availability"
FAILED_AGAIN = "failed again"
CLOSED = "closed"  # confirmed or cancelled some other way (by hand, on the platform)
OPEN_STATES = (FAILED, REBOOKING, NO_AVAILABILITY, FAILED_AGAIN)


@dataclass(frozen=True)
class AffectedItem:
    """One item of an order attached to the outage, as "Show all" lists it."""

    order_id: str
    item_id: str
    guest_name: str
    arrival: dt.date | None
    property: str | None  # "hotel 13098"
    state: str
    error_class: str | None
    link: str | None  # the order's page on the platform, when known

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES


@dataclass(frozen=True)
class Progress:
    """The recovery ("Reprocess all") as the database says it is now."""

    total: int
    rebooked: int
    no_availability: int
    failed: int
    pending: int
    rebooking: int = 0
    next_arrival: dt.date | None = None
    paused: bool = False

    @property
    def done(self) -> bool:
        return self.pending == 0 and self.rebooking == 0

    @property
    def text(self) -> str:
        """"412/1,000 rebooked · 3 no availability · next: arrivals on 2 Dec"."""
        parts = [f"{self.rebooked:,}/{self.total:,} rebooked"]
        if self.no_availability:
            parts.append(f"{self.no_availability:,} no availability")
        if self.failed:
            parts.append(f"{self.failed:,} failed again")
        if self.paused and not self.done:
            parts.append(f"paused, {self.pending + self.rebooking:,} waiting for the system to recover")
        elif not self.done:
            parts.append(f"next: arrivals on {self.next_arrival:%-d %b}" if self.next_arrival
                         else f"{self.pending + self.rebooking:,} to go")
        return " · ".join(parts)


def place(system: str, prop: str | None) -> str:
    """"PMS at HARBOUR", or "SynXis (every property)": where a maintenance window is."""
    return f"{system_name(system)} at {prop}" if prop else f"{system_name(system)} (every property)"


@dataclass(frozen=True)
class MaintenanceNote:
    """The maintenance window whose failures the incident holds (issue 26,
    `workflows.outage.maintenance`), as its message says it."""

    window_id: int
    place: str  # "PMS at HARBOUR"
    reason: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    timezone: str  # the property's: the times are said there
    set_by: str
    ended_at: dt.datetime | None = None
    ended_by: str | None = None

    def local(self, t: dt.datetime) -> str:
        """"03:00 AEDT": a time of the window where its property is."""
        local = t.astimezone(ZoneInfo(self.timezone))
        return f"{local:%H:%M} {local.tzname()}"

    @property
    def early(self) -> bool:
        return self.ended_at is not None and self.ended_at < self.ends_at


@dataclass(frozen=True)
class IncidentView:
    incident_id: int
    system: str
    system_name: str
    state: str  # "open" | "quiet"
    opened_at: dt.datetime
    first_failure_at: dt.datetime
    last_failure_at: dt.datetime
    all_clear_at: dt.datetime | None
    failure_count: int
    error_classes: tuple[tuple[str, int], ...]  # most frequent first
    order_ids: tuple[str, ...]  # the orders whose alerts are attached
    still_failed: int  # items of this system still failed, what "Reprocess all" would retry
    reprocess_requested_by: str | None
    reprocess_requested_at: dt.datetime | None
    progress: Progress | None
    channel: str | None
    message_id: str | None
    affected: int = 0  # items of the system on the attached orders
    urgent: tuple[AffectedItem, ...] = ()  # the open ones, soonest arrival first (URGENT_SHOWN)
    by_property: tuple[tuple[str, int, int], ...] = ()  # (property, affected, still open), most first
    open_items: int = 0
    maintenance: MaintenanceNote | None = None  # the window it holds the failures of (issue 26)

    @property
    def in_maintenance(self) -> bool:
        """Its window is running: its failures are held and nobody is paged."""
        return self.state == states.INCIDENT_MAINTENANCE

    @property
    def span_text(self) -> str:
        minutes = round((self.last_failure_at - self.first_failure_at).total_seconds() / 60)
        return "in under a minute" if minutes < 1 else f"in {minutes} minute{'s' if minutes != 1 else ''}"

    @property
    def summary(self) -> str:
        """"Possible outage: SynXis — 7 failures in 6 minutes, mostly timeouts"; for a maintenance
        window, "Maintenance: PMS at HARBOUR until 03:00 AEDT (night audit) — 2 failures held"."""
        window = self.maintenance
        if window is not None:
            count = f"{self.failure_count:,} failure{'s' if self.failure_count != 1 else ''}"
            if self.in_maintenance:
                return (f"Maintenance: {window.place} until {window.local(window.ends_at)} ({window.reason}) — "
                        f"{count} held, nobody paged")
            return f"Maintenance over: {window.place} ({window.reason}) — {count} during the window"
        mostly = ""
        if self.error_classes:
            top = self.error_classes[0][0]
            mostly = f", mostly {CLASS_PLURALS.get(top, top.replace('_', ' '))}"
        return f"Possible outage: {self.system_name} — {self.failure_count:,} failures {self.span_text}{mostly}"

    @property
    def reprocess_all_offered(self) -> bool:
        return self.state == states.INCIDENT_QUIET and self.reprocess_requested_at is None and self.still_failed > 0

    @property
    def recovery_paused(self) -> bool:
        return self.state == states.INCIDENT_OPEN and self.reprocess_requested_at is not None

    @property
    def maintenance_text(self) -> str:
        """What the message says while its window runs."""
        window = self.maintenance
        if window is None:
            return ""
        return (f"🔧 {window.place} is in a maintenance window until {window.local(window.ends_at)}: {window.reason} "
                f"(set by {window.set_by}). Nobody is paged or escalated for failures there: they are listed here "
                "instead of one alert each, and every order stays tracked (`order ID` shows one with its buttons). "
                f"When the window ends, this message offers Reprocess all; `maintenance end {window.window_id}` "
                "ends it early.")

    @property
    def all_clear_text(self) -> str:
        quiet = f"All clear: no {self.system_name} failures since {self.last_failure_at:%H:%M} UTC."
        window = self.maintenance
        if window is not None and window.ended_at is not None:
            by = f", early, by {window.ended_by}" if window.early and window.ended_by else ""
            quiet = f"Maintenance over: {window.place} ({window.reason}) ended at {window.local(window.ended_at)}{by}."
        if self.reprocess_requested_at is not None:
            return f"{quiet} Rebooking at {self.system_name}'s pace, soonest arrival first."
        if self.still_failed:
            return f"{quiet} {self.still_failed:,} still failed — Reprocess all {self.still_failed:,} from the outage message."
        return f"{quiet} Nothing is left to reprocess."


@dataclass(frozen=True)
class IncidentPage:
    """One page of "Show all": every affected order with its state, open ones first by arrival."""

    incident: IncidentView
    items: tuple[AffectedItem, ...]
    page: int  # from 0
    pages: int

    @property
    def has_previous(self) -> bool:
        return self.page > 0

    @property
    def has_next(self) -> bool:
        return self.page + 1 < self.pages


def _property(details: dict[str, object] | None) -> str | None:
    for key in PROPERTY_KEYS:
        value = (details or {}).get(key)
        if value not in (None, ""):
            return f"{PROPERTY_WORDS.get(key, key)} {value}"
    return None


def _items(session: Session, incident: Incident) -> list[OrderItem]:
    """The system's items on the orders attached to the incident (retail never counts)."""
    attached = select(Alert.order_id).where(Alert.incident_id == incident.id)
    return list(session.scalars(
        select(OrderItem).where(OrderItem.order_id.in_(attached), OrderItem.system == incident.system,
                                OrderItem.kind != "retail")))


def _last_attempts(session: Session, incident: Incident) -> dict[int, SyncAttempt]:
    attached = select(Alert.order_id).where(Alert.incident_id == incident.id)
    last = (select(SyncAttempt.item_pk, func.max(SyncAttempt.number).label("number"))
            .where(SyncAttempt.order_id.in_(attached)).group_by(SyncAttempt.item_pk).subquery())
    rows = session.scalars(select(SyncAttempt).join(
        last, (SyncAttempt.item_pk == last.c.item_pk) & (SyncAttempt.number == last.c.number)))
    return {a.item_pk: a for a in rows}


def round_started(incident: Incident) -> dt.datetime | None:
    """When the recovery's current round began: the press of Reprocess all, or the last all-clear
    after it (a paused recovery resumes with a new round)."""
    if incident.reprocess_requested_at is None:
        return None
    if incident.all_clear_at is not None and incident.all_clear_at > incident.reprocess_requested_at:
        return incident.all_clear_at
    return incident.reprocess_requested_at


def _state(item: OrderItem, last: SyncAttempt | None, since: dt.datetime | None) -> str:
    if item.status == states.CONFIRMED:
        return REBOOKED
    if item.status != states.IN_PROGRESS:
        return CLOSED
    if item.sync_status == states.Q_PROCESSING:
        return REBOOKING
    if since is not None and last is not None and last.started_at >= since:
        return NO_AVAILABILITY if last.error_class == ErrorClass.NO_AVAILABILITY.value else FAILED_AGAIN
    return FAILED


def _urgency(item: AffectedItem) -> tuple[bool, dt.date, str, str]:
    return (not item.open, item.arrival or dt.date.max, item.order_id, item.item_id)


def affected_items(session: Session, incident: Incident, link: Callable[[str], str | None] | None = None,
                   guest_details: str = masking.FULL) -> list[AffectedItem]:
    """Every affected item with its state: open ones first, soonest arrival first; the guests as
    `guest_details` (CHAT_GUEST_DETAILS) shows them."""
    items = _items(session, incident)
    last = _last_attempts(session, incident)
    since = round_started(incident)
    guests = {order_id: masking.guest_name(first, last, guest_details) for order_id, first, last in session.execute(
        select(Order.id, Order.guest_first_name, Order.guest_last_name)
        .where(Order.id.in_({i.order_id for i in items})))} if items else {}
    out = []
    for item in items:
        attempt = last.get(item.pk)
        out.append(AffectedItem(item.order_id, item.item_id, guests.get(item.order_id, ""), item.start,
                                _property(item.details), _state(item, attempt, since),
                                attempt.error_class if attempt else None, link(item.order_id) if link else None))
    return sorted(out, key=_urgency)


def still_failed(session: Session, incident: Incident) -> list[OrderItem]:
    """What "Reprocess all" retries: the system's items still failed, soonest arrival first."""
    return sorted((i for i in _items(session, incident) if i.status == states.IN_PROGRESS
                   and i.sync_status in (states.Q_FAILED, states.Q_READY)),
                  key=lambda i: (i.start or dt.date.max, i.order_id, i.item_id))


def _progress(incident: Incident, items: list[AffectedItem]) -> Progress | None:
    if incident.reprocess_requested_at is None or not incident.reprocess_items:
        return None
    wanted = {tuple(pair) for pair in incident.reprocess_items.get("items", [])}
    mine = [i for i in items if (i.order_id, i.item_id) in wanted]
    count = Counter(i.state for i in mine)
    pending = [i for i in mine if i.state in (FAILED, REBOOKING)]
    return Progress(len(wanted), count[REBOOKED], count[NO_AVAILABILITY], count[FAILED_AGAIN], count[FAILED],
                    rebooking=count[REBOOKING], next_arrival=min((i.arrival for i in pending if i.arrival),
                                                                 default=None),
                    paused=incident.state == states.INCIDENT_OPEN)


def progress_of(session: Session, incident: Incident) -> Progress | None:
    return _progress(incident, affected_items(session, incident))


def _view(session: Session, incident: Incident, items: list[AffectedItem]) -> IncidentView:
    order_ids = tuple(sorted(set(session.scalars(select(Alert.order_id).where(Alert.incident_id == incident.id)))))
    classes = tuple(sorted((incident.error_classes or {}).items(), key=lambda kv: (-kv[1], kv[0])))
    open_items = [i for i in items if i.open]
    properties: Counter[str] = Counter(i.property or "no property" for i in items)
    still_open: Counter[str] = Counter(i.property or "no property" for i in open_items)
    by_property = tuple((p, n, still_open[p]) for p, n in sorted(properties.items(), key=lambda kv: (-kv[1], kv[0])))
    still = sum(1 for i in items if i.state in (FAILED, FAILED_AGAIN, NO_AVAILABILITY))
    return IncidentView(
        incident.id, incident.system, system_name(incident.system), incident.state, incident.opened_at,
        incident.first_failure_at, incident.last_failure_at, incident.all_clear_at, incident.failure_count,
        classes, order_ids, still, incident.reprocess_requested_by,
        incident.reprocess_requested_at, _progress(incident, items), incident.channel, incident.message_id,
        affected=len(items), urgent=tuple(open_items[:URGENT_SHOWN]), by_property=by_property,
        open_items=len(open_items), maintenance=_maintenance(session, incident),
    )


def _maintenance(session: Session, incident: Incident) -> MaintenanceNote | None:
    window = session.scalar(select(MaintenanceWindow).where(MaintenanceWindow.incident_id == incident.id).limit(1))
    if window is None:
        return None
    set_by = "the routing file" if window.recurrence else window.created_by
    return MaintenanceNote(window.id, place(window.system, window.property), window.reason, window.starts_at,
                           window.ends_at, window.timezone, set_by, window.ended_at, window.ended_by)


def view(session: Session, incident_id: int, link: Callable[[str], str | None] | None = None,
         guest_details: str = masking.FULL) -> IncidentView | None:
    incident = session.get(Incident, incident_id)
    if incident is None:
        return None
    return _view(session, incident, affected_items(session, incident, link, guest_details))


def page(session: Session, incident_id: int, number: int, link: Callable[[str], str | None] | None = None,
         size: int = PAGE_SIZE, guest_details: str = masking.FULL) -> IncidentPage | None:
    """Page `number` (from 0; clamped to the last) of "Show all"."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        return None
    items = affected_items(session, incident, link, guest_details)
    pages = max(1, math.ceil(len(items) / size))
    number = min(max(0, number), pages - 1)
    return IncidentPage(_view(session, incident, items), tuple(items[number * size:(number + 1) * size]), number, pages)


def shown(settings: Settings, incident_id: int) -> IncidentView | None:
    """The incident as its message shows it, order links included."""
    with transaction(settings.database_url) as session:
        return view(session, incident_id, lambda order_id: order_link(settings, order_id),
                    settings.chat_guest_details)


def incident_page(settings: Settings, incident_id: int, number: int) -> IncidentPage | None:
    """Page `number` of the outage's "Show all", order links included (the chat layer's modal
    and list card)."""
    with transaction(settings.database_url) as session:
        return page(session, incident_id, number, lambda order_id: order_link(settings, order_id),
                    guest_details=settings.chat_guest_details)


IncidentRead = Callable[[], IncidentView]
"""Reads the incident as it is now (`shown`, bound to one incident)."""


class IncidentBoard(Protocol):
    def show_incident(self, read: IncidentRead, current: MessageRef) -> MessageRef:
        """Post or update the outage message with what `read()` returns.

        A surface that paces its writes calls `read` once its turn has come, not before: in a
        storm the wait for the channel can be seconds, and what is written must be the
        incident as it is then, not as it was when the job started (issue 15: every failure
        listed within 10 s). `current` is the message already posted, or (None, None);
        returns the message now showing it. When the view's `reprocess_all_offered`, the
        message carries the "Reprocess all N" button (action value: the incident id); always
        "Show all".
        """
        ...


boards: Port[IncidentBoard] = Port("outage board")
