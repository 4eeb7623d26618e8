"""Escalation: an alert nobody handles is worse than none (issue 6).

Policy (defaults; settings `ESCALATION_*`): no human action 15 minutes after the alert
opened — 5 when the guest arrives within 24 hours (urgency follows the guest, DESIGN §1) —
sends the on-call person a direct message with the alert; still unhandled 15 minutes later
it is escalated in the channel (`@here` or a named group) and, with `PAGERDUTY_ROUTING_KEY`,
paged through PagerDuty with one dedup key per order, resolved when the alert resolves.
Any button press or "I'm on it" calls `acknowledge`, which stops it.

Timers are state, not sleeps: `alerts.escalation_level` / `escalated_at` plus the worker's
clock, which enqueues `check_due` every `ESCALATION_CHECK_SECONDS`. A level moves by
compare-and-set (`... WHERE escalation_level = n`), so any number of concurrent checks
escalate once, and the message it implies is written to the outbox in the same
transaction, so a worker restart loses nothing. Alerts grouped under an open outage
incident do not escalate one by one: the incident paged on-call once (workflows.outage).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from connectors.errors import ErrorClass
from workflows import queue, states
from workflows.announce import announcer_for
from workflows.db import transaction
from workflows.models import Alert, AuditEvent, Incident, OrderItem, utcnow
from workflows.oncall import rotation_for, who
from workflows.outage import system_name
from workflows.settings import Settings, get_settings
from workflows.snapshot import OrderSnapshot, load

log = logging.getLogger(__name__)

ACTOR = "syncdesk (escalation)"
LEVEL_DM = 1
LEVEL_CHANNEL = 2
OPENED_ACTIONS = ("alert.created", "alert.open")  # audit actions that (re)start an alert's clock


@dataclass(frozen=True)
class Policy:
    dm_after: dt.timedelta = dt.timedelta(minutes=15)
    dm_after_soon: dt.timedelta = dt.timedelta(minutes=5)
    soon_within: dt.timedelta = dt.timedelta(hours=24)
    channel_after: dt.timedelta = dt.timedelta(minutes=15)
    mention: str = "@here"
    timezone: str = "UTC"

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            dt.timedelta(minutes=settings.escalation_dm_after_minutes),
            dt.timedelta(minutes=settings.escalation_dm_after_minutes_soon),
            dt.timedelta(hours=settings.escalation_soon_within_hours),
            dt.timedelta(minutes=settings.escalation_channel_after_minutes),
            settings.escalation_mention,
            settings.local_timezone,
        )

    def arrives_soon(self, arrival: dt.date | None, now: dt.datetime) -> bool:
        """The guest arrives within `soon_within` (or already has): the start of the arrival day, locally."""
        if arrival is None:
            return False
        starts = dt.datetime.combine(arrival, dt.time(0), ZoneInfo(self.timezone))
        return starts.astimezone(dt.timezone.utc) - now <= self.soon_within

    def dm_delay(self, arrival: dt.date | None, now: dt.datetime) -> dt.timedelta:
        return self.dm_after_soon if self.arrives_soon(arrival, now) else self.dm_after


@dataclass(frozen=True)
class Escalation:
    order_id: str
    level: int
    due_at: dt.datetime


def dedup_key(order_id: str) -> str:
    """PagerDuty's dedup key for an order: every page and resolve of it is one PagerDuty alert."""
    return f"syncdesk:order:{order_id}"[:255]


# -- the clock's check -------------------------------------------------------------------

def _primary_open_alerts(session: Session) -> list[Alert]:
    """One open alert per order (the first surface's): escalation is per order, not per surface."""
    rows = session.scalars(select(Alert).where(Alert.state == states.A_OPEN, Alert.escalation_level < LEVEL_CHANNEL)
                           .order_by(Alert.order_id, Alert.id)).all()
    seen: dict[str, Alert] = {}
    for alert in rows:
        seen.setdefault(alert.order_id, alert)
    return list(seen.values())


