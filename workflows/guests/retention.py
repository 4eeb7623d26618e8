"""Retention (issue 28; GDPR art. 5(1)(e)): a guest's details are kept no longer than needed.

An order is due once nothing is left to do for it — its platform status is done (Complete,
Closed, Cancelled, or one that was never placed or paid: `workflows.core.lifecycle`) and no
alert of it is open — and its last activity (the order row's last change, its last audit
event) is more than `GUEST_DATA_DAYS` ago. The clock runs `run_daily` once a day at
`GUEST_RETENTION_TIME` (`workflows.clock.schedules.DAILY`); each due order is erased
(`workflows.guests.erasure`) in a transaction of its own, with its row locked and checked again,
and a worker rewrites its chat messages. An erased order the platform sent again since has the
guest scrubbed from that copy too. Running it twice erases nothing twice.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Select, exists, select

from workflows.core import queue, states
from workflows.core.db import transaction
from workflows.core.lifecycle import RULES
from workflows.core.models import Alert, AuditEvent, IntakeEvent, Order, utcnow
from workflows.core.settings import Settings, get_settings
from workflows.guests.erasure import erase_late_copies, erase_order

ACTOR = "syncdesk (retention)"
BATCH = 200
DONE_STATUSES = tuple(status for status, rule in RULES.items() if rule.on.done)


def due(cutoff: dt.datetime) -> Select[tuple[str]]:
    """The ids of the orders whose guest is due for erasure: done, nothing open, quiet since `cutoff`."""
    open_alert = exists().where(Alert.order_id == Order.id, Alert.state != states.A_RESOLVED)
    recent = exists().where(AuditEvent.order_id == Order.id, AuditEvent.created_at >= cutoff)
    return (select(Order.id).where(Order.guest_erased_at.is_(None), Order.platform_status.in_(DONE_STATUSES),
                                   Order.updated_at < cutoff, ~open_alert, ~recent)
            .order_by(Order.updated_at, Order.id))


def run_daily(day: str | None = None, settings: Settings | None = None, now: dt.datetime | None = None) -> str:
    """Job (the clock enqueues it once a day): erase the guest of every order due (see the
    module docstring). `day` only names the run."""
    settings = settings or get_settings()
    cutoff = (now or utcnow()) - dt.timedelta(days=settings.guest_data_days)
    erased = 0
    while True:
        with transaction(settings.database_url) as session:
            ids = session.scalars(due(cutoff).limit(BATCH)).all()
        batch = 0
        for order_id in ids:
            with transaction(settings.database_url) as session:
                # locked and asked again: a failure may have arrived since the list was read
                if session.scalar(due(cutoff).where(Order.id == order_id).with_for_update()) is None:
                    continue
                order = session.get(Order, order_id)
                if order is not None and erase_order(session, order, actor=ACTOR, why="retention") is not None:
                    batch += 1
                entries = queue.added(session)
            queue.dispatch(settings, entries)
        erased += batch
        if len(ids) < BATCH or batch == 0:
            break
    return f"{erased} guest{'s' if erased != 1 else ''} erased; {_late_copies(settings)} later copies scrubbed"


def _late_copies(settings: Settings) -> int:
    """Erased orders the platform sent again since: their new payloads scrubbed too."""
    late = exists().where(IntakeEvent.order_id == Order.id, IntakeEvent.received_at >= Order.guest_erased_at)
    with transaction(settings.database_url) as session:
        ids = session.scalars(select(Order.id).where(Order.guest_erased_at.is_not(None), late)).all()
    done = 0
    for order_id in ids:
        with transaction(settings.database_url) as session:
            order = session.get(Order, order_id, with_for_update=True)
            if order is not None and erase_late_copies(session, order, actor=ACTOR) is not None:
                done += 1
            entries = queue.added(session)
        queue.dispatch(settings, entries)
    return done
