"""Erasing a guest's name, e-mail and phone (issue 28): from the database, in every table that
holds them, and from the chat messages already posted about their orders.

What erasing one order does, in one transaction with its audit event:

- `orders`: the guest's first and last name, e-mail and phone blanked, `guest_erased_at` set (a
  later copy of the order from the platform does not bring them back: `workflows.orders.service`);
- `order_search`: the name, e-mail and phone terms dropped (`find` no longer finds the guest);
- `intake_events.payload`: the platform's copy as received: its `order.guest` blanked and the
  guest scrubbed from the rest (a failure message or log may quote them, `workflows.orders.scrub`);
- `sync_attempts.message` and `raw_log`, `order_items.details` and `notes`, `audit_events.detail`:
  scrubbed. The audit trail keeps who did what and when, with the guest replaced by the order id;
- one `guest.erased` audit event saying why and how many rows of each table changed, never the
  values erased;
- the chat: the order's alert (Slack `chat.update`, the Teams card updated in place) and the
  thread replies posted under it are rewritten from the erased state (`rewriters`, registered by
  the chat layer like `workflows.orders.notify.notifiers`): nothing is posted anew.

An order erased already is left as it is: erasing is idempotent.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflows.core import queue, states
from workflows.core.db import transaction
from workflows.core.messages import MessageRef
from workflows.core.models import (
    Alert,
    AuditEvent,
    IntakeEvent,
    Order,
    OrderSearch,
    SyncAttempt,
    utcnow,
)
from workflows.core.ports import Port
from workflows.core.settings import Settings, get_settings
from workflows.orders.scrub import Scrubber
from workflows.orders.search import normalise, phone_term, reindex
from workflows.orders.snapshot import OrderSnapshot, load

log = logging.getLogger(__name__)

REWRITE_CHAT = "workflows.guests.erasure.rewrite_chat"


class Rewriter(Protocol):
    def rewrite(self, snapshot: OrderSnapshot, current: MessageRef) -> int:
        """Rewrite, in place and from `snapshot`, the order's alert at `current` and the thread
        replies already posted under it; never post anything new. How many messages were rewritten."""
        ...


rewriters: Port[Rewriter] = Port("message rewriter")


@dataclass(frozen=True)
class Erased:
    """One order's guest erased: the rows changed in each table (never the values)."""

    order_id: str
    rows: tuple[tuple[str, int], ...]

    def describe(self) -> str:
        return ", ".join(f"{table} {count}" for table, count in self.rows if count)


def is_open(order: Order) -> bool:
    """An alert of the order is not resolved: someone may still have to book the guest."""
    return any(a.state != states.A_RESOLVED for a in order.alerts)


def erase_order(session: Session, order: Order, *, actor: str, why: str, rewrite_later: bool = True) -> Erased | None:
    """Erase the order's guest (inside the caller's transaction; see the module docstring); None
    when it was erased already. `rewrite_later`: ask a worker to rewrite its chat messages
    (through the outbox); the caller does it itself otherwise (`rewrite_chat`)."""
    if order.guest_erased_at is not None:
        return None
    rows = _scrub_rows(session, order, [Scrubber.of(order)], since=None)
    terms = select(func.count()).select_from(OrderSearch).where(OrderSearch.order_id == order.id)
    before = session.scalar(terms) or 0
    order.guest_first_name = order.guest_last_name = order.guest_email = order.guest_phone = ""
    order.guest_erased_at = utcnow()
    reindex(session, order)
    rows |= {"orders": 1, "order_search": before - (session.scalar(terms) or 0)}
    return _erased(session, order, rows, actor=actor, why=why, rewrite_later=rewrite_later)


