"""The arrival check (issue 25): the platform's arrivals of a day, each paid item looked up in
its booking system, what was found stored per item, and one summary per property and day.

- The platform lists a day's arrivals (`GET /orders?arriving=`, DESIGN §3.2). An order is
  checked when it is placed and not cancelled (In Progress, Booked, Complete, Closed) and its
  payment is captured and not refunded (the live Stripe check; an order whose payment cannot
  be checked is checked anyway, so nothing is missed for want of a key).
- Each of its items starting that day is looked up: by its confirmation number once the
  platform has one (`find_by_confirmation`), else by our reference and the guest
  (`find_existing`, the check-first search). Systems without an API go on the front desk's
  list instead (`Kind.MANUAL`), one line per item, ticked by a person.
- Lookups use at most ARRIVALS_SHARE of each system's pace (`pace.share`), so people's
  Reprocesses keep the rest.
- Each run rewrites the day's rows (`ArrivalCheck`): a problem is raised once (counted once,
  and an alert of its own with Rebook, Booked manually and It's fine, on a Complete order too:
  `workflows.orders.problem_alerts`), a later run that finds it confirmed marks it resolved
  and settles its alert, and the summary message is updated in place (`ArrivalSummary`, `boards`).
- The poller asks `recheck` to look an order's open problems up again when the platform says
  the order is Complete: the platform's word does not settle them (`workflows.core.lifecycle`).
- Items that could not be checked are tried again after ARRIVALS_RETRY_MINUTES.
- The other direction: where the day's orders include items cancelled or refunded on the
  platform, each system that can list a day's bookings (`ListsBookings`: SynXis, Mews,
  ResDiary) is asked for that property's day, at the same share of its pace, and a live
  booking carrying such an item's reference or number is a "booked, refunded" line on the
  summary (not an alert). A system that cannot list is skipped; a listing that fails says
  "could not list" on the summary.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.errors import ConnectorError, NoConnector
from connectors.routing import property_in
from connectors.types import BookingConnector, BookingRequest, BookingStatus, Guest, ListsBookings, PaymentState
from workflows.arrivals.findings import Arrival, DaySummary, Finding, Kind, Line, judge, unexpected
from workflows.core import metrics, queue, states
from workflows.core.db import transaction
from workflows.core.lifecycle import OnStatus, rule_for
from workflows.core.messages import MessageRef, messengers
from workflows.core.models import Alert, ArrivalCheck, ArrivalSummary, Order, utcnow
from workflows.core.ports import Port
from workflows.core.settings import Settings, get_settings
from workflows.oncall import escalation
from workflows.orders import problem_alerts, problems, service
from workflows.orders.problems import NEXT_STEP
from workflows.orders import masking
from workflows.orders.payloads import PayloadError, PlatformOrder, parse_platform_order
from workflows.outage.jobs import surfaces
from workflows.systems import pace
from workflows.systems.clients import platform_client, stripe_payments
from workflows.systems.names import system_name
from workflows.systems.registry import connector_for, destination_at, timezone_at

log = logging.getLogger(__name__)

ACTOR = "syncdesk (arrival check)"
PURPOSE = "arrivals"  # the pace share's name


class ArrivalBoard(Protocol):
    def show_arrivals(self, summary: DaySummary, current: MessageRef, channel: str | None) -> MessageRef:
        """Post the summary (in `channel`, else the surface's default), or update it where
        `current` says it was posted; returns where it is now."""
        ...


boards: Port[ArrivalBoard] = Port("arrival board")


@dataclass(frozen=True)
class Run:
    """What one run did: the summaries it showed and the problems it raised for the first time."""

    summaries: tuple[DaySummary, ...]
    raised: tuple[Finding, ...]
    skipped: tuple[str, ...]  # orders not checked, and why


def request_for(order: PlatformOrder, item_id: str) -> BookingRequest:
    """The booking request of one platform order item (what a connector looks up)."""
    item = order.item(item_id)
    assert item is not None
    return BookingRequest(
        order_id=order.id, item_id=item.id, kind=item.kind, system=item.system or "", description=item.description,
        start=item.start, end=item.end, quantity=item.quantity, guests=item.guests, details=dict(item.details),
        guest=Guest(order.guest.first_name, order.guest.last_name, order.guest.email, order.guest.phone))


def arrivals_of(order: PlatformOrder, day: dt.date) -> list[Arrival]:
    """The order's bookable items starting on `day` (not those cancelled and refunded)."""
    return [Arrival(request_for(order, item.id), property_in(item.details) or "", item.external_reference,
                    order.status)
            for item in order.items if item.start == day and item.kind != "retail" and item.system
            and item.status != states.CANCELLED]


@dataclass(frozen=True)
class NotExpected:
    """An item starting on the day whose order is cancelled or refunded on the platform."""

    arrival: Arrival
    why: str  # "the order is Cancelled on the platform", "its payment pi_… is refunded", …


def not_expected_of(order: PlatformOrder, day: dt.date, why: str | None) -> list[NotExpected]:
    """The order's bookable items starting on `day` that nobody should be booked for: all of them
    when `why` says the order is cancelled or refunded, else its cancelled items."""
    return [NotExpected(Arrival(request_for(order, item.id), property_in(item.details) or "", item.external_reference,
                                order.status), why or "the item is cancelled on the platform")
            for item in order.items if item.start == day and item.kind != "retail" and item.system
            and (why is not None or item.status == states.CANCELLED)]


def check_day(settings: Settings, day: dt.date, *, prop: str | None = None, zone: str | None = None,
              now: dt.datetime | None = None) -> Run:
    """Check every paid arrival of `day` (only `prop`'s, or only properties in `zone`, when
    given), store what was found, raise new problems and show each property's summary."""
    now = now or utcnow()
    arrivals, skipped, orders, gone = _paid_arrivals(settings, day)
    arrivals = [a for a in arrivals if (prop is None or a.property == prop) and
                (zone is None or _zone(settings, a) == zone)]
    gone = [g for g in gone if (prop is None or g.arrival.property == prop) and
            (zone is None or _zone(settings, g.arrival) == zone)]
    findings = _look_up(settings, arrivals)
    booked, listed, unlisted = _other_direction(settings, day, gone)
    with transaction(settings.database_url) as session:
        raised = _store(session, day, findings + booked, now)
        _drop_unlisted(session, day, listed, booked)
        _alert(session, settings, raised, orders)
        summaries = _summaries(session, day, arrivals + [f.arrival for f in booked] +
                               [g.arrival for g in gone if g.arrival.property in unlisted], settings, now, unlisted)
        entries = queue.added(session)
    queue.dispatch(settings, entries)
    for finding in raised:
        metrics.ARRIVAL_PROBLEMS.labels(finding.kind.value, finding.arrival.request.system).inc()
        _announce(settings, finding)
    places = {a.property: a for a in arrivals + [g.arrival for g in gone]}
    for summary in summaries:
        _show(settings, summary, places.get(summary.property))
    if any(f.kind is Kind.UNCHECKED for f in findings):
        queue.enqueue(settings, "workflows.arrivals.check.run_again", queue.job_id("arrivals-again", day, prop, zone,
                                                                                   int(now.timestamp())),
                      delay_seconds=settings.arrivals_retry_minutes * 60, day=day.isoformat(), prop=prop, zone=zone)
    return Run(tuple(summaries), tuple(raised), tuple(skipped))


def _zone(settings: Settings, arrival: Arrival) -> str:
    return timezone_at(arrival.request.system, arrival.request.details, settings)


def _paid_arrivals(settings: Settings, day: dt.date) -> tuple[list[Arrival], list[str], dict[str, PlatformOrder],
                                                             list[NotExpected]]:
    """The day's paid arrivals, what was skipped and why, the platform's copy of each order
    checked (a problem's alert is opened from it), and the day's items cancelled or refunded."""
    arrivals: list[Arrival] = []
    skipped: list[str] = []
    orders: dict[str, PlatformOrder] = {}
    gone: list[NotExpected] = []
    with platform_client(settings) as platform:
        listed = list(platform.list_arriving(day))
    stripe = stripe_payments(settings) if settings.stripe_api_key is not None else None
    try:
        for data in listed:
            try:
                order = parse_platform_order(data)
            except PayloadError as exc:
                skipped.append(f"{data.get('id', '?')}: unreadable ({exc})")
                continue
            if rule_for(order.status).on is OnStatus.CANCELLED:
                gone += not_expected_of(order, day, f"the order is {order.status} on the platform")
                continue  # cancelled: nobody is expected
            if rule_for(order.status).on is OnStatus.NEVER:
                continue  # not placed, or a test
            why_not = _unpaid(stripe, order)
            if why_not:
                skipped.append(f"{order.id}: {why_not}")
                gone += not_expected_of(order, day, f"its {why_not}" if why_not.endswith(" refunded") else None)
                continue
            arrivals += arrivals_of(order, day)
            gone += not_expected_of(order, day, None)
            orders[order.id] = order
    finally:
        if stripe is not None:
            stripe.close()
    return arrivals, skipped, orders, gone


def _unpaid(stripe: object | None, order: PlatformOrder) -> str | None:
    """Why the order is not a paid arrival, or None (paid, or its payment cannot be checked)."""
    if stripe is None or order.payment is None or order.payment.provider != "stripe" or not order.payment.reference:
        return None
    try:
        check = stripe.check(order.payment.reference, order.total_minor, order.currency)  # type: ignore[attr-defined]
    except ConnectorError as exc:
        log.warning("arrival check: payment of %s not checked (%s); checking its booking anyway", order.id, exc)
        return None
    if check.state is PaymentState.UNKNOWN or check.state.settled:
        return None
    return f"payment {order.payment.reference} is {check.state.value.replace('_', ' ')}"


def _look_up(settings: Settings, arrivals: list[Arrival]) -> list[Finding]:
    """Each arrival judged by its system's answer; lookups run a few at a time, each system at
    its share of the pace."""
    ready: list[tuple[Arrival, BookingConnector]] = []
    findings: list[Finding] = []
    for arrival in arrivals:
        try:
            connector = connector_for(arrival.request, settings, share=(PURPOSE, settings.arrivals_share))
        except NoConnector:
            findings.append(Finding(arrival, Kind.MANUAL, "no connector: check it by hand"))
            continue
        if not connector.describe().automatic:
            findings.append(Finding(arrival, Kind.MANUAL, f"{connector.describe().name} has no booking API"))
            continue
        ready.append((arrival, connector))
    if ready:
        at_once = max(pace.share(settings, s, settings.arrivals_share, PURPOSE).own.pace.concurrency
                      for s in {a.request.system for a, _ in ready})
        with ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="arrivals") as pool:
            findings += pool.map(lambda pair: _one(settings, *pair), ready)
    return findings


