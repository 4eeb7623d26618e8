"""What a person asks of the on-call workflows from a chat surface (Slack, Teams), each
answered at once: "I'm on it" on an alert, who is on call (`/syncdesk oncall`), taking
or handing back the on-call (`/syncdesk oncall take [until]`, `oncall release`).

Like `workflows.actions` for the alert's three buttons: the chat layer authorizes and
acks, these functions own the transaction, the audit event and the jobs it implies.
"""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo

from sqlalchemy import select

from workflows import escalation, oncall, queue, service, states
from workflows.actions import Ack
from workflows.db import transaction
from workflows.models import Alert, Order, utcnow
from workflows.settings import Settings

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


def who_is_on_call(settings: Settings, *, now: dt.datetime | None = None) -> str:
    """Who is on call now and next, in words."""
    try:
        rotation = oncall.rotation_for(settings)
    except oncall.RotationError as exc:
        return f"The on-call rotation cannot be read: {exc}"
    with transaction(settings.database_url) as session:
        current, following = oncall.who(session, now or utcnow(), rotation)
    return oncall.describe(current, following, _zone(settings, rotation))


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
