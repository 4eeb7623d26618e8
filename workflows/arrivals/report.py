"""The front desk's report (issue 26.3): "the guest is at the desk and has no booking".

`/syncdesk report ORDER-ID "guest at the desk, no booking"` and the message shortcut in Slack,
`report ORDER-ID note` in Teams, all call `file`:
- the order is fetched from the platform: syncdesk need never have heard of it, no failure
  need ever have been recorded;
- each of its bookable items is looked up in its system now, as the arrival check does (the
  existing-booking lookup, `check.look_up_now`);
- each becomes a booking problem of the order (`workflows.orders.problem_alerts`): missing,
  cancelled there, held or on other dates as its system answers, else "reported" (the system
  holds it, or could not be asked: the desk's word stands). The order's alert opens, on a
  Complete order too, with Rebook, Booked manually and It's fine;
- audited as `report.filed`, with the note.

Then a job (`announce`) posts the reporter's note in the alert's thread once the alert is
shown, and tells on-call at once: a guest at the desk is urgent by definition.

An order the platform does not know gets a clear answer and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.errors import ConnectorError
from workflows.arrivals.check import arrivals_of, look_up_now
from workflows.arrivals.findings import Finding, Kind
from workflows.core import queue, states
from workflows.core.db import transaction
from workflows.core.lifecycle import OnStatus, rule_for
from workflows.core.messages import messengers
from workflows.core.models import Alert, ArrivalCheck, AuditEvent, utcnow
from workflows.core.settings import Settings, get_settings
from workflows.oncall import escalation
from workflows.orders import problem_alerts, service
from workflows.orders.jobs import refresh_alert
from workflows.orders.payloads import PayloadError, PlatformOrder, parse_platform_order
from workflows.outage.jobs import surfaces
from workflows.systems.clients import platform_client

log = logging.getLogger(__name__)

ACTOR = "syncdesk (front desk report)"
USAGE = 'report ORDER-ID "what the front desk sees", e.g. report ORD-10042 "guest at the desk, no booking"'
MIN_NOTE = 3
ANNOUNCE_TRIES = 20  # the alert is shown within a few refresh turns; the note waits for it
_QUOTES = "\"'“”‘’«»"
_ORDER_ID = re.compile(r"\b[A-Z][A-Z0-9]*-[A-Z0-9][A-Z0-9-]*\b")


@dataclass(frozen=True)
class Reported:
    """The answer to the person who reported."""

    accepted: bool
    message: str


def parse(text: str) -> tuple[str, str]:
    """`ORDER-ID "note"` (as typed after `report`): the order id and the note, unquoted."""
    words = text.strip().split(maxsplit=1)
    order_id = words[0].strip(_QUOTES + ",;:") if words else ""
    note = words[1].strip().strip(_QUOTES).strip() if len(words) > 1 else ""
    return order_id, note


def order_id_in(text: str) -> str | None:
    """The first thing in a message that looks like an order id ("ORD-10042"): what the message
    shortcut's form is prefilled with, for the person to correct."""
    found = _ORDER_ID.search(text or "")
    return found.group(0) if found else None


def _name(actor: str) -> str:
    """"slack:U0ANA (ana)" → "ana": how a message names the reporter."""
    found = re.search(r"\(([^)]*)\)\s*$", actor)
    return found.group(1) if found and found.group(1) else actor


def _fetch(settings: Settings, order_id: str) -> PlatformOrder | str:
    """The platform's copy of the order, or why there is none (in words for the reporter)."""
    if not settings.platform_api_url:
        return f"PLATFORM_API_URL is not set: syncdesk cannot fetch {order_id} from the platform. Nothing was reported."
    try:
        with platform_client(settings) as platform:
            raw = platform.get_order(order_id)
    except ConnectorError as exc:
        if exc.status == 404:
            return (f"{order_id} is not an order on the platform: nothing was reported. Check the number on the "
                    "guest's confirmation (e.g. ORD-10042).")
        return f"The platform could not be asked about {order_id} ({exc.message}). Nothing was reported: try again."
    try:
        return parse_platform_order(raw)
    except PayloadError as exc:
        return f"The platform's copy of {order_id} cannot be read ({exc}). Nothing was reported."


def _refusal(data: PlatformOrder) -> str | None:
    rule = rule_for(data.status)
    if rule.on in (OnStatus.NEVER, OnStatus.CANCELLED):
        return (f"{data.id} is {data.status} on the platform ({rule.why}): nobody is expected, so syncdesk opens "
                "no alert. If the guest paid, call on-call.")
    if not _bookable(data):
        return f"{data.id} has nothing booked in a booking system (no dated room, table, treatment or ticket)."
    return None


def _bookable(data: PlatformOrder) -> list[tuple[dt.date, str]]:
    """(arrival day, item id) of the order's items the desk can be missing: dated, in a system."""
    return [(i.start, i.id) for i in data.items
            if i.kind != "retail" and i.system and i.start is not None and i.status != states.CANCELLED]