def _other_direction(settings: Settings, day: dt.date, gone: list[NotExpected]
                     ) -> tuple[list[Finding], set[str], dict[str, str]]:
    """The day's bookings of each listable system at each property where an item is cancelled
    or refunded, matched to those items by our reference or their number: the live ones are
    findings. Returns them, the properties listed, and those whose listing failed (in words)."""
    places: dict[tuple[str, str], list[NotExpected]] = {}
    for item in gone:
        places.setdefault((item.arrival.request.system, item.arrival.property), []).append(item)
    found: list[Finding] = []
    listed: set[str] = set()
    unlisted: dict[str, str] = {}
    for (system, prop), items in sorted(places.items()):
        example = items[0].arrival.request
        try:
            connector = connector_for(example, settings, share=(PURPOSE, settings.arrivals_share))
        except NoConnector:
            continue
        if not isinstance(connector, ListsBookings):
            continue  # a playbook: nothing to list
        try:
            bookings = connector.bookings_on(day, example)
        except NoConnector:
            continue  # configured without a day listing (a PMS profile without `day_list`)
        except ConnectorError as exc:
            log.warning("arrival check: %s could not list %s at %s (%s)", system, day, prop or "its default", exc)
            unlisted[prop] = f"{system_name(system)} ({exc.message})"
            continue
        listed.add(prop)
        for booking in bookings:
            if booking.status not in (BookingStatus.BOOKED, BookingStatus.PENDING):
                continue
            match = next((i for i in items if booking.reference == i.arrival.request.reference or
                          (booking.confirmation and booking.confirmation == i.arrival.external_reference)), None)
            if match is not None:
                found.append(unexpected(match.arrival, booking, match.why))
    return found, listed, unlisted


