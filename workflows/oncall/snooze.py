"""Snooze (issue 14), the on-call move PagerDuty and Grafana OnCall teams expect: "1 h",
"until 9:00 tomorrow", "until the guest's arrival day", or a time typed. Kept on the order's
alert rows (`snoozed_until`, `snoozed_by`).

Escalation skips a snoozed order (`workflows.oncall.escalation`); when the time passes, the
clock's `expire` re-raises the alert: an acknowledged one re-opens at its level, the
escalation clock restarts, and the message's thread says so. A new failure of the order
ends the snooze at once (`end`, called by intake). A snooze never reaches past the guest's
arrival day (once the guest has arrived, that limit no longer applies).

Times of day ("9:00") are read in the zone of the guest's arrival property (routing file),
else LOCAL_TIMEZONE, as the message names it.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from workflows.core import states
from workflows.core.models import Alert, Order
from workflows.oncall.rotation import parse_until
from workflows.orders import service

SNOOZE_CHOICES = {"1h": "for 1 hour", "tomorrow": "until 9:00 tomorrow", "arrival": "until the guest's arrival day"}
WAKE = dt.time(9, 0)  # "until 9:00 tomorrow", and the arrival day's wake-up
MAX_SNOOZE = dt.timedelta(days=7)


def snooze_until(choice: str | None, custom: str | None, *, now: dt.datetime, zone: str,
                 arrival: dt.date | None) -> dt.datetime:
    """When a snooze chosen as `choice` (or typed as `custom`) ends, in UTC; ValueError in words
    when it cannot be (a past time, too long, past the guest's arrival, no arrival date)."""
    tz = ZoneInfo(zone)
    wake_on_arrival = dt.datetime.combine(arrival, WAKE, tz).astimezone(dt.timezone.utc) if arrival else None
    if custom and custom.strip():
        try:
            until = parse_until(custom, now, tz)
        except ValueError as exc:
            raise ValueError(str(exc)) from None
    elif choice == "1h":
        until = now + dt.timedelta(hours=1)
    elif choice == "tomorrow":
        until = dt.datetime.combine(now.astimezone(tz).date() + dt.timedelta(days=1), WAKE, tz).astimezone(dt.timezone.utc)
    elif choice == "arrival":
        if wake_on_arrival is None:
            raise ValueError("this order has no arrival date: choose another time")
        until = wake_on_arrival
    else:
        raise ValueError("choose how long to snooze: 1 hour, until 9:00 tomorrow or until the arrival day")
    if until <= now:
        raise ValueError(f"{_when(until, tz)} is in the past: snooze until a later time")
    if until - now > MAX_SNOOZE:
        raise ValueError(f"a snooze lasts at most {MAX_SNOOZE.days} days")
    if wake_on_arrival is not None and now < wake_on_arrival < until:
        raise ValueError(f"the guest arrives {arrival:%a %d %b}: snooze at most until {_when(wake_on_arrival, tz)}")
    return until


def _when(t: dt.datetime, tz: ZoneInfo) -> str:
    return t.astimezone(tz).strftime("%a %d %b %H:%M") + f" ({tz.key})"


def describe_until(until: dt.datetime, zone: str) -> str:
    return _when(until, ZoneInfo(zone))


def _alerts(session: Session, order_id: str) -> list[Alert]:
    return list(session.scalars(select(Alert).where(Alert.order_id == order_id).order_by(Alert.id)))


def snooze(session: Session, order: Order, until: dt.datetime, actor: str, *, now: dt.datetime,
           choice: str | None = None) -> None:
    """Pause the order's escalation until `until` (every surface's alert), audited and shown."""
    session.execute(update(Alert).where(Alert.order_id == order.id).values(
        snoozed_until=until, snoozed_by=actor, last_human_action_at=now).execution_options(synchronize_session=False))
    states.audit(session, actor=actor, action="alert.snoozed", order_id=order.id, until=until.isoformat(),
                 choice=choice)
    service.refresh_alerts(session, order, f"snoozed:{now.isoformat()}")


def end(session: Session, order: Order, *, actor: str, reason: str) -> bool:
    """End the order's snooze now (a new failure); True when one was running.

    Reads the order's alerts as the session holds them (intake has just loaded or created
    them), so a failure that finds no snooze costs no query."""
    order_id = order.id
    alerts = [a for a in order.alerts if a.snoozed_until is not None]
    if not alerts:
        return False
    cleared = session.execute(update(Alert).where(Alert.order_id == order_id, Alert.snoozed_until.is_not(None))
                              .values(snoozed_until=None, snoozed_by=None)
                              .execution_options(synchronize_session=False)).rowcount
    if cleared:
        states.audit(session, actor=actor, action="alert.snooze_ended", order_id=order_id, reason=reason,
                     until=alerts[0].snoozed_until.isoformat(), snoozed_by=alerts[0].snoozed_by)  # type: ignore[union-attr]
    return bool(cleared)


def expire(session: Session, now: dt.datetime, actor: str) -> list[str]:
    """Snoozes whose time has come: re-raise the alert (re-open an acknowledged one at its
    level, restart the escalation clock, say so in the thread). Compare-and-set on the
    snooze's own end, so of two concurrent clocks one re-raises. Returns the order ids."""
    due = session.scalars(select(Alert).where(Alert.snoozed_until.is_not(None), Alert.snoozed_until <= now)
                          .order_by(Alert.order_id, Alert.id)).all()
    raised = []
    for order_id in dict.fromkeys(a.order_id for a in due):
        first = next(a for a in due if a.order_id == order_id)
        until, by = first.snoozed_until, first.snoozed_by
        won = session.execute(update(Alert).where(Alert.order_id == order_id, Alert.snoozed_until == until)
                              .values(snoozed_until=None, snoozed_by=None)
                              .execution_options(synchronize_session=False)).rowcount
        if not won:
            continue
        # the next escalation step counts from the snooze's end
        session.execute(update(Alert).where(Alert.order_id == order_id, Alert.escalation_level > 0)
                        .values(escalated_at=now).execution_options(synchronize_session=False))
        alerts = _alerts(session, order_id)
        for alert in alerts:
            session.refresh(alert)  # the escalation check reads these rows next, in this transaction
        if all(a.state == states.A_RESOLVED for a in alerts):
            continue  # resolved while snoozed: nothing to re-raise
        for alert in alerts:
            if alert.state == states.A_ACKNOWLEDGED:
                states.move_alert(session, alert, states.A_OPEN, actor=actor, keep_escalation=True,
                                  reason="snooze ended")
        # dated `now`: the escalation clock restarts from the snooze's end (OPENED_ACTIONS)
        states.audit(session, actor=actor, action="alert.snooze_ended", order_id=order_id, reason="expired",
                     until=until.isoformat() if until else None, snoozed_by=by).created_at = now
        order = session.get(Order, order_id)
        if order is not None:
            service.refresh_alerts(session, order, f"snooze-ended:{now.isoformat()}")
        raised.append(order_id)
    return raised