def file(settings: Settings, order_id: str, note: str, actor: str, *, via: str) -> Reported:
    """Report that the guest of `order_id` has no booking (`note`: what the desk sees): the
    order's alert opened with each item's booking problem, audited, the note and on-call's
    message asked for. Runs the platform read and the look-ups now: call it after the ack."""
    order_id, note = order_id.strip(), " ".join((note or "").split())
    if not order_id or len(note) < MIN_NOTE:
        return Reported(False, f"Usage: {USAGE}")
    data = _fetch(settings, order_id)
    if isinstance(data, str):
        return Reported(False, data)
    refusal = _refusal(data)
    if refusal:
        return Reported(False, refusal)
    findings = [look_up_now(settings, arrival) for day, item_id in _bookable(data)
                for arrival in arrivals_of(data, day) if arrival.request.item_id == item_id]
    now = utcnow()
    with transaction(settings.database_url) as session:
        order, _ = service.apply_platform_order(session, data, actor=ACTOR)
        kinds: dict[str, str] = {}
        for finding in findings:
            kinds[finding.arrival.request.item_id] = _record(session, finding, actor, note, now)
            item = next(i for i in order.items if i.item_id == finding.arrival.request.item_id)
            problem_alerts.hold(session, order, item, actor=actor, surfaces=surfaces(settings),
                                cause=f"report:{item.item_id}:{now.isoformat()}", problem=kinds[item.item_id])
        report_id = queue.job_id("report", order_id, now.isoformat())
        states.audit(session, actor=actor, action="report.filed", order_id=order_id, note=note, via=via,
                     report=report_id, items=kinds)
        queue.add(session, "workflows.arrivals.report.announce", report_id, order_id=order_id, note=note,
                  actor=actor, report=report_id)
        entries = queue.added(session)
    queue.dispatch(settings, entries)
    found = " ".join(f.detail for f in findings)
    return Reported(True, f"Reported: {order_id} has an urgent alert now, with your note in its thread, and "
                          f"on-call is told at once. What its system says: {found}")


def _record(session: Session, finding: Finding, actor: str, note: str, now: dt.datetime) -> str:
    """The item's problem row for its arrival day: the system's own problem where it found one,
    else "reported" (it holds the booking, or could not be asked: the desk's word stands)."""
    request = finding.arrival.request
    assert request.start is not None
    kind = finding.kind if finding.kind.problem else Kind.REPORTED
    row = session.get(ArrivalCheck, (request.start, request.order_id, request.item_id))
    if row is None:
        row = ArrivalCheck(day=request.start, order_id=request.order_id, item_id=request.item_id)
        session.add(row)
    row.property, row.system = finding.arrival.property, request.system
    row.kind, row.confirmation, row.checked_at = kind.value, finding.confirmation, now
    row.detail = f"{_name(actor)} at the desk: “{note}”. {finding.detail}"
    row.first_problem_at, row.resolved_at, row.checked_by = now, None, None
    return kind.value


def _posted(settings: Settings, order_id: str) -> dict[str, tuple[str, str]]:
    """(channel, message id) of the order's alert on each surface where it is shown."""
    with transaction(settings.database_url) as session:
        alerts = session.scalars(select(Alert).where(Alert.order_id == order_id, Alert.channel.is_not(None),
                                                     Alert.message_id.is_not(None)))
        return {a.surface: (a.channel or "", a.message_id or "") for a in alerts}


def _done(settings: Settings, order_id: str, report: str) -> set[str]:
    """What this report's job did already (a job may run twice): "told", and each surface noted."""
    with transaction(settings.database_url) as session:
        events = session.scalars(select(AuditEvent).where(
            AuditEvent.order_id == order_id, AuditEvent.action.in_(("report.noted", "report.told"))))
        return {e.detail.get("surface") or "told" for e in events if e.detail.get("report") == report}


def announce(order_id: str, note: str, actor: str, report: str, attempt: int = 1,
             settings: Settings | None = None) -> str:
    """Job: the reporter's note in the alert's thread on every surface, once the alert is shown
    (tried again after a refresh turn while it is not), then on-call told at once."""
    settings = settings or get_settings()
    shown = surfaces(settings)
    for surface in shown:
        refresh_alert(order_id, surface, settings=settings)
    posted, done = _posted(settings, order_id), _done(settings, order_id, report)
    if any(s not in posted for s in shown) and attempt < ANNOUNCE_TRIES:
        queue.enqueue(settings, "workflows.arrivals.report.announce", queue.job_id(report, attempt + 1),
                      delay_seconds=max(1.0, settings.alert_refresh_seconds), order_id=order_id, note=note,
                      actor=actor, report=report, attempt=attempt + 1)
        return "waiting for the alert to be shown"
    text = f"🛎️ Front desk report by {_name(actor)}: “{note}”"
    for surface, (channel, message) in posted.items():
        if surface in shown and surface not in done:
            messengers.get(surface).thread_message(text, channel, message)
            with transaction(settings.database_url) as session:
                states.audit(session, actor=ACTOR, action="report.noted", order_id=order_id, surface=surface,
                             report=report)
    if "told" in done:
        return "noted"
    told = escalation.notify(order_id, escalation.LEVEL_DM, settings=settings,
                             urgent=f"Front desk report by {_name(actor)}: “{note}”")
    with transaction(settings.database_url) as session:
        states.audit(session, actor=ACTOR, action="report.told", order_id=order_id, report=report, told=told)
    return f"noted, on-call: {told}"
