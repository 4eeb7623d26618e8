"""Reconciliation (issue 6): compare our database, the platform (DESIGN §3.2) and Stripe, and
list every mismatch with a link. Read-only: it proposes, people act.

Mismatches:
- paid but still In Progress past `RECONCILE_IN_PROGRESS_AFTER_MINUTES`;
- Complete with an item not Confirmed (retail: not Dispatched either);
- Confirmed without an external reference (nobody can find the booking again);
- refunded but Complete (the guest got the money back and a confirmation);
- Cancelled but still charged (source 003: refund it with Cancel Deliveries), until refunded;
- our state differs from the platform's (order or item status, or an order one side lacks).

Compared: our orders placed or updated within `RECONCILE_LOOKBACK_DAYS` or still In
Progress, plus the platform's orders stuck In Progress past the threshold.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select

from connectors.errors import ConnectorError
from connectors.types import PaymentCheck, PaymentState
from workflows.core import states
from workflows.core.db import transaction
from workflows.core.messages import messengers
from workflows.core.models import AuditEvent, Order, utcnow
from workflows.core.settings import Settings, get_settings
from workflows.systems.clients import order_link, platform_client, stripe_payments

log = logging.getLogger(__name__)

ACTOR = "syncdesk (reconciliation)"


class MismatchKind(enum.Enum):
    PAID_STILL_IN_PROGRESS = "paid_still_in_progress"
    COMPLETE_ITEM_NOT_CONFIRMED = "complete_item_not_confirmed"
    CONFIRMED_WITHOUT_REFERENCE = "confirmed_without_reference"
    REFUNDED_BUT_COMPLETE = "refunded_but_complete"
    CANCELLED_BUT_CHARGED = "cancelled_but_charged"
    STATE_DIFFERS = "state_differs"

    @property
    def label(self) -> str:
        return {
            MismatchKind.PAID_STILL_IN_PROGRESS: "Paid but still In Progress",
            MismatchKind.COMPLETE_ITEM_NOT_CONFIRMED: "Complete with an item not Confirmed",
            MismatchKind.CONFIRMED_WITHOUT_REFERENCE: "Confirmed without an external reference",
            MismatchKind.REFUNDED_BUT_COMPLETE: "Refunded but Complete",
            MismatchKind.CANCELLED_BUT_CHARGED: "Cancelled but still charged",
            MismatchKind.STATE_DIFFERS: "syncdesk and the platform disagree",
        }[self]


@dataclass(frozen=True)
class Mismatch:
    kind: MismatchKind
    order_id: str
    item_id: str | None
    detail: str
    link: str | None

    @property
    def text(self) -> str:
        where = f"{self.order_id}/{self.item_id}" if self.item_id else self.order_id
        return f"{self.kind.label}: {where} — {self.detail}" + (f" <{self.link}>" if self.link else "")


@dataclass(frozen=True)
class Report:
    at: dt.datetime
    checked: int
    mismatches: tuple[Mismatch, ...]
    problems: tuple[str, ...] = field(default=())  # what could not be checked, and why

    def of_kind(self, kind: MismatchKind) -> tuple[Mismatch, ...]:
        return tuple(m for m in self.mismatches if m.kind is kind)

    def render_text(self) -> str:
        head = (f"Reconciliation at {self.at:%Y-%m-%d %H:%M} UTC: {self.checked} "
                f"order{'s' if self.checked != 1 else ''} checked, "
                f"{len(self.mismatches)} mismatch{'es' if len(self.mismatches) != 1 else ''}")
        lines = [head] + [f"  • {m.text}" for m in self.mismatches]
        lines += [f"  ! {p}" for p in self.problems]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Side:
    """One order as one side sees it: status, items {id: (kind, status, reference)}."""

    status: str
    placed_at: dt.datetime | None
    items: dict[str, tuple[str, str, str | None]]
    payment_provider: str
    payment_reference: str
    total_minor: int
    currency: str


def _ours(order: Order) -> _Side:
    return _Side(order.platform_status, order.placed_at,
                 {i.item_id: (i.kind, i.status, i.external_reference) for i in order.items},
                 order.payment_provider, order.payment_reference, order.total_minor, order.currency)


def _theirs(data: dict[str, Any]) -> _Side:
    placed = data.get("placed_at")
    placed_at = dt.datetime.fromisoformat(placed.replace("Z", "+00:00")) if isinstance(placed, str) else None
    payment = data.get("payment") or {}
    return _Side(str(data.get("status", "")), placed_at,
                 {str(i.get("id")): (str(i.get("kind", "")), str(i.get("status", "")), i.get("external_reference"))
                  for i in data.get("items") or []},
                 str(payment.get("provider") or ""), str(payment.get("reference") or ""),
                 int(data.get("total_minor") or 0), str(data.get("currency") or ""))


def compare(order_id: str, ours: _Side | None, theirs: _Side | None, payment: PaymentCheck | None,
            now: dt.datetime, in_progress_after: dt.timedelta, link: str | None) -> list[Mismatch]:
    """Every mismatch of one order, from the two sides and the payment (each may be unknown)."""
    found: dict[tuple[MismatchKind, str | None], Mismatch] = {}

    def add(kind: MismatchKind, item_id: str | None, detail: str) -> None:
        found.setdefault((kind, item_id), Mismatch(kind, order_id, item_id, detail, link))

    truth = theirs or ours  # the platform is the source of truth for statuses
    assert truth is not None
    settled = payment is not None and payment.state.settled
    if truth.status == states.IN_PROGRESS and settled and truth.placed_at is not None \
            and now - truth.placed_at > in_progress_after:
        hours = (now - truth.placed_at).total_seconds() / 3600
        add(MismatchKind.PAID_STILL_IN_PROGRESS, None,
            f"payment {payment.reference} captured, order placed {hours:.1f} h ago and still In Progress")
    if truth.status == states.COMPLETE:
        for item_id, (kind, status, _) in sorted(truth.items.items()):
            done = (states.CONFIRMED, states.DISPATCHED) if kind == "retail" else (states.CONFIRMED,)
            if status not in done:
                add(MismatchKind.COMPLETE_ITEM_NOT_CONFIRMED, item_id, f"order is Complete but {item_id} is {status}")
    if truth.status == states.CANCELLED and settled:
        # Source 003: a paid order is refunded with Cancel Deliveries; until then the guest is charged.
        add(MismatchKind.CANCELLED_BUT_CHARGED, None,
            f"payment {payment.reference} captured and not (fully) refunded, but the order is Cancelled: "
            "refund with Cancel Deliveries on the platform")
    if payment is not None and payment.state is PaymentState.REFUNDED and truth.status == states.COMPLETE:
        add(MismatchKind.REFUNDED_BUT_COMPLETE, None,
            f"payment {payment.reference} refunded ({payment.refunded_minor} of {payment.received_minor}) "
            "but the order is Complete")
    for side, who in ((ours, "syncdesk"), (theirs, "the platform")):
        if side is None:
            continue
        for item_id, (kind, status, reference) in sorted(side.items.items()):
            if kind != "retail" and status == states.CONFIRMED and not reference:
                add(MismatchKind.CONFIRMED_WITHOUT_REFERENCE, item_id,
                    f"{item_id} is Confirmed in {who} with no external reference")
    if ours is None:
        add(MismatchKind.STATE_DIFFERS, None, f"the platform has it {truth.status}; syncdesk has no record of it")
    elif theirs is None:
        add(MismatchKind.STATE_DIFFERS, None, f"syncdesk has it {ours.status}; the platform does not know it")
    else:
        if ours.status != theirs.status:
            add(MismatchKind.STATE_DIFFERS, None, f"syncdesk says {ours.status}, the platform {theirs.status}")
        for item_id in sorted(set(ours.items) | set(theirs.items)):
            mine, platform = ours.items.get(item_id), theirs.items.get(item_id)
            if mine is None or platform is None or mine[1] != platform[1]:
                add(MismatchKind.STATE_DIFFERS, item_id,
                    f"syncdesk says {mine[1] if mine else 'no such item'}, "
                    f"the platform {platform[1] if platform else 'no such item'}")
    return list(found.values())


def reconcile(settings: Settings, *, now: dt.datetime | None = None,
              order_ids: Iterable[str] | None = None) -> Report:
    """Compare the three sources; nothing is changed anywhere."""
    now = now or utcnow()
    in_progress_after = dt.timedelta(minutes=settings.reconcile_in_progress_after_minutes)
    problems: list[str] = []
    with transaction(settings.database_url) as session:
        query = select(Order).order_by(Order.id)
        if order_ids is not None:
            query = query.where(Order.id.in_(list(order_ids)))
        else:
            since = now - dt.timedelta(days=settings.reconcile_lookback_days)
            query = query.where(or_(Order.updated_at >= since, Order.placed_at >= since,
                                    Order.platform_status == states.IN_PROGRESS))
        ours = {o.id: _ours(o) for o in session.scalars(query) if o.platform_status != states.TEST}
    theirs: dict[str, _Side | None] = {}
    platform_checked = False
    if settings.platform_api_url and settings.platform_api_key:
        platform_checked = True
        with platform_client(settings) as platform:
            if order_ids is None:
                try:
                    for data in platform.list_stuck(now - in_progress_after):
                        theirs[str(data.get("id"))] = _theirs(data)
                except ConnectorError as exc:
                    problems.append(f"could not list the platform's stuck orders: {exc.message}")
            for order_id in ours:
                if order_id in theirs:
                    continue
                try:
                    theirs[order_id] = _theirs(platform.get_order(order_id))
                except ConnectorError as exc:
                    if exc.status == 404:
                        theirs[order_id] = None
                    else:
                        problems.append(f"{order_id}: could not read it from the platform: {exc.message}")
    else:
        problems.append("PLATFORM_API_URL / PLATFORM_API_KEY not set: the platform was not compared")
    payments = _payments(settings, {oid: (theirs.get(oid) or ours.get(oid)) for oid in set(ours) | set(theirs)},
                         problems)
    mismatches: list[Mismatch] = []
    for order_id in sorted(set(ours) | set(theirs)):
        if platform_checked and order_id not in theirs and order_id in ours:
            continue  # the platform could not be read for it: reported under problems
        mine = ours.get(order_id)
        platform_side = theirs.get(order_id) if platform_checked else mine
        if mine is None and platform_side is None:
            continue
        if platform_side is not None and platform_side.status == states.TEST:
            continue
        mismatches += compare(order_id, mine, platform_side, payments.get(order_id), now, in_progress_after,
                              order_link(settings, order_id))
    return Report(now, len(set(ours) | set(theirs)), tuple(mismatches), tuple(problems))


def _payments(settings: Settings, sides: dict[str, _Side | None], problems: list[str]) -> dict[str, PaymentCheck]:
    wanted = {oid: s for oid, s in sides.items() if s is not None and s.payment_provider == "stripe"
              and s.payment_reference}
    if not wanted:
        return {}
    if settings.stripe_api_key is None:
        problems.append("STRIPE_API_KEY not set: payments were not compared")
        return {}
    stripe = stripe_payments(settings)
    checks: dict[str, PaymentCheck] = {}
    try:
        for order_id, side in sorted(wanted.items()):
            try:
                checks[order_id] = stripe.check(side.payment_reference, side.total_minor, side.currency)
            except ConnectorError as exc:
                problems.append(f"{order_id}: could not check payment {side.payment_reference}: {exc.message}")
    finally:
        stripe.close()
    return checks


def run_daily(day: str | None = None, settings: Settings | None = None, now: dt.datetime | None = None) -> str:
    """Job (the clock enqueues it once a day at RECONCILE_TIME): reconcile and post what it found, once a day."""
    settings = settings or get_settings()
    now = now or utcnow()
    which = day or now.date().isoformat()
    with transaction(settings.database_url) as session:
        ran = session.scalars(select(AuditEvent).where(AuditEvent.action == "reconcile.ran")
                              .order_by(AuditEvent.id.desc()).limit(30)).all()
        if any(e.detail.get("day") == which for e in ran):
            return "already ran"
    report = reconcile(settings, now=now)
    if report.mismatches or report.problems:
        messengers.get("slack").channel_message(report.render_text(), None)
    with transaction(settings.database_url) as session:
        states.audit(session, actor=ACTOR, action="reconcile.ran", day=which, checked=report.checked,
                     mismatches=len(report.mismatches), problems=len(report.problems))
    return f"{len(report.mismatches)} mismatches"
