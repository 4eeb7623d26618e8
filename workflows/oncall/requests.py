"""What a person asks of the on-call workflows from a chat surface (Slack, Teams), each
answered at once: "I'm on it", Snooze and Hand over on an alert, who is on call (`/syncdesk
oncall`), taking or handing back the on-call (`/syncdesk oncall take [until]`, `oncall release`).

Like `workflows.actions.requests` for the alert's three buttons: the chat layer authorizes and
acks, these functions own the transaction, the audit event and the jobs it implies.
"""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.core import queue, states
from workflows.core.answers import Ack
from workflows.core.db import transaction
from workflows.core.models import Alert, Order, utcnow
from workflows.core.settings import Settings
from workflows.oncall import escalation, handover
from workflows.oncall import rotation as oncall
from workflows.oncall import snooze as snoozes
from workflows.orders import service

log = logging.getLogger(__name__)


def im_on_it(settings: Settings, order_id: str, actor: str, *, now: dt.datetime | None = None) -> Ack:
    """"I'm on it": acknowledge the order's alerts, which stops their escalation, and
    re-render them so everyone sees who took it."""
    now = now or utcnow()
    with transaction(settings.database_url) as session:
        order = session.get(Order, order_id)
        if order is None:
            return Ack(False, f"Order {order_id} is not known to syncdesk.")
        alerts = session.scalars(select(Alert).where(Alert.order_id == order_id).order_by(Alert.id)).all()
        taken_by = next((a.acknowledged_by for a in alerts
                         if a.state == states.A_ACKNOWLEDGED and a.acknowledged_by), None)
        resolved = bool(alerts) and all(a.state == states.A_RESOLVED for a in alerts)
        stopped = escalation.acknowledge(session, order_id, actor, now=now)
        states.audit(session, actor=actor, action="click.im_on_it", order_id=order_id,
                     result="acknowledged" if stopped else "already", taken_by=taken_by)
        if stopped:
            service.refresh_alerts(session, order, f"im-on-it:{now.isoformat()}")
        entries = queue.added(session)
    try:
        queue.dispatch(settings, entries)
    except Exception:  # outermost boundary: the outbox keeps the jobs for the clock's next drain
        log.exception("dispatch after I'm on it failed; the outbox keeps the jobs")
    if stopped:
        return Ack(True, f"You're on {order_id}: its escalation is stopped.")
    if resolved:
        return Ack(False, f"{order_id} is already resolved.")
    if taken_by and taken_by != actor:
        return Ack(False, f"{taken_by} is already on {order_id}.")
    return Ack(True, f"You're on {order_id}.")


def _zone(settings: Settings, rotation: oncall.Rotation | None) -> ZoneInfo:
    return rotation.zone if rotation else ZoneInfo(settings.local_timezone)


def who_is_on_call(settings: Settings, *, now: dt.datetime | None = None) -> list[str]:
    """Who is on call now and next, in words, a line each (`rotation.lines`): the weekly
    rotation, then each property with its own calendar."""
    now = now or utcnow()
    try:
        rotation = oncall.rotation_for(settings)
    except oncall.RotationError as exc:
        return [f"The on-call rotation cannot be read: {exc}"]
    with transaction(settings.database_url) as session:
        current, following = oncall.who(session, now, rotation)
        properties = oncall.by_property(session, now, rotation)
    return oncall.lines(current, following, properties, _zone(settings, rotation))


def take(settings: Settings, person: str, until: str | None, actor: str, *,
         now: dt.datetime | None = None) -> Ack:
    """`oncall take [until]`: `person` (a Slack or Teams user id) is on call from now."""
    now = now or utcnow()
    try:
        rotation = oncall.rotation_for(settings)
    except oncall.RotationError as exc:
        return Ack(False, f"The on-call rotation cannot be read: {exc}")
    zone = _zone(settings, rotation)
    try:
        with transaction(settings.database_url) as session:
            ends = oncall.parse_until(until, now, zone) if until else None
            oncall.take(session, person, ends, actor, now=now, rotation=rotation)
            current, following = oncall.who(session, now, rotation)
    except ValueError as exc:
        return Ack(False, f"Cannot take the on-call: {exc}.")
    return Ack(True, oncall.describe(current, following, zone))