def _drop_unlisted(session: Session, day: dt.date, listed: set[str], booked: list[Finding]) -> None:
    """A "booked, refunded" line whose booking its system no longer lists (cancelled since) goes."""
    now_booked = {f.arrival.key for f in booked}
    for row in session.scalars(select(ArrivalCheck).where(ArrivalCheck.day == day,
                                                          ArrivalCheck.kind == Kind.BOOKED_REFUNDED.value)):
        if row.property in listed and (row.order_id, row.item_id) not in now_booked:
            session.delete(row)


def look_up_now(settings: Settings, arrival: Arrival) -> Finding:
    """One arrival looked up now at its system's full pace: a person is waiting (the front
    desk's report, `workflows.arrivals.report`). A system without an API is "manual"."""
    try:
        connector = connector_for(arrival.request, settings)
    except NoConnector:
        return Finding(arrival, Kind.MANUAL, "no connector: check it by hand")
    if not connector.describe().automatic:
        return Finding(arrival, Kind.MANUAL, f"{connector.describe().name} has no booking API: check it by hand.")
    return _one(settings, arrival, connector)


def _one(settings: Settings, arrival: Arrival, connector: BookingConnector) -> Finding:
    request = arrival.request
    try:
        if arrival.external_reference:
            existing = connector.find_by_confirmation(arrival.external_reference, request)
        else:
            existing = connector.find_existing(request)
    except ConnectorError as exc:
        return Finding(arrival, Kind.UNCHECKED, f"{system_name(request.system)} could not be asked ({exc.message}); "
                       f"tried again in {settings.arrivals_retry_minutes:g} min")
    metrics.ARRIVALS_CHECKED.labels(request.system).inc()
    return judge(arrival, existing)


