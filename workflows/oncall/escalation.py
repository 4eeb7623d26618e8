"""Escalation: an alert nobody handles is worse than none (issue 6).

Policy (defaults; settings `ESCALATION_*`): no human action 15 minutes after the alert
opened — 5 when the guest arrives within 24 hours (urgency follows the guest, DESIGN §1) —
sends the on-call person a direct message with the alert; still unhandled 15 minutes later
it is escalated in the channel (`@here` or a named group) and, with `PAGERDUTY_ROUTING_KEY`,
paged through PagerDuty with one dedup key per order, resolved when the alert resolves.
Any button press or "I'm on it" calls `acknowledge`, which stops it. A hold that syncdesk found
and could not confirm (SynXis Booked/OnHold, ResDiary Unconfirmed, its deadline on the attempt:
issue 24.8) lapses by itself, so an order whose hold lapses within ESCALATION_SOON_WITHIN_HOURS
is as urgent as a guest arriving within it (`Policy.soon`), whenever the guest arrives.

Timers are state, not sleeps: `alerts.escalation_level` / `escalated_at` plus the worker's
clock, which enqueues `check_due` every `ESCALATION_CHECK_SECONDS`. A level moves by
compare-and-set (`... WHERE escalation_level = n`), so any number of concurrent checks
escalate once, and the message it implies is written to the outbox in the same
transaction, so a worker restart loses nothing. Alerts grouped under an open outage
incident do not escalate one by one: the incident paged on-call once (workflows.outage.detect);
those held in a maintenance window do not escalate at all while it lasts (nobody is paged,
workflows.outage.maintenance), and after its end as an outage's do after its all-clear.
After its all-clear they escalate again, but the orders of one outage that come due in the
same check go out as one message (`notify_outage`) and one page under the outage's dedup key
(`page_outage`), not one each: a storm of 1,000 failures is not 1,000 direct messages.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, case, func, or_, select, update
from sqlalchemy.orm import Session

from connectors.errors import ErrorClass
from connectors.routing import property_in
from workflows.core import queue, states
from workflows.core.db import transaction
from workflows.core.messages import messengers
from workflows.core.models import Alert, AuditEvent, Incident, MaintenanceWindow, Order, OrderItem, SyncAttempt, utcnow
from workflows.core.settings import Settings, get_settings
from workflows.oncall import snooze
from workflows.oncall.handover import person_of
from workflows.oncall.rotation import Shift, rotation_for, who
from workflows.orders import masking
from workflows.orders.snapshot import OrderSnapshot, load
from workflows.systems.clients import pagerduty
from workflows.systems.names import system_name
from workflows.systems.registry import timezone_at

log = logging.getLogger(__name__)

ACTOR = "syncdesk (escalation)"
LEVEL_DM = 1
LEVEL_CHANNEL = 2
# audit actions that (re)start an alert's clock: opened, re-opened, re-raised after a snooze
OPENED_ACTIONS = ("alert.created", "alert.open", "alert.snooze_ended")


@dataclass(frozen=True)
class Arrival:
    """The guest's arrival day, and the zone of the property it is counted in; and when the first
    hold syncdesk found and could not confirm for one of the failing items lapses, if any."""

    day: dt.date
    timezone: str
    hold_deadline: dt.datetime | None = None


@dataclass(frozen=True)
class Policy:
    dm_after: dt.timedelta = dt.timedelta(minutes=15)
    dm_after_soon: dt.timedelta = dt.timedelta(minutes=5)
    soon_within: dt.timedelta = dt.timedelta(hours=24)
    channel_after: dt.timedelta = dt.timedelta(minutes=15)
    mention: str = "@here"
    timezone: str = "UTC"
    ack_timeout: dt.timedelta = dt.timedelta(minutes=60)
    ack_timeout_soon: dt.timedelta = dt.timedelta(minutes=15)

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            dt.timedelta(minutes=settings.escalation_dm_after_minutes),
            dt.timedelta(minutes=settings.escalation_dm_after_minutes_soon),
            dt.timedelta(hours=settings.escalation_soon_within_hours),
            dt.timedelta(minutes=settings.escalation_channel_after_minutes),
            settings.escalation_mention,
            settings.local_timezone,
            dt.timedelta(minutes=settings.ack_timeout_minutes),
            dt.timedelta(minutes=settings.ack_timeout_minutes_soon),
        )

    def arrives_soon(self, arrival: Arrival | dt.date | None, now: dt.datetime) -> bool:
        """The guest arrives within `soon_within` (or already has): the start of the arrival day,
        in the property's zone (a bare date: LOCAL_TIMEZONE's)."""
        if arrival is None:
            return False
        if isinstance(arrival, dt.date):
            arrival = Arrival(arrival, self.timezone)
        starts = dt.datetime.combine(arrival.day, dt.time(0), ZoneInfo(arrival.timezone))
        return starts.astimezone(dt.timezone.utc) - now <= self.soon_within

    def soon(self, arrival: Arrival | None, now: dt.datetime) -> bool:
        """Urgent: the guest arrives within `soon_within`, or a hold lapses within it (or has)."""
        held = arrival.hold_deadline if arrival is not None else None
        return self.arrives_soon(arrival, now) or (held is not None and held - now <= self.soon_within)

    def dm_delay(self, arrival: Arrival | None, now: dt.datetime) -> dt.timedelta:
        return self.dm_after_soon if self.soon(arrival, now) else self.dm_after

    def ack_pause(self, arrival: Arrival | None, now: dt.datetime) -> dt.timedelta:
        """How long an acknowledgement pauses escalation (shorter when the guest arrives soon, or a hold lapses)."""
        return self.ack_timeout_soon if self.soon(arrival, now) else self.ack_timeout


@dataclass(frozen=True)
class Escalation:
    order_id: str
    level: int
    due_at: dt.datetime


def dedup_key(order_id: str) -> str:
    """PagerDuty's dedup key for an order: every page and resolve of it is one PagerDuty alert."""
    return f"syncdesk:order:{order_id}"[:255]