def erase_late_copies(session: Session, order: Order, *, actor: str) -> Erased | None:
    """An erased order the platform sent again since (a later webhook: the order row and `find`
    stay erased, but the stored payload names the guest, and its failure message may): scrubbed
    like the first time, with the details those payloads carry. None when none came."""
    if order.guest_erased_at is None:
        return None
    late = session.scalars(select(IntakeEvent).where(IntakeEvent.order_id == order.id,
                                                     IntakeEvent.received_at >= order.guest_erased_at)).all()
    guests = {tuple(str(g.get(k) or "") for k in ("first_name", "last_name", "email", "phone"))
              for e in late if isinstance(g := (e.payload.get("order") or {}).get("guest"), dict)}
    scrubbers = [Scrubber.for_guest(order.id, *guest) for guest in guests if any(guest)]
    if not scrubbers:
        return None
    rows = _scrub_rows(session, order, scrubbers, since=order.guest_erased_at)
    order.guest_erased_at = utcnow()
    return _erased(session, order, rows, actor=actor, why="a later copy from the platform", rewrite_later=True)


def _scrub_rows(session: Session, order: Order, scrubbers: list[Scrubber], *,
                since: dt.datetime | None) -> dict[str, int]:
    """Scrub the guest from the order's free text (payloads received `since`, or all), blanking the
    stored payloads' guest; the rows changed per table."""
    rows: dict[str, int] = {}

    def changed(table: str) -> None:
        rows[table] = rows.get(table, 0) + 1

    def text(value: str | None) -> str | None:
        for scrub in scrubbers:
            value = scrub.text(value) if value else value
        return value

    def json(value: Any) -> Any:
        for scrub in scrubbers:
            value = scrub.json(value)
        return value

    events = select(IntakeEvent).where(IntakeEvent.order_id == order.id)
    for event in session.scalars(events if since is None else events.where(IntakeEvent.received_at >= since)):
        payload = json(event.payload)
        placed = payload.get("order") if isinstance(payload, dict) else None
        if isinstance(placed, dict) and isinstance(placed.get("guest"), dict):
            placed["guest"] = {key: "" for key in placed["guest"]}
        if payload != event.payload:
            event.payload = payload
            changed("intake_events")
    for attempt in session.scalars(select(SyncAttempt).where(SyncAttempt.order_id == order.id)):
        message, raw_log = text(attempt.message), text(attempt.raw_log)
        if (message, raw_log) != (attempt.message, attempt.raw_log):
            attempt.message, attempt.raw_log = message, raw_log
            changed("sync_attempts")
    for item in order.items:
        details, notes = json(dict(item.details or {})), text(item.notes)
        if details != (item.details or {}) or notes != item.notes:
            item.details, item.notes = details, notes
            changed("order_items")
    for event in session.scalars(select(AuditEvent).where(AuditEvent.order_id == order.id)):
        detail = json(dict(event.detail or {}))
        if detail != (event.detail or {}):
            event.detail = detail
            changed("audit_events")
    return rows


def _erased(session: Session, order: Order, rows: dict[str, int], *, actor: str, why: str,
            rewrite_later: bool) -> Erased:
    erased = Erased(order.id, tuple(sorted(rows.items())))
    states.audit(session, actor=actor, action="guest.erased", order_id=order.id, why=why, rows=dict(erased.rows))
    if rewrite_later and any(a.message_id for a in order.alerts):
        queue.add(session, REWRITE_CHAT, queue.job_id("guest-chat", order.id, utcnow().isoformat()),
                  order_id=order.id)
    return erased


def rewrite_chat(order_id: str, settings: Settings | None = None) -> str:
    """Job: rewrite the order's chat messages from what the database holds now (after an
    erasure). A surface that fails raises, and RQ tries the job again."""
    settings = settings or get_settings()
    done = sum(count for _, count in _rewrite(settings, order_id))
    return f"{done} message{'s' if done != 1 else ''} rewritten"


def _rewrite(settings: Settings, order_id: str) -> list[tuple[str, int]]:
    """(surface, messages rewritten) for each surface the order's alert was posted on."""
    with transaction(settings.database_url) as session:
        snapshot = load(session, order_id, settings=settings)
        posted = session.execute(select(Alert.surface, Alert.channel, Alert.message_id).where(
            Alert.order_id == order_id, Alert.message_id.is_not(None)).order_by(Alert.surface)).all()
    if snapshot is None:
        return []
    return [(surface, rewriters.get(surface).rewrite(snapshot, (channel, message_id)))
            for surface, channel, message_id in posted]