def _store(session: Session, day: dt.date, findings: Iterable[Finding], now: dt.datetime) -> list[Finding]:
    """Write each finding on its row; returns the problems not raised before."""
    rows = {(r.order_id, r.item_id): r for r in session.scalars(select(ArrivalCheck).where(ArrivalCheck.day == day))}
    raised: list[Finding] = []
    for finding in findings:
        order_id, item_id = finding.arrival.key
        row = rows.get((order_id, item_id))
        if row is None:
            row = ArrivalCheck(day=day, order_id=order_id, item_id=item_id, detail="")
            session.add(row)
            was = None
        else:
            was = Kind(row.kind)
        if was is Kind.REPORTED and row.resolved_at is None and row.checked_by is None:
            continue  # the front desk's report stands until someone books it or says it is fine
        if finding.kind is Kind.UNCHECKED and was is not None and was is not Kind.UNCHECKED:
            row.detail = f"{finding.detail} (last found: {row.kind})"
            row.checked_at = now
            continue  # what was found before still stands until the system answers
        if finding.kind.problem and (was is None or not was.problem or row.resolved_at is not None
                                     or finding.kind is not was):
            raised.append(finding)
            row.first_problem_at, row.resolved_at, row.checked_by = now, None, None
        elif finding.kind is Kind.CONFIRMED and was is not None and was.problem and row.resolved_at is None:
            _found_confirmed(session, order_id, item_id, finding)
            row.resolved_at = now
            states.audit(session, actor=ACTOR, action="arrival.resolved", order_id=order_id, item_id=item_id,
                         day=day.isoformat(), was=was.value)
        row.property, row.system = finding.arrival.property, finding.arrival.request.system
        row.kind, row.confirmation, row.checked_at = finding.kind.value, finding.confirmation, now
        if not (finding.kind is Kind.MANUAL and row.checked_by):
            row.detail = finding.detail
    for finding in raised:
        states.audit(session, actor=ACTOR, action="arrival.problem", order_id=finding.arrival.request.order_id,
                     item_id=finding.arrival.request.item_id, day=day.isoformat(), kind=finding.kind.value,
                     detail=finding.detail)
    return raised


def _found_confirmed(session: Session, order_id: str, item_id: str, finding: Finding) -> None:
    """A problem found earlier is confirmed now: settled, the item released and the order's
    alert resolved when nothing else is owed (`workflows.orders.problem_alerts`)."""
    order = session.get(Order, order_id)
    settled = None if order is None else problem_alerts.settle(
        session, order, item_id, actor=ACTOR, how=problem_alerts.How.FOUND, confirmation=finding.confirmation)
    if settled is not None and settled.resolved:
        escalation.request_resolve(session, order_id)


def _alert(session: Session, settings: Settings, raised: Iterable[Finding], orders: dict[str, PlatformOrder]) -> None:
    """Each new problem becomes an alert with the moves staff need (issue 25): the order stored
    from the platform's copy, the item held In Progress here, the alert opened on every surface,
    a Complete order's too (`workflows.orders.problem_alerts`). An order with an alert open
    already keeps it: the finding goes into its thread (`_announce`)."""
    for finding in raised:
        request = finding.arrival.request
        data = orders.get(request.order_id)
        if data is None:
            continue
        order, _ = service.apply_platform_order(session, data, actor=ACTOR)
        item = next((i for i in order.items if i.item_id == request.item_id), None)
        if item is None or item.status == states.CANCELLED:
            continue
        problem_alerts.hold(session, order, item, actor=ACTOR, surfaces=surfaces(settings),
                            cause=f"arrival:{request.item_id}:{finding.kind.value}:{utcnow().isoformat()}",
                            problem=finding.kind.value)


