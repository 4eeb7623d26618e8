"""The vendor escalation pack (issue 26.5): source 000 tells staff to contact the system's
support when errors come in high volume. syncdesk writes that message for them from the
outage it already tracks: the window, the count and the error classes, three sample failures
with their times and the vendor's request ids where the log has them, the affected
properties, and what has been done so far. Staff edit it, copy it, or post it in the outage
message's thread; syncdesk never sends it to the vendor itself.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import select

from connectors.errors import ErrorClass
from connectors.routing import property_in
from workflows.core.db import transaction
from workflows.core.models import Incident, OrderItem, SyncAttempt
from workflows.core.settings import Settings
from workflows.orders.service import INTAKE_ACTORS
from workflows.systems.names import system_name
from workflows.systems.registry import support_contact

SAMPLES = 3
# A vendor's request id as logs carry it: "X-Request-Id: abc123", "requestId=…", "request id …".
REQUEST_ID = re.compile(r"(?i)\b(?:x-)?(?:request|correlation|trace)[-_ ]?id\b[\"']?\s*[:=]?\s*[\"']?"
                        r"([A-Za-z0-9][A-Za-z0-9._:-]{5,})")


@dataclass(frozen=True)
class SupportDraft:
    incident_id: int
    system: str
    contact: str  # the system's configured support contact ("" when none is configured)
    subject: str
    body: str
    where: tuple[str | None, str | None]  # the outage message (Slack channel, ts): where "post" goes

    @property
    def text(self) -> str:
        to = f"To: {self.contact}\n" if self.contact else ""
        return f"{to}Subject: {self.subject}\n\n{self.body}"


def request_id(log: str | None) -> str | None:
    found = REQUEST_ID.search(log or "")
    return found.group(1) if found else None


def _label(error_class: str) -> str:
    try:
        return ErrorClass(error_class).label
    except ValueError:
        return error_class.replace("_", " ")


def _utc(t: dt.datetime) -> str:
    return f"{t.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M} UTC"


def draft(settings: Settings, incident_id: int) -> SupportDraft | None:
    """The support request for an outage, or None for an unknown one."""
    with transaction(settings.database_url) as session:
        incident = session.get(Incident, incident_id)
        if incident is None:
            return None
        failures = session.execute(
            select(SyncAttempt.started_at, SyncAttempt.order_id, OrderItem.item_id, OrderItem.details,
                   SyncAttempt.error_class, SyncAttempt.message, SyncAttempt.raw_log)
            .join(OrderItem, OrderItem.pk == SyncAttempt.item_pk)
            .where(OrderItem.system == incident.system, SyncAttempt.triggered_by.in_(INTAKE_ACTORS),
                   SyncAttempt.started_at >= incident.first_failure_at,
                   SyncAttempt.started_at <= incident.last_failure_at)
            .order_by(SyncAttempt.started_at)).all()
        facts = (incident.system, incident.first_failure_at, incident.last_failure_at, incident.failure_count,
                 dict(incident.error_classes or {}), incident.paged_at, incident.reprocess_requested_by,
                 incident.reprocess_requested_at, incident.all_clear_at, (incident.channel, incident.message_id))
    system, first, last, count, classes, paged, asked_by, asked_at, all_clear, where = facts
    name = system_name(system)
    props = sorted({property_in(details or {}) or "unnamed property" for _, _, _, details, _, _, _ in failures})
    spread = [failures[0], failures[len(failures) // 2], failures[-1]] if len(failures) > SAMPLES else failures
    samples = []
    for at, order_id, item_id, details, error_class, message, log in spread:
        rid = request_id(log) or request_id(message)
        samples.append(f"- {_utc(at)}, booking {order_id}/{item_id} ({property_in(details or {}) or 'no property'}):"
                       f" {_label(error_class or 'unknown')}: {(message or '').strip()[:300]}"
                       + (f" (your request id: {rid})" if rid else ""))
    done = [f"- our on-call was paged at {_utc(paged)}" if paged else "- our on-call is looking into it"]
    if all_clear:
        done.append(f"- no failure since {_utc(last)}; the all-clear was given at {_utc(all_clear)}")
    if asked_by:
        done.append(f"- we started rebooking the failed bookings at {_utc(asked_at) if asked_at else 'once quiet'}")
    by_class = ", ".join(f"{_label(c)} {n}" for c, n in sorted(classes.items(), key=lambda kv: -kv[1]))
    subject = f"{name}: {count} failed bookings between {_utc(first)} and {_utc(last)}"
    body = "\n".join([
        "Hello,",
        "",
        f"Between {_utc(first)} and {_utc(last)}, {count} bookings we sent to {name} failed "
        f"({by_class or 'no error class recorded'}), for {', '.join(props) or 'our properties'}.",
        "",
        f"{'Three examples' if len(samples) == SAMPLES else 'The failures'}:",
        *samples,
        "",
        "What we have done so far:",
        *done,
        "",
        "Could you tell us whether there is a problem on your side, and when it is resolved?",
        "",
        "Thank you",
    ])
    return SupportDraft(incident_id, system, support_contact(settings, system), subject, body, where)