# -- on request: `syncdesk erase-guest` -----------------------------------------------------------

@dataclass(frozen=True)
class ErasureReport:
    """What `erase_guest` found and did."""

    kind: str  # what the key was taken for: "e-mail", "phone" or "order"
    erased: tuple[Erased, ...] = ()
    already: tuple[str, ...] = ()  # the guest's orders erased before
    kept_open: tuple[str, ...] = ()  # orders with an open alert, not erased (include_open not given)
    rewritten: tuple[str, ...] = ()  # "ORD-1: slack 2, teams 2"
    problems: tuple[str, ...] = ()  # chat messages not rewritten now, left to a worker

    @property
    def found(self) -> bool:
        return bool(self.erased or self.already or self.kept_open)


def orders_of(session: Session, key: str) -> tuple[str, list[Order]]:
    """What `key` is (an order id, an e-mail or a phone number) and the orders of that guest:
    with an order id, that order and every other with its guest's e-mail or phone."""
    key = key.strip()
    order = session.get(Order, key) if key else None
    if order is not None:
        terms = {t for t in (normalise(order.guest_email), phone_term(order.guest_phone) if order.guest_phone
                             else None) if t}
        kind = "order"
    elif "@" in key:
        terms, kind = {normalise(key)}, "e-mail"
    elif phone_term(key):
        terms, kind = {phone_term(key) or ""}, "phone"
    else:
        return "order", []
    ids = set(session.scalars(select(OrderSearch.order_id).where(OrderSearch.term.in_([t[:200] for t in terms]))))
    if order is not None:
        ids.add(order.id)
    orders = session.scalars(select(Order).where(Order.id.in_(ids)).order_by(Order.id).with_for_update()).all()
    # a search term is a prefix-sized copy: keep only the orders whose guest really is this one
    return kind, [o for o in orders if o.id == key or (o.guest_email and normalise(o.guest_email) in terms)
                  or (o.guest_phone and phone_term(o.guest_phone) in terms)]


def erase_guest(settings: Settings, key: str, actor: str, *, include_open: bool = False) -> ErasureReport:
    """Erase the guest named by `key` (e-mail, phone or one of their order ids) from every order
    of theirs, then rewrite those orders' chat messages now. An order with an open alert is kept
    unless `include_open` (its booking may still have to be made, and that needs the guest)."""
    erased: list[Erased] = []
    already: list[str] = []
    kept: list[str] = []
    with transaction(settings.database_url) as session:
        kind, orders = orders_of(session, key)
        for order in orders:
            if order.guest_erased_at is not None:
                already.append(order.id)
            elif is_open(order) and not include_open:
                kept.append(order.id)
            else:
                done = erase_order(session, order, actor=actor, why=f"request by {kind}", rewrite_later=False)
                if done is not None:
                    erased.append(done)
    rewritten, problems = [], []
    for one in erased:
        try:
            counts = _rewrite(settings, one.order_id)
        except Exception as exc:  # outermost boundary of the chat attempt (a surface's errors): a worker takes over
            log.warning("chat messages of %s not rewritten now (%s): a worker will", one.order_id,
                        exc.__class__.__name__)
            problems.append(f"{one.order_id}: {exc.__class__.__name__}; a worker rewrites them (job {REWRITE_CHAT})")
            with transaction(settings.database_url) as session:
                queue.add(session, REWRITE_CHAT, queue.job_id("guest-chat", one.order_id, utcnow().isoformat()),
                          order_id=one.order_id)
                entries = queue.added(session)
            queue.dispatch(settings, entries)
            continue
        if any(n for _, n in counts):
            rewritten.append(f"{one.order_id}: " + ", ".join(f"{surface} {n}" for surface, n in counts if n))
    return ErasureReport(kind, tuple(erased), tuple(already), tuple(kept), tuple(rewritten), tuple(problems))
