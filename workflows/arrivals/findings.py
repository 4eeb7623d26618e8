"""What the arrival check concludes about one arriving item, and the day's summary per
property. Pure values and rules: no I/O, so the chat renderers can import them.

An item's booking, as its system answered (`connectors.types.ExistingBooking`), is judged
against the order (`judge`):
- confirmed: a real booking on the order's dates and party;
- missing: the system has no booking by its number (or, without one, by our reference), or
  only a waitlisted one;
- gone: cancelled, ignored, released, or in a state a person must settle;
- provisional: held but not confirmed, with the deadline where the system gives one;
- differs: a real booking, but not on the order's dates or for its party;
- unchecked: the system could not be asked (down, rate-limited): tried again later;
- manual: a system without an API (EMS Premier, RTP|One, Siriusware): on the front desk's list;
- reported: the front desk says the guest has no booking (issue 26.3, `workflows.arrivals.report`);
- booked, refunded: the other direction. The system lists a booking for the day whose order is
  cancelled or refunded on the platform: the guest is expected but has been refunded, or may
  be charged twice (`unexpected`).

The kinds live with the booking problems they open (`workflows.orders.problems`), which the
order lifecycle below this domain reads.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from connectors.types import BookingRequest, BookingStatus, ExistingBooking
from workflows.orders.problems import Kind
from workflows.systems.names import system_name


@dataclass(frozen=True)
class Arrival:
    """One item of a paid order, starting on the day checked."""

    request: BookingRequest
    property: str  # the property its details name, else "" (the system's default route)
    external_reference: str | None  # the system's number, once the platform item is Confirmed
    order_status: str

    @property
    def key(self) -> tuple[str, str]:
        return self.request.order_id, self.request.item_id


@dataclass(frozen=True)
class Finding:
    arrival: Arrival
    kind: Kind
    detail: str
    confirmation: str | None = None


def judge(arrival: Arrival, existing: ExistingBooking | None) -> Finding:
    """What the system's answer means for the guest arriving (None: it has no such booking)."""
    request, name = arrival.request, system_name(arrival.request.system)
    number = arrival.external_reference
    if existing is None:
        where = f"booking {number}" if number else f"booking for {request.reference}"
        return Finding(arrival, Kind.MISSING, f"{name} has no {where}.")
    held = f"{name} holds {existing.confirmation or request.reference} as {existing.raw_status}"
    meaning = f" ({existing.meaning})" if existing.meaning else ""
    if existing.status is BookingStatus.NO_AVAILABILITY:
        return Finding(arrival, Kind.MISSING, f"{held}{meaning}: the guest has no booking.", existing.confirmation)
    if existing.status in (BookingStatus.ABSENT, BookingStatus.REVIEW):
        return Finding(arrival, Kind.GONE, f"{held}{meaning}.", existing.confirmation)
    if existing.status is BookingStatus.PENDING:
        until = f"; it lapses at {existing.deadline:%Y-%m-%d %H:%M} UTC" if existing.deadline else ""
        return Finding(arrival, Kind.PROVISIONAL, f"{held}, not confirmed{meaning}{until}.", existing.confirmation)
    differences = _differences(request, existing)
    if differences:
        return Finding(arrival, Kind.DIFFERS, f"{held} for {'; '.join(differences)}.", existing.confirmation)
    return Finding(arrival, Kind.CONFIRMED, f"{held}.", existing.confirmation)


def unexpected(arrival: Arrival, existing: ExistingBooking, why: str) -> Finding:
    """A live booking the system listed for the day, for an order item the platform says is
    not expected (`why`: "the order is Cancelled on the platform", "its payment pi_… is refunded")."""
    name = system_name(arrival.request.system)
    return Finding(arrival, Kind.BOOKED_REFUNDED,
                   f"{name} holds {existing.confirmation or arrival.request.reference} as {existing.raw_status}, but "
                   f"{why}: the guest is expected but has been refunded, or may be charged twice. "
                   f"Cancel it in {name}, or take the order up again.", existing.confirmation)