def release(settings: Settings, person: str, actor: str, *, now: dt.datetime | None = None) -> Ack:
    """`oncall release`: end `person`'s overrides now; the rotation resumes."""
    now = now or utcnow()
    try:
        rotation = oncall.rotation_for(settings)
    except oncall.RotationError as exc:
        return Ack(False, f"The on-call rotation cannot be read: {exc}")
    with transaction(settings.database_url) as session:
        ended = oncall.release(session, person, actor, now=now)
        current, following = oncall.who(session, now, rotation)
    if not ended:
        return Ack(False, "You have no on-call override to hand back.")
    return Ack(True, oncall.describe(current, following, _zone(settings, rotation)))


# -- Snooze and Hand over (issue 14) -------------------------------------------------------

def _refused(session: Session, action: str, order_id: str, actor: str, reason: str) -> Ack:
    """A move that cannot be made: only the refusal's audit event is written."""
    states.audit(session, actor=actor, action=f"click.{action}", order_id=order_id, result="refused", reason=reason)
    return Ack(False, reason[0].upper() + reason[1:].rstrip(".") + ".")


def _open_order(session: Session, order_id: str) -> tuple[Order | None, str | None]:
    """The order when its alert may still be moved, else why not."""
    order = session.get(Order, order_id)
    if order is None:
        return None, f"order {order_id} is not known to syncdesk"
    done = service.done_elsewhere(session, order)
    if done:
        return None, f"{done}: its alert is resolved"
    alerts = session.scalars(select(Alert).where(Alert.order_id == order_id)).all()
    if not alerts or all(a.state == states.A_RESOLVED for a in alerts):
        return None, f"{order_id} has no open alert"
    return order, None


def snooze(settings: Settings, order_id: str, actor: str, choice: str | None, custom: str | None = None, *,
           now: dt.datetime | None = None) -> Ack:
    """Snooze: pause the order's escalation until a time (`workflows.oncall.snooze.snooze_until`);
    the message says until when and by whom."""
    now = now or utcnow()
    with transaction(settings.database_url) as session:
        order, why = _open_order(session, order_id)
        if order is None:
            return _refused(session, "snooze", order_id, actor, why or "")
        arrival = escalation.arrivals(session, [order_id], settings).get(order_id)
        zone = arrival.timezone if arrival else settings.local_timezone
        try:
            until = snoozes.snooze_until(choice, custom, now=now, zone=zone, arrival=arrival.day if arrival else None)
        except ValueError as exc:
            return _refused(session, "snooze", order_id, actor, f"cannot snooze {order_id}: {exc}")
        snoozes.snooze(session, order, until, actor, now=now, choice=choice if not custom else "custom")
        entries = queue.added(session)
    _dispatch(settings, entries)
    return Ack(True, f"Snoozed {order_id} until {snoozes.describe_until(until, zone)}: escalation is paused "
                     "until then, or until it fails again.")


def hand_over(settings: Settings, order_id: str, actor: str, owner: str, *, refusal: str | None = None,
              now: dt.datetime | None = None) -> Ack:
    """Hand over to `owner` (an actor as the surface names people, e.g. `slack:U0BEN (ben)`).
    `refusal`: why the chat layer found the person may not take it (not on the team)."""
    now = now or utcnow()
    owner = _named(settings, owner)
    with transaction(settings.database_url) as session:
        name = handover.person_of(owner)[2]
        if refusal:
            return _refused(session, "hand_over", order_id, actor,
                            f"{name} is not on the reservations team ({refusal}): hand it to a teammate")
        order, why = _open_order(session, order_id)
        if order is None:
            return _refused(session, "hand_over", order_id, actor, why or "")
        current = session.scalar(select(Alert.owner).where(Alert.order_id == order_id, Alert.owner.is_not(None)))
        if current == owner:
            return _refused(session, "hand_over", order_id, actor, f"{name} already owns {order_id}")
        handover.hand_over(session, order, owner, actor, now=now)
        entries = queue.added(session)
    _dispatch(settings, entries)
    return Ack(True, f"{order_id} is {name}'s now: they have a direct message with the link, and escalation "
                     "goes to them first.")


def _named(settings: Settings, owner: str) -> str:
    """`slack:U0BEN` as `slack:U0BEN (Ben)` when the on-call rotation knows the id (for the words)."""
    if " (" in owner:
        return owner
    try:
        rotation = oncall.rotation_for(settings)
    except oncall.RotationError:
        return owner
    person = rotation.person(handover.person_of(owner)[1]) if rotation else None
    return f"{owner} ({person.name})" if person else owner


def _dispatch(settings: Settings, entries: list[Any]) -> None:
    try:
        queue.dispatch(settings, entries)
    except Exception:  # outermost boundary: the outbox keeps the jobs for the clock's next drain
        log.exception("dispatch failed; the outbox keeps the jobs")