def outage_dedup_key(incident_id: int) -> str:
    """PagerDuty's dedup key for an outage: its page, and the pages of its orders afterwards."""
    return f"syncdesk:outage:{incident_id}"


def page_key(order_id: str, incident_id: int | None) -> str:
    """The key an order is paged under: its outage's when it belongs to one."""
    return dedup_key(order_id) if incident_id is None else outage_dedup_key(incident_id)


# -- the clock's check -------------------------------------------------------------------

def _not_snoozed(now: dt.datetime) -> Any:
    """Alerts escalation may act on: not snoozed, or snoozed until a moment already past
    (`snooze.expire` re-raises those first, in the same check)."""
    return or_(Alert.snoozed_until.is_(None), Alert.snoozed_until <= now)


def _primary_open_alerts(session: Session, now: dt.datetime) -> list[Alert]:
    """One open alert per order (the first surface's): escalation is per order, not per surface."""
    rows = session.scalars(select(Alert).where(Alert.state == states.A_OPEN, Alert.escalation_level < LEVEL_CHANNEL,
                                               _not_snoozed(now))
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


def arrivals(session: Session, order_ids: Iterable[str], settings: Settings) -> dict[str, Arrival]:
    """Each order's arrival: the earliest start of its non-retail items still In Progress, in
    its property's zone (`workflows.systems.registry.timezone_at`)."""
    ids = list(order_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(OrderItem.order_id, OrderItem.start, OrderItem.system, OrderItem.details)
        .where(OrderItem.order_id.in_(ids), OrderItem.kind != "retail", OrderItem.start.is_not(None),
               OrderItem.status == states.IN_PROGRESS)
        .order_by(OrderItem.order_id, OrderItem.start)
    ).all()
    found: dict[str, Arrival] = {}
    holds = hold_deadlines(session, ids)
    for order_id, start, system, details in rows:
        if order_id not in found:
            found[order_id] = Arrival(start, timezone_at(system, details or {}, settings), holds.get(order_id))
    return found


def hold_deadlines(session: Session, order_ids: list[str]) -> dict[str, dt.datetime]:
    """Each order's earliest hold deadline: of its items still In Progress whose last attempt
    found a hold it could not confirm (`SyncAttempt.hold_deadline`, issue 24.8)."""
    rows = session.execute(
        select(SyncAttempt.item_pk, SyncAttempt.order_id, SyncAttempt.hold_deadline)
        .join(OrderItem, OrderItem.pk == SyncAttempt.item_pk)
        .where(SyncAttempt.order_id.in_(order_ids), OrderItem.status == states.IN_PROGRESS)
        .order_by(SyncAttempt.item_pk, SyncAttempt.number)
    ).all()
    last = {item_pk: (order_id, deadline) for item_pk, order_id, deadline in rows}  # each item's last attempt
    holds: dict[str, dt.datetime] = {}
    for order_id, deadline in last.values():
        if deadline is not None:
            deadline = _utc(deadline)
            holds[order_id] = min(holds.get(order_id, deadline), deadline)
    return holds


def _move_level(session: Session, alert: Alert, level: int, now: dt.datetime) -> bool:
    """Compare-and-set the order's escalation from `level` to `level + 1`; True for the one winner."""
    changed = session.execute(
        update(Alert)
        .where(Alert.id == alert.id, Alert.escalation_level == level, Alert.state == states.A_OPEN)
        .values(escalation_level=level + 1, escalated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    return changed == 1


NOTIFY = "workflows.oncall.escalation.notify"
PAGE = "workflows.oncall.escalation.page"
NOTIFY_OUTAGE = "workflows.oncall.escalation.notify_outage"
PAGE_OUTAGE = "workflows.oncall.escalation.page_outage"


@dataclass
class _Asks:
    """The messages and pages one check decided, written to the outbox in its transaction: an
    order of its own at once; the orders of one outage that came due together (after its
    all-clear, or when "Reprocess all"'s acknowledgement of them ran out) as one message and
    one page, in `write()`. An order someone owns (handed over) is always messaged on its own."""

    settings: Settings
    now: dt.datetime
    outages: dict[tuple[int, int, str | None], list[tuple[str, int, bool]]] = field(default_factory=dict)

    def add(self, session: Session, alert: Alert, level: int, waited: int, acknowledged_by: str | None = None) -> None:
        if alert.incident_id is not None and alert.owner is None:
            due = self.outages.setdefault((alert.incident_id, level, acknowledged_by), [])
            due.append((alert.order_id, waited, alert.paged_at is None))
        else:
            self._order(session, alert.order_id, level, waited, acknowledged_by, alert.paged_at is None)

    def write(self, session: Session) -> None:
        for (incident_id, level, by), due in self.outages.items():
            if len(due) == 1:
                self._order(session, due[0][0], level, due[0][1], by, due[0][2])
                continue
            order_ids, waited = [o for o, _, _ in due], max(w for _, w, _ in due)
            queue.add(session, NOTIFY_OUTAGE, queue.job_id("escalate-outage", incident_id, level, *self._tag(by)),
                      incident_id=incident_id, level=level, order_ids=order_ids, waited_minutes=waited,
                      **({"acknowledged_by": by} if by else {}))
            unpaged = [o for o, _, never_paged in due if never_paged]
            if unpaged and level == LEVEL_CHANNEL and self.settings.pagerduty_routing_key is not None:
                queue.add(session, PAGE_OUTAGE, queue.job_id("page-outage", incident_id, self.now.isoformat()),
                          incident_id=incident_id, order_ids=unpaged, waited_minutes=waited)

    def _order(self, session: Session, order_id: str, level: int, waited: int, acknowledged_by: str | None,
               never_paged: bool) -> None:
        queue.add(session, NOTIFY, queue.job_id("escalate", order_id, level, *self._tag(acknowledged_by)),
                  order_id=order_id, level=level, waited_minutes=waited,
                  **({"acknowledged_by": acknowledged_by} if acknowledged_by else {}))
        if never_paged and level == LEVEL_CHANNEL and self.settings.pagerduty_routing_key is not None:
            queue.add(session, PAGE, queue.job_id("page", order_id, self.now.isoformat()),
                      order_id=order_id, waited_minutes=waited)

    def _tag(self, acknowledged_by: str | None) -> tuple[str, ...]:
        return ("ack", self.now.isoformat()) if acknowledged_by else (self.now.isoformat(),)


def check_due(settings: Settings | None = None, now: dt.datetime | None = None) -> list[Escalation]:
    """Escalate every alert whose time has come, once; ask PagerDuty to resolve what resolved.

    The clock enqueues this every ESCALATION_CHECK_SECONDS (job `workflows.oncall.escalation.check_due`).
    """
    settings = settings or get_settings()
    now = now or utcnow()
    policy = Policy.from_settings(settings)
    made: list[Escalation] = []
    asks = _Asks(settings, now)
    with transaction(settings.database_url) as session:
        snooze.expire(session, now, ACTOR)
        made += _resume_expired_acknowledgements(session, asks, policy, now)
        alerts = _primary_open_alerts(session, now)
        order_ids = [a.order_id for a in alerts]
        started = _clock_starts(session, order_ids)
        arriving = arrivals(session, order_ids, settings)
        incidents = {i.id: i for i in session.scalars(select(Incident).where(
            Incident.id.in_({a.incident_id for a in alerts if a.incident_id is not None})))}
        for alert in alerts:
            incident = incidents.get(alert.incident_id) if alert.incident_id is not None else None
            if incident is not None and incident.state in states.INCIDENT_HOLDING:
                continue  # the outage paged on-call once, or a maintenance window pages nobody: they wait for its end
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
            asks.add(session, alert, level, waited)
            states.audit(session, actor=ACTOR, action="escalation.due", order_id=alert.order_id, level=level,
                         due_at=due.isoformat())
            made.append(Escalation(alert.order_id, level, due))
        asks.write(session)
        _resolve_pages(session)
        entry_ids = queue.added(session)
    _dispatch(settings, entry_ids)
    return made


def _resume_expired_acknowledgements(session: Session, asks: _Asks, policy: Policy,
                                     now: dt.datetime) -> list[Escalation]:
    """Acknowledged alerts still unresolved after the pause: re-open them at the escalation
    level they had and send the next level now, saying who acknowledged it and when."""
    acked = session.scalars(select(Alert).where(Alert.state == states.A_ACKNOWLEDGED, _not_snoozed(now))
                            .order_by(Alert.order_id, Alert.id)).all()
    primary: dict[str, Alert] = {}
    for alert in acked:
        primary.setdefault(alert.order_id, alert)
    arriving = arrivals(session, primary, asks.settings)
    made = []
    for order_id, alert in primary.items():
        at, by = alert.acknowledged_at, alert.acknowledged_by or "someone"
        if at is None or now < at + policy.ack_pause(arriving.get(order_id), now):
            continue
        if alert.incident_id is not None and session.scalar(select(Incident.state).where(
                Incident.id == alert.incident_id)) in states.INCIDENT_HOLDING:
            continue  # the outage paged on-call once (a maintenance window, nobody): they wait for its end
        minutes = int((now - at).total_seconds() // 60)
        try:  # compare-and-set from acknowledged: of two concurrent checks, one resumes it
            states.move_alert(session, alert, states.A_OPEN, actor=ACTOR, keep_escalation=True,
                              reason="acknowledgement expired", acknowledged_by=by, acknowledged_minutes=minutes)
        except states.TransitionConflict:
            continue  # resolved or resumed a moment ago
        for other in acked:
            if other.order_id == order_id and other.id != alert.id and other.state == states.A_ACKNOWLEDGED:
                states.move_alert(session, other, states.A_OPEN, actor=ACTOR, keep_escalation=True,
                                  reason="acknowledgement expired", acknowledged_by=by, acknowledged_minutes=minutes)
        level = min(alert.escalation_level + 1, LEVEL_CHANNEL)
        session.execute(update(Alert).where(Alert.id == alert.id).values(escalation_level=level, escalated_at=now)
                        .execution_options(synchronize_session=False))
        asks.add(session, alert, level, minutes, acknowledged_by=by)
        states.audit(session, actor=ACTOR, action="escalation.resumed", order_id=order_id, level=level,
                     acknowledged_by=by, acknowledged_minutes=minutes)
        made.append(Escalation(order_id, level, at + policy.ack_pause(arriving.get(order_id), now)))
    return made


def reopen(session: Session, order_id: str, *, actor: str, reason: str) -> bool:
    """Re-open the order's acknowledged alerts for escalation now (a Reprocess failed: whoever
    clicked is not on it by waiting), at the level they had. True when one was re-opened."""
    reopened = False
    for alert in session.scalars(select(Alert).where(Alert.order_id == order_id,
                                                     Alert.state == states.A_ACKNOWLEDGED)).all():
        try:
            states.move_alert(session, alert, states.A_OPEN, actor=actor, keep_escalation=True, reason=reason)
            reopened = True
        except states.TransitionConflict:
            pass  # resolved meanwhile: nothing to escalate
    return reopened


def _dispatch(settings: Settings, entry_ids: list[int]) -> None:
    try:
        queue.dispatch(settings, entry_ids)
    except Exception:  # outermost boundary: the outbox keeps the jobs for the clock's next drain
        log.exception("dispatch after escalation failed; the outbox keeps the jobs")


def _resolve_pages(session: Session, order_id: str | None = None) -> int:
    """Paged orders whose alerts have all resolved: clear `paged_at` and ask PagerDuty to resolve."""
    paged = select(Alert.order_id).where(Alert.paged_at.is_not(None))
    if order_id is not None:
        paged = paged.where(Alert.order_id == order_id)
    unresolved = func.sum(case((Alert.state != states.A_RESOLVED, 1), else_=0))
    # One query for every paged order whose alerts have all resolved (not one per paged order:
    # after a storm a thousand may be paged and still open at each check).
    done = (select(Alert.order_id, func.max(Alert.paged_at), func.max(Alert.incident_id))
            .where(Alert.order_id.in_(paged)).group_by(Alert.order_id).having(unresolved == 0))
    asked = 0
    for oid, paged_at, incident_id in session.execute(done).all():
        cleared = session.execute(
            update(Alert).where(Alert.order_id == oid, Alert.paged_at.is_not(None)).values(paged_at=None)
            .execution_options(synchronize_session=False)).rowcount
        if not cleared:
            continue
        if incident_id is not None and session.scalar(select(func.count()).where(
                Alert.incident_id == incident_id, Alert.paged_at.is_not(None))):
            continue  # paged with other orders of its outage: resolved with the last of them
        key = page_key(oid, incident_id)
        queue.add(session, "workflows.oncall.escalation.page_event",
                  queue.job_id("pd", "resolve", key, str(paged_at)), action="resolve", dedup_key=key)
        states.audit(session, actor=ACTOR, action="pagerduty.resolve_requested", order_id=oid, dedup_key=key)
        asked += 1
    return asked


def request_resolve(session: Session, order_id: str) -> bool:
    """Inside the transaction that resolves an order's alerts (Mark complete, cancellation):
    ask PagerDuty to resolve its page, if it was paged. The clock does it anyway within a check."""
    return _resolve_pages(session, order_id) > 0


# -- a person acts -----------------------------------------------------------------------

# Built once: on every click, building them cost more CPU than running them (issue 29).
_LOCK_ORDER = select(Order.id).where(Order.id == bindparam("order_id")).with_for_update()
_ALERTS_OF_ORDER = select(Alert).where(Alert.order_id == bindparam("order_id")).order_by(Alert.id)


def acknowledge(session: Session, order_id: str, actor: str, *, now: dt.datetime | None = None,
                order_locked: bool = False) -> bool:
    """Any accepted button press or "I'm on it": stop the order's escalation.

    Records the human action on every alert of the order and moves open ones to
    acknowledged (by `actor`). True when this press stopped an escalation in progress.
    `order_locked`: the caller's transaction holds the order's row lock already (a Reprocess
    click reads the order `FOR UPDATE`), so it is not asked for again.
    """
    now = now or utcnow()
    # Lock the order before its alerts, in the same order as intake does (order, then alerts):
    # otherwise an acknowledgement and the platform's Complete for the same order deadlock on
    # PostgreSQL (the alert's second update in this transaction re-checks its foreign key,
    # which waits for the order row intake holds, while intake waits for the alert row).
    # (Not one `SELECT … JOIN orders … FOR UPDATE OF orders`: after waiting for the lock,
    # PostgreSQL would give the alerts as they were before the wait.)
    if not order_locked:
        session.execute(_LOCK_ORDER, {"order_id": order_id})
    alerts = session.scalars(_ALERTS_OF_ORDER, {"order_id": order_id}).all()
    stopped = False
    for alert in alerts:
        if alert.state == states.A_OPEN:
            try:
                states.move_alert(session, alert, states.A_ACKNOWLEDGED, actor=actor, reason="human action",
                                  extra={"last_human_action_at": now})
                stopped = True
                continue
            except (states.TransitionConflict, states.IllegalTransition):
                pass  # someone else acknowledged or resolved it a moment ago: it is stopped either way
        session.execute(update(Alert).where(Alert.id == alert.id).values(last_human_action_at=now)
                        .execution_options(synchronize_session=False))
    paged = next((a for a in alerts if a.paged_at is not None), None)
    if stopped and paged is not None:
        if paged.incident_id is not None and session.scalar(select(func.count()).where(
                Alert.incident_id == paged.incident_id, Alert.paged_at.is_not(None), Alert.state == states.A_OPEN)):
            return stopped  # its outage's page stands for other orders nobody has taken yet
        key = page_key(order_id, paged.incident_id)
        queue.add(session, "workflows.oncall.escalation.page_event",
                  queue.job_id("pd", "ack", key, str(paged.paged_at)), action="acknowledge", dedup_key=key)
    return stopped


# -- the jobs ----------------------------------------------------------------------------

def _primary(session: Session, order_id: str) -> Alert | None:
    return session.scalar(select(Alert).where(Alert.order_id == order_id).order_by(Alert.id))


def _message_on_call(current: Shift | None, surfaces: list[str], text: str, order_id: str | None) -> str | None:
    """Send `text` to the on-call person on every surface they have an id on: their name, or
    None when nobody got it."""
    sent_to = None
    if current is not None:
        for surface in surfaces:
            person_id = current.person.id_on(surface)
            if person_id:
                messengers.get(surface).direct_message([person_id], text, order_id)
                sent_to = current.person.name
    return sent_to


def describe_order(snapshot: OrderSnapshot) -> str:
    """"ORD-1 — Larry Walker, arriving Tue 01 Dec — SynXis: Timeout" for messages and pages."""
    arrival = snapshot.arrival
    when = f", arriving {arrival:%a %d %b}" if arrival else ""
    failing = []
    for item in snapshot.failing_items:
        last = item.last_attempt
        problem = snapshot.problem(item.item_id)  # a booking problem has no failed attempt (issue 25)
        why = _label(last.error_class) if last and last.error_class else problem.title if problem else "failed"
        failing.append(f"{system_name(item.system)}: {why}")
    what = f" — {'; '.join(failing)}" if failing else ""
    return f"{snapshot.order_id} — {snapshot.guest_name or 'guest'}{when}{what}"


def _label(error_class: str) -> str:
    try:
        return ErrorClass(error_class).label
    except ValueError:
        return error_class


def notify(order_id: str, level: int, waited_minutes: int = 0, settings: Settings | None = None,
           now: dt.datetime | None = None, acknowledged_by: str | None = None, urgent: str | None = None) -> str:
    """Job: send escalation `level` for the order (1: DM the on-call person, 2: the channel).

    `acknowledged_by`: escalation resumed because that person's acknowledgement expired
    `waited_minutes` ago without the order being resolved. `urgent`: why the alert is urgent by
    definition (the front desk's report, issue 26.3): on-call is told at once, whoever has taken
    it, and the escalation goes on from there (the channel next, on the usual clock).
    """
    settings = settings or get_settings()
    now = now or utcnow()
    with transaction(settings.database_url) as session:
        alert = _primary(session, order_id)
        if alert is None or alert.state == states.A_RESOLVED or (alert.state != states.A_OPEN and not urgent):
            states.audit(session, actor=ACTOR, action="escalation.skipped", order_id=order_id, result="skipped",
                         level=level, reason="handled meanwhile")
            return "skipped"
        snapshot = load(session, order_id)
        assert snapshot is not None
        # The on-call of the order's property (its calendar, when the rotation has one, issue 26.8)
        prop = next((property_in(i.details) for i in snapshot.items if property_in(i.details)), None)
        current, _ = who(session, now, rotation_for(settings), prop)
        surfaces = sorted({a.surface for a in snapshot.alerts}, key=lambda s: (s != "slack", s))
        owner = alert.owner
    about = describe_order(snapshot)
    if acknowledged_by:
        about = f"{about} (acknowledged by {acknowledged_by} {waited_minutes} min ago, still not resolved)"
    if level == LEVEL_DM:
        idle = "" if acknowledged_by else f" No one has acted on this alert for {waited_minutes} minutes."
        text = f"{about}.{idle} Open it and press a button, or “I'm on it”, to take it."
        if urgent:
            text = f"🚨 {urgent}: {about}. Open it and press a button, or “I'm on it”, to take it."
        sent_to = None
        if owner is not None:  # handed over: escalation goes to the owner first
            surface, person, name = person_of(owner)
            if surface in surfaces and person:
                messengers.get(surface).direct_message([person], f"You own this alert: {text}", order_id)
                sent_to = name
        if sent_to is None:
            sent_to = _message_on_call(current, surfaces, text, order_id)
        if sent_to is None:
            messengers.get(surfaces[0]).channel_message(f"Nobody is on call to take this: {text}", None,
                                                        snapshot.destination(surfaces[0]))
        action = "escalation.direct_message" if sent_to else "escalation.no_oncall"
    else:
        still = "Still unresolved" if acknowledged_by else f"Still unhandled after {waited_minutes} minutes"
        messaged = f"{person_of(owner)[2]} (its owner) was messaged. " if owner else (
            f"{current.person.name} (on call) was messaged. " if current else "")
        text = f"{still}: {about}. {messaged}Can someone take it?"
        for surface in surfaces:  # where the alert went (its property's or system's channel)
            messengers.get(surface).channel_message(text, settings.escalation_mention, snapshot.destination(surface))
        sent_to, action = settings.escalation_mention, "escalation.channel"
    with transaction(settings.database_url) as session:
        states.audit(session, actor=ACTOR, action=action, order_id=order_id, level=level, to=sent_to,
                     **({"urgent": urgent} if urgent else {}))
        if urgent:  # told at once: the clock's next level is the channel's
            session.execute(update(Alert).where(Alert.order_id == order_id, Alert.escalation_level < level)
                            .values(escalation_level=level, escalated_at=now)
                            .execution_options(synchronize_session=False))
    return action


def page(order_id: str, waited_minutes: int = 0, settings: Settings | None = None,
         now: dt.datetime | None = None) -> str:
    """Job: trigger the order's PagerDuty alert (dedup key per order) and remember it was paged."""
    settings = settings or get_settings()
    now = now or utcnow()
    with transaction(settings.database_url) as session:
        alert = _primary(session, order_id)
        snapshot = load(session, order_id)
        if alert is None or snapshot is None or alert.state != states.A_OPEN:
            return "skipped"
        arrival = Arrival(snapshot.arrival, snapshot.timezone) if snapshot.arrival else None
        soon = Policy.from_settings(settings).arrives_soon(arrival, now)
    key = page_key(order_id, alert.incident_id)
    with pagerduty(settings) as client:
        client.trigger(
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


# -- an outage's orders, together ---------------------------------------------------------

SOONEST_LISTED = 5


@dataclass(frozen=True)
class OutageOrders:
    """What one message says of the orders of an outage that came due together."""

    order_ids: list[str]
    summary: str  # "12 orders of the SynXis outage"
    soonest: list[str]  # "ORD-030 — Ann Lee, arriving Tue 08 Dec", soonest arrival first
    arrives_soon: bool  # one of them arrives within ESCALATION_SOON_WITHIN_HOURS

    @property
    def listed(self) -> str:
        more = len(self.order_ids) - len(self.soonest)
        return "; ".join(self.soonest) + (f"; and {more} more" if more > 0 else "")


def outage_orders(session: Session, settings: Settings, incident: Incident, order_ids: Iterable[str],
                  now: dt.datetime, *, unpaged: bool = False) -> OutageOrders | None:
    """Those of `order_ids` whose alert is still open (with `unpaged`, and not paged yet), or
    None when there are none left: someone handled them meanwhile."""
    query = select(Alert.order_id).where(Alert.order_id.in_(list(order_ids)), Alert.state == states.A_OPEN)
    if unpaged:
        query = query.where(Alert.paged_at.is_(None))
    still = sorted(set(session.scalars(query)))
    if not still:
        return None
    arriving = arrivals(session, still, settings)
    guests = {order_id: masking.guest_name(first or "", last or "", settings.chat_guest_details)  # issue 28
              for order_id, first, last in session.execute(
                  select(Order.id, Order.guest_first_name, Order.guest_last_name).where(Order.id.in_(still)))}
    far = dt.date.max
    ranked = sorted(still, key=lambda o: (arriving[o].day if o in arriving else far, o))
    soonest = [f"{o} — {guests.get(o) or 'guest'}" + (f", arriving {arriving[o].day:%a %d %b}" if o in arriving else "")
               for o in ranked[:SOONEST_LISTED]]
    policy = Policy.from_settings(settings)
    held = session.scalar(select(MaintenanceWindow.id).where(MaintenanceWindow.incident_id == incident.id).limit(1))
    what = "maintenance window" if held is not None else "outage"  # issue 26: its failures, after its end
    return OutageOrders(still, f"{len(still)} orders of the {system_name(incident.system)} {what}", soonest,
                        any(policy.arrives_soon(a, now) for a in arriving.values()))


def notify_outage(incident_id: int, level: int, order_ids: list[str], waited_minutes: int = 0,
                  acknowledged_by: str | None = None, settings: Settings | None = None,
                  now: dt.datetime | None = None) -> str:
    """Job: escalation `level` for the orders of an outage that came due in one check, in one
    message: a direct message to on-call (1) or a post in the outage message's channel (2)."""
    settings = settings or get_settings()
    now = now or utcnow()
    with transaction(settings.database_url) as session:
        incident = session.get(Incident, incident_id)
        due = outage_orders(session, settings, incident, order_ids, now) if incident is not None else None
        if incident is None or due is None:
            states.audit(session, actor=ACTOR, action="escalation.skipped", incident_id=incident_id, result="skipped",
                         level=level, reason="handled meanwhile", orders=len(order_ids))
            return "skipped"
        current, _ = who(session, now, rotation_for(settings))
        surfaces = sorted(set(session.scalars(select(Alert.surface).where(Alert.order_id.in_(due.order_ids)))),
                          key=lambda s: (s != "slack", s))
        destinations = {"slack": incident.channel, "teams": incident.teams_conversation}
    if acknowledged_by:
        state = f"{due.summary} are still not resolved {waited_minutes} minutes after {acknowledged_by} acknowledged them"
    else:
        state = f"{due.summary} are still unhandled after its all-clear, the oldest for {waited_minutes} minutes"
    where = ("They are all in the outage message (Show all): Reprocess all there, or take them one by one. "
             f"Soonest arrivals: {due.listed}.")
    if level == LEVEL_DM:
        sent_to = _message_on_call(current, surfaces, f"{state}. {where}", None)
        if sent_to is None:
            messengers.get(surfaces[0]).channel_message(f"Nobody is on call to take these: {state}. {where}", None,
                                                        destinations.get(surfaces[0]))
        action = "escalation.direct_message" if sent_to else "escalation.no_oncall"
    else:
        still = "Still unresolved" if acknowledged_by else "Still unhandled"
        messaged = f"{current.person.name} (on call) was messaged. " if current else ""
        for surface in surfaces:
            messengers.get(surface).channel_message(f"{still}: {state}. {messaged}Can someone take them? {where}",
                                                    settings.escalation_mention, destinations.get(surface))
        sent_to, action = settings.escalation_mention, "escalation.channel"
    with transaction(settings.database_url) as session:
        for order_id in due.order_ids:  # each order's history shows it, as for an order escalated alone
            states.audit(session, actor=ACTOR, action=action, order_id=order_id, level=level, to=sent_to,
                         incident_id=incident_id, together_with=len(due.order_ids) - 1)
    return action


def page_outage(incident_id: int, order_ids: list[str], waited_minutes: int = 0, settings: Settings | None = None,
                now: dt.datetime | None = None) -> str:
    """Job: page the orders of an outage that reached the channel level together, as one
    PagerDuty alert under the outage's dedup key, resolved when the last of them is."""
    settings = settings or get_settings()
    now = now or utcnow()
    with transaction(settings.database_url) as session:
        incident = session.get(Incident, incident_id)
        due = (outage_orders(session, settings, incident, order_ids, now, unpaged=True)
               if incident is not None else None)
        if incident is None or due is None:
            return "skipped"
        system = incident.system
    key = outage_dedup_key(incident_id)
    with pagerduty(settings) as client:
        client.trigger(key, f"Unhandled after the outage's all-clear (the oldest for {waited_minutes} min): "
                            f"{due.summary}",
                       severity="critical" if due.arrives_soon else "error",
                       custom_details={"incident_id": incident_id, "system": system, "orders": len(due.order_ids),
                                       "soonest": due.soonest})
    with transaction(settings.database_url) as session:
        session.execute(update(Alert).where(Alert.order_id.in_(due.order_ids)).values(paged_at=now)
                        .execution_options(synchronize_session=False))
        for order_id in due.order_ids:
            states.audit(session, actor=ACTOR, action="escalation.paged", order_id=order_id, dedup_key=key)
    return "paged"


def page_event(action: str, dedup_key: str, settings: Settings | None = None) -> str:
    """Job: send a PagerDuty acknowledge or resolve for `dedup_key` (safe to repeat)."""
    settings = settings or get_settings()
    if settings.pagerduty_routing_key is None:
        return "no PAGERDUTY_ROUTING_KEY"
    with pagerduty(settings) as client:
        if action == "resolve":
            client.resolve(dedup_key)
        elif action == "acknowledge":
            client.acknowledge(dedup_key)
        else:
            raise ValueError(f"unknown PagerDuty action {action!r}")
    return action