def summary(session: Session, day: dt.date, prop: str, today: dt.date) -> DaySummary:
    rows = session.scalars(select(ArrivalCheck).where(ArrivalCheck.day == day, ArrivalCheck.property == prop)
                           .order_by(ArrivalCheck.order_id, ArrivalCheck.item_id))
    return DaySummary(day, prop, tuple(
        Line(r.order_id, r.item_id, r.system, Kind(r.kind), r.detail, r.confirmation,
             resolved=r.resolved_at is not None and r.kind == Kind.CONFIRMED, checked_by=r.checked_by)
        for r in rows), today)


def current_summaries(settings: Settings, now: dt.datetime | None = None) -> list[DaySummary]:
    """Every property's summary for its today and the days after that were checked, as the last
    run and people's marks left them (the Slack Home tab shows their headlines), by day and
    property."""
    now = now or utcnow()
    since = now.date() - dt.timedelta(days=1)  # a property west of UTC may still be on yesterday
    with transaction(settings.database_url) as session:
        places = session.execute(select(ArrivalCheck.day, ArrivalCheck.property, ArrivalCheck.system)
                                 .where(ArrivalCheck.day >= since).distinct()).all()
        shown: dict[tuple[dt.date, str], DaySummary] = {}
        for day, prop, system in places:
            today = _today(settings, system, prop, now)
            if day >= today and (day, prop) not in shown:
                shown[(day, prop)] = summary(session, day, prop, today)
    return [shown[key] for key in sorted(shown)]


def _summaries(session: Session, day: dt.date, arrivals: list[Arrival], settings: Settings,
               now: dt.datetime, unlisted: dict[str, str] | None = None) -> list[DaySummary]:
    places = {a.property: a for a in arrivals}
    shown = [summary(session, day, prop, _today(settings, a.request.system, prop, now))
             for prop, a in sorted(places.items())]
    return [replace(s, unlisted=(unlisted[s.property],)) if unlisted and s.property in unlisted else s
            for s in shown]


def _today(settings: Settings, system: str, prop: str, now: dt.datetime) -> dt.date:
    """The date at the property now (its zone from the routing file, else LOCAL_TIMEZONE)."""
    zone = timezone_at(system, {"property_id": prop} if prop else {}, settings)
    return now.astimezone(ZoneInfo(zone)).date()


def _show(settings: Settings, shown: DaySummary, example: Arrival | None) -> None:
    """Post or update the summary on every surface, where the property's alerts go."""
    for surface in surfaces(settings):
        with transaction(settings.database_url) as session:
            row = session.get(ArrivalSummary, (shown.day, shown.property, surface))
            current: MessageRef = (row.channel, row.message_id) if row is not None else (None, None)
        channel = current[0] or (destination_at(example.request.system, example.request.details, settings, surface)
                                 if example is not None else None)
        ref = boards.get(surface).show_arrivals(shown, current, channel)
        with transaction(settings.database_url) as session:
            row = session.get(ArrivalSummary, (shown.day, shown.property, surface))
            if row is None:
                session.add(ArrivalSummary(day=shown.day, property=shown.property, surface=surface,
                                           channel=ref[0], message_id=ref[1]))
            else:
                row.channel, row.message_id = ref


def _announce(settings: Settings, finding: Finding) -> None:
    """A new problem, said in the thread of the order's alert where it was posted already (an
    open failure alert, or one reopened: not a second alert). A new alert shows it itself."""
    request = finding.arrival.request
    guest = masking.guest_name(request.guest.first_name, request.guest.last_name, settings.chat_guest_details)
    text = (f"Arrival check: {request.order_id}/{request.item_id} ({request.description or request.kind}, "
            f"{guest}, arriving {request.start:%a %d %b}): "
            f"{finding.kind.value} — {finding.detail} {NEXT_STEP[finding.kind]}")
    threads = _open_alert_threads(settings, request.order_id)
    for surface in surfaces(settings):
        if surface in threads:
            messengers.get(surface).thread_message(text, *threads[surface])