def _differences(request: BookingRequest, existing: ExistingBooking) -> list[str]:
    found = []
    if existing.start is not None and request.start is not None and existing.start != request.start:
        found.append(f"arrival {existing.start:%d %b}, the order says {request.start:%d %b}")
    if existing.end is not None and request.end is not None and existing.end != request.end:
        found.append(f"departure {existing.end:%d %b}, the order says {request.end:%d %b}")
    if existing.guests is not None and request.guests and existing.guests != request.guests:
        found.append(f"{existing.guests} guests, the order says {request.guests}")
    return found


@dataclass(frozen=True)
class Line:
    """One item on a property's summary of the day, as last checked."""

    order_id: str
    item_id: str
    system: str
    kind: Kind
    detail: str
    confirmation: str | None = None
    resolved: bool = False  # a problem found earlier, confirmed since
    checked_by: str | None = None  # who ticked a manual system's line, or said "It's fine"


@dataclass(frozen=True)
class DaySummary:
    """One property's arrivals on one day: what each check found, updated in place."""

    day: dt.date
    property: str
    lines: tuple[Line, ...]
    today: dt.date  # the property's local date when the summary was made ("Tomorrow at …")
    # The systems whose day listing failed on this run ("could not list"), in words.
    unlisted: tuple[str, ...] = ()

    def of(self, kind: Kind) -> tuple[Line, ...]:
        return tuple(line for line in self.lines if line.kind is kind)

    @property
    def open_problems(self) -> tuple[Line, ...]:
        return tuple(line for line in self.lines if line.kind.problem and not line.checked_by)

    @property
    def booked_refunded(self) -> tuple[Line, ...]:
        """Bookings the systems list for the day whose order is cancelled or refunded."""
        return self.of(Kind.BOOKED_REFUNDED)

    @property
    def when(self) -> str:
        days = (self.day - self.today).days
        return {0: "Today", 1: "Tomorrow"}.get(days, f"{self.day:%a %d %b}")

    @property
    def place(self) -> str:
        return self.property or ", ".join(sorted({system_name(line.system) for line in self.lines}))

    def headline(self) -> str:
        """"Tomorrow at HARBOUR: 42 arrivals checked — 40 confirmed in SynXis, 1 cancelled there,
        1 missing; 3 to check by hand.\""""
        checked = [line for line in self.lines if line.kind not in (Kind.MANUAL, Kind.BOOKED_REFUNDED)]
        systems = ", ".join(sorted({system_name(line.system) for line in checked})) or "their systems"
        parts = [f"{len(self.of(Kind.CONFIRMED))} confirmed in {systems}"]
        for kind, words in ((Kind.REPORTED, "reported by the front desk"),
                            (Kind.GONE, "cancelled or released there"), (Kind.MISSING, "missing"),
                            (Kind.PROVISIONAL, "held, not confirmed"), (Kind.DIFFERS, "on other dates or party"),
                            (Kind.UNCHECKED, "not checked yet (tried again later)")):
            if self.of(kind):
                parts.append(f"{len(self.of(kind))} {words}")
        text = f"{self.when} at {self.place}: {len(checked)} arrival{'s' if len(checked) != 1 else ''} checked"
        text += " — " + ", ".join(parts) if checked else ""
        manual = self.of(Kind.MANUAL)
        if manual:
            ticked = sum(1 for line in manual if line.checked_by)
            text += f"; {len(manual)} to check by hand ({ticked} checked)"
        if self.booked_refunded:
            text += f"; {len(self.booked_refunded)} booked but cancelled or refunded on the platform"
        if self.unlisted:
            text += f"; could not list {', '.join(self.unlisted)}"
        return text + "."

    def line_text(self, line: Line) -> str:
        """One line of the summary: the item, what was found, who settled it."""
        where = f"{line.order_id}/{line.item_id}"
        if line.resolved:
            return f"{where}: resolved — {line.detail}"
        if line.kind is Kind.MANUAL:
            tick = f" ✓ checked by {line.checked_by}" if line.checked_by else ""
            return f"{where}: check by hand in {system_name(line.system)}{tick}"
        if line.kind is Kind.BOOKED_REFUNDED:
            return f"{where}: booked but refunded/cancelled — {line.detail}"
        said = f" — fine, says {line.checked_by}" if line.checked_by and line.kind.problem else ""
        return f"{where}: {line.kind.value} — {line.detail}{said}"