def _clock_starts(session: Session, order_ids: list[str]) -> dict[str, dt.datetime]:
    if not order_ids:
        return {}
    rows = session.execute(
        select(AuditEvent.order_id, func.max(AuditEvent.created_at))
        .where(AuditEvent.order_id.in_(order_ids), AuditEvent.action.in_(OPENED_ACTIONS))
        .group_by(AuditEvent.order_id)
    ).all()
    return {order_id: _utc(at) for order_id, at in rows if at is not None}


def _utc(value: dt.datetime) -> dt.datetime:
    # func.max() bypasses UTCDateTime's result processing on SQLite.
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value


def arrivals(session: Session, order_ids: Iterable[str]) -> dict[str, dt.date]:
    """Each order's arrival: the earliest start of its non-retail items still In Progress."""
    ids = list(order_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(OrderItem.order_id, func.min(OrderItem.start))
        .where(OrderItem.order_id.in_(ids), OrderItem.kind != "retail", OrderItem.start.is_not(None),
               OrderItem.status == states.IN_PROGRESS)
        .group_by(OrderItem.order_id)
    ).all()
    return {order_id: (start if isinstance(start, dt.date) else dt.date.fromisoformat(str(start)))
            for order_id, start in rows if start is not None}


def _move_level(session: Session, alert: Alert, level: int, now: dt.datetime) -> bool:
    """Compare-and-set the order's escalation from `level` to `level + 1`; True for the one winner."""
    changed = session.execute(
        update(Alert)
        .where(Alert.id == alert.id, Alert.escalation_level == level, Alert.state == states.A_OPEN)
        .values(escalation_level=level + 1, escalated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    return changed == 1


def check_due(settings: Settings | None = None, now: dt.datetime | None = None) -> list[Escalation]:
    """Escalate every alert whose time has come, once; ask PagerDuty to resolve what resolved.

    The clock enqueues this every ESCALATION_CHECK_SECONDS (job `workflows.escalation.check_due`).
    """
    settings = settings or get_settings()
    now = now or utcnow()
    policy = Policy.from_settings(settings)
    made: list[Escalation] = []
    with transaction(settings.database_url) as session:
        alerts = _primary_open_alerts(session)
        order_ids = [a.order_id for a in alerts]
        started = _clock_starts(session, order_ids)
        arriving = arrivals(session, order_ids)
        incidents = {i.id: i for i in session.scalars(select(Incident).where(
            Incident.id.in_({a.incident_id for a in alerts if a.incident_id is not None})))}
        for alert in alerts:
            incident = incidents.get(alert.incident_id) if alert.incident_id is not None else None
            if incident is not None and incident.state == "open":
                continue  # the outage paged on-call once; its alerts wait for the all-clear
            if alert.escalation_level == 0:
                base = max(t for t in (alert.created_at, started.get(alert.order_id), alert.last_human_action_at,
                                       incident.all_clear_at if incident else None) if t is not None)
                due = base + policy.dm_delay(arriving.get(alert.order_id), now)
            else:
                base = alert.escalated_at or alert.created_at
                due = base + policy.channel_after
            if now < due or not _move_level(session, alert, alert.escalation_level, now):
                continue
            level = alert.escalation_level + 1
            waited = int((now - (started.get(alert.order_id) or alert.created_at)).total_seconds() // 60)
            queue.add(session, "workflows.escalation.notify", queue.job_id("escalate", alert.order_id, level,
                                                                            now.isoformat()),
                      order_id=alert.order_id, level=level, waited_minutes=waited)
            if level == LEVEL_CHANNEL and settings.pagerduty_routing_key is not None:
                queue.add(session, "workflows.escalation.page", queue.job_id("page", alert.order_id, now.isoformat()),
                          order_id=alert.order_id, waited_minutes=waited)
            states.audit(session, actor=ACTOR, action="escalation.due", order_id=alert.order_id, level=level,
                         due_at=due.isoformat())
            made.append(Escalation(alert.order_id, level, due))
        _resolve_pages(session)
        entry_ids = queue.added(session)
    _dispatch(settings, entry_ids)
    return made


def _dispatch(settings: Settings, entry_ids: list[int]) -> None:
    try:
        queue.dispatch(settings, entry_ids)
    except Exception:  # outermost boundary: the outbox keeps the jobs for the clock's next drain
        log.exception("dispatch after escalation failed; the outbox keeps the jobs")


def _resolve_pages(session: Session, order_id: str | None = None) -> int:
    """Paged orders whose alerts have all resolved: clear `paged_at` and ask PagerDuty to resolve."""
    query = select(Alert.order_id, func.max(Alert.paged_at)).where(Alert.paged_at.is_not(None))
    if order_id is not None:
        query = query.where(Alert.order_id == order_id)
    asked = 0
    for oid, paged_at in session.execute(query.group_by(Alert.order_id)).all():
        still_open = session.scalar(select(func.count()).where(
            Alert.order_id == oid, Alert.state != states.A_RESOLVED))
        if still_open:
            continue
        cleared = session.execute(
            update(Alert).where(Alert.order_id == oid, Alert.paged_at.is_not(None)).values(paged_at=None)
            .execution_options(synchronize_session=False)).rowcount
        if cleared:
            key = dedup_key(oid)
            queue.add(session, "workflows.escalation.page_event",
                      queue.job_id("pd", "resolve", oid, str(paged_at)), action="resolve", dedup_key=key)
            states.audit(session, actor=ACTOR, action="pagerduty.resolve_requested", order_id=oid, dedup_key=key)
            asked += 1
    return asked


def request_resolve(session: Session, order_id: str) -> bool:
    """Inside the transaction that resolves an order's alerts (Mark complete, cancellation):
    ask PagerDuty to resolve its page, if it was paged. The clock does it anyway within a check."""
    return _resolve_pages(session, order_id) > 0


# -- a person acts -----------------------------------------------------------------------

def acknowledge(session: Session, order_id: str, actor: str, *, now: dt.datetime | None = None) -> bool:
    """Any accepted button press or "I'm on it": stop the order's escalation.

    Records the human action on every alert of the order and moves open ones to
    acknowledged (by `actor`). True when this press stopped an escalation in progress.
    """
    now = now or utcnow()
    alerts = session.scalars(select(Alert).where(Alert.order_id == order_id).order_by(Alert.id)).all()
    stopped = False
    for alert in alerts:
        session.execute(update(Alert).where(Alert.id == alert.id).values(last_human_action_at=now)
                        .execution_options(synchronize_session=False))
        if alert.state == states.A_OPEN:
            try:
                states.move_alert(session, alert, states.A_ACKNOWLEDGED, actor=actor, reason="human action")
                stopped = True
            except (states.TransitionConflict, states.IllegalTransition):
                pass  # someone else acknowledged or resolved it a moment ago: it is stopped either way
    paged = next((a.paged_at for a in alerts if a.paged_at is not None), None)
    if stopped and paged is not None:
        queue.add(session, "workflows.escalation.page_event", queue.job_id("pd", "ack", order_id, str(paged)),
                  action="acknowledge", dedup_key=dedup_key(order_id))
    return stopped


# -- the jobs ----------------------------------------------------------------------------

def _primary(session: Session, order_id: str) -> Alert | None:
    return session.scalar(select(Alert).where(Alert.order_id == order_id).order_by(Alert.id))


def describe_order(snapshot: OrderSnapshot) -> str:
    """"ORD-1 — Larry Walker, arriving Tue 01 Dec — SynXis: Timeout" for messages and pages."""
    arrival = snapshot.arrival
    when = f", arriving {arrival:%a %d %b}" if arrival else ""
    failing = []
    for item in snapshot.failing_items:
        last = item.last_attempt
        failing.append(f"{system_name(item.system)}: {_label(last.error_class) if last and last.error_class else 'failed'}")
    what = f" — {'; '.join(failing)}" if failing else ""
    return f"{snapshot.order_id} — {snapshot.guest_name or 'guest'}{when}{what}"


def _label(error_class: str) -> str:
    try:
        return ErrorClass(error_class).label
    except ValueError:
        return error_class


def notify(order_id: str, level: int, waited_minutes: int = 0, settings: Settings | None = None,
           now: dt.datetime | None = None) -> str:
    """Job: send escalation `level` for the order (1: DM the on-call person, 2: the channel)."""
    settings = settings or get_settings()
    now = now or utcnow()
    with transaction(settings.database_url) as session:
        alert = _primary(session, order_id)
        if alert is None or alert.state != states.A_OPEN:
            states.audit(session, actor=ACTOR, action="escalation.skipped", order_id=order_id, result="skipped",
                         level=level, reason="handled meanwhile")
            return "skipped"
        snapshot = load(session, order_id)
        assert snapshot is not None
        current, _ = who(session, now, rotation_for(settings))
        surfaces = sorted({a.surface for a in snapshot.alerts}, key=lambda s: (s != "slack", s))
    about = describe_order(snapshot)
    if level == LEVEL_DM:
        text = (f"{about}. No one has acted on this alert for {waited_minutes} minutes. "
                "Open it and press a button, or “I'm on it”, to take it.")
        sent_to = None
        if current is not None:
            for surface in surfaces:
                person_id = current.person.id_on(surface)
                if person_id:
                    announcer_for(surface).direct_message([person_id], text, order_id)
                    sent_to = current.person.name
        if sent_to is None:
            announcer_for(surfaces[0]).channel_message(f"Nobody is on call to take this: {text}", None)
        action = "escalation.direct_message" if sent_to else "escalation.no_oncall"
    else:
        text = (f"Still unhandled after {waited_minutes} minutes: {about}. "
                f"{current.person.name + ' (on call) was messaged. ' if current else ''}"
                "Can someone take it?")
        for surface in surfaces:
            announcer_for(surface).channel_message(text, settings.escalation_mention)
        sent_to, action = settings.escalation_mention, "escalation.channel"
    with transaction(settings.database_url) as session:
        states.audit(session, actor=ACTOR, action=action, order_id=order_id, level=level, to=sent_to)
    return action


def page(order_id: str, waited_minutes: int = 0, settings: Settings | None = None,
         now: dt.datetime | None = None) -> str:
    """Job: trigger the order's PagerDuty alert (dedup key per order) and remember it was paged."""
    from connectors.pagerduty import PagerDuty

    settings = settings or get_settings()
    now = now or utcnow()
    with transaction(settings.database_url) as session:
        alert = _primary(session, order_id)
        snapshot = load(session, order_id)
        if alert is None or snapshot is None or alert.state != states.A_OPEN:
            return "skipped"
        soon = Policy.from_settings(settings).arrives_soon(snapshot.arrival, now)
    key = dedup_key(order_id)
    with PagerDuty(settings) as pagerduty:
        pagerduty.trigger(
            key, f"Unhandled booking failure for {waited_minutes} min: {describe_order(snapshot)}",
            severity="critical" if soon else "error",
            custom_details={"order_id": order_id, "guest": snapshot.guest_name,
                            "arrival": snapshot.arrival.isoformat() if snapshot.arrival else None,
                            "failing": [f"{i.item_id} ({i.system})" for i in snapshot.failing_items]},
        )
    with transaction(settings.database_url) as session:
        session.execute(update(Alert).where(Alert.order_id == order_id).values(paged_at=now)
                        .execution_options(synchronize_session=False))
        states.audit(session, actor=ACTOR, action="escalation.paged", order_id=order_id, dedup_key=key)
    return "paged"


def page_event(action: str, dedup_key: str, settings: Settings | None = None) -> str:
    """Job: send a PagerDuty acknowledge or resolve for `dedup_key` (safe to repeat)."""
    from connectors.pagerduty import PagerDuty

    settings = settings or get_settings()
    if settings.pagerduty_routing_key is None:
        return "no PAGERDUTY_ROUTING_KEY"
    with PagerDuty(settings) as pagerduty:
        if action == "resolve":
            pagerduty.resolve(dedup_key)
        elif action == "acknowledge":
            pagerduty.acknowledge(dedup_key)
        else:
            raise ValueError(f"unknown PagerDuty action {action!r}")
    return action