def _open_alert_threads(settings: Settings, order_id: str) -> dict[str, tuple[str, str]]:
    """(channel, message id) of the order's open, posted alert on each surface."""
    with transaction(settings.database_url) as session:
        alerts = session.scalars(select(Alert).where(Alert.order_id == order_id, Alert.state != states.A_RESOLVED,
                                                     Alert.channel.is_not(None), Alert.message_id.is_not(None)))
        return {a.surface: (a.channel or "", a.message_id or "") for a in alerts}


def mark_checked(settings: Settings, day: dt.date, order_id: str, item_id: str, actor: str,
                 reason: str | None = None) -> DaySummary:
    """A person ticked a manual system's line ("checked"), or said a problem is fine with a
    reason ("It's fine", the reason required): recorded, audited, the summary updated. A
    problem's alert is settled with it (the alert's own It's fine does the same:
    `workflows.actions.fine`)."""
    with transaction(settings.database_url) as session:
        row = session.get(ArrivalCheck, (day, order_id, item_id))
        if row is None:
            raise LookupError(f"{order_id}/{item_id} is not among the arrivals checked for {day}")
        kind = Kind(row.kind)
        if kind.problem and not (reason or "").strip():
            raise ValueError(f"{order_id}/{item_id} is {kind.value}: say why it is fine")
        order = session.get(Order, order_id) if kind.problem else None
        settled = None if order is None else problem_alerts.settle(
            session, order, item_id, actor=actor, how=problem_alerts.How.FINE, reason=(reason or "").strip())
        if settled is not None and settled.resolved:
            escalation.request_resolve(session, order_id)
        if settled is None:
            row.checked_by = actor
            if reason:
                row.detail = f"{row.detail} (fine: {reason.strip()})"
        states.audit(session, actor=actor, action="arrival.checked", order_id=order_id, item_id=item_id,
                     day=day.isoformat(), kind=kind.value, reason=reason or "")
        shown = summary(session, day, row.property, _today(settings, row.system, row.property, utcnow()))
        entries = queue.added(session)
    queue.dispatch(settings, entries)
    _show(settings, shown, None)
    return shown


def run_again(day: str, prop: str | None = None, zone: str | None = None, settings: Settings | None = None) -> str:
    """Job: check a day again (what could not be checked before)."""
    run = check_day(settings or get_settings(), dt.date.fromisoformat(day), prop=prop, zone=zone)
    return f"{sum(len(s.lines) for s in run.summaries)} arrivals, {len(run.raised)} new problems"


def run_daily(day: str, zone: str, settings: Settings | None = None) -> str:
    """Job (the clock enqueues it at ARRIVALS_CHECK_AT in `zone`, for today and
    ARRIVALS_DAYS_AHEAD more): check the day's arrivals at the properties in `zone`."""
    return run_again(day, None, zone, settings)


def recheck(order_id: str, settings: Settings | None = None) -> str:
    """Job (the poller asks for it for an order its lifecycle keeps open, issue 25): look the
    order's open booking problems up again in their systems, as the arrival check does; one
    found confirmed is settled, and a Complete order's alert resolves. A front-desk report
    stands until someone books it or says it is fine."""
    settings = settings or get_settings()
    with platform_client(settings) as platform:
        data = parse_platform_order(platform.get_order(order_id))
    with transaction(settings.database_url) as session:
        order = session.get(Order, order_id)
        wanted = [(r.day, r.item_id) for r in (problems.open_rows(session, order) if order is not None else [])
                  if r.kind != Kind.REPORTED]
    findings: list[Finding] = []
    for day, item_id in wanted:
        arrival = next((a for a in arrivals_of(data, day) if a.request.item_id == item_id), None)
        if arrival is None:
            continue
        try:
            connector = connector_for(arrival.request, settings, share=(PURPOSE, settings.arrivals_share))
        except NoConnector:
            continue
        findings.append(_one(settings, arrival, connector))
    confirmed = [f for f in findings if f.kind is Kind.CONFIRMED]
    with transaction(settings.database_url) as session:
        for finding in findings:
            request = finding.arrival.request
            states.audit(session, actor=ACTOR, action="arrival.rechecked", order_id=order_id,
                         item_id=request.item_id, kind=finding.kind.value, detail=finding.detail)
            if finding.kind is Kind.CONFIRMED:
                _found_confirmed(session, order_id, request.item_id, finding)
                states.audit(session, actor=ACTOR, action="arrival.resolved", order_id=order_id,
                             item_id=request.item_id, day=request.start.isoformat() if request.start else None,
                             via="recheck")
        entries = queue.added(session)
    queue.dispatch(settings, entries)
    return f"{len(findings)} rechecked, {len(confirmed)} confirmed"
