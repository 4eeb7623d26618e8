"""The words both chat surfaces use for an order: system names, dates, arrival urgency,
the property, the headline. Pure functions of the snapshot, shared so Slack's message and
Teams' card always say the same thing; each surface adds only its own markup.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from connectors.errors import ErrorClass
from workflows.snapshot import ItemView, OrderSnapshot

SYSTEM_NAMES = {
    "synxis": "SynXis", "premier": "EMS Premier", "resdiary": "ResDiary", "rtp": "RTP|One",
    "siriusware": "Siriusware", "pms": "PMS",
}
ERROR_CLASSES = {c.value for c in ErrorClass}


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def system_name(system: str) -> str:
    return SYSTEM_NAMES.get(system, system or "unknown system")


def day(d: dt.date) -> str:
    return f"{d:%a} {d.day} {d:%b %Y}"


def time_utc(t: dt.datetime) -> str:
    return f"{t:%d %b %H:%M} UTC"


def urgency(arrival: dt.date | None, today: dt.date) -> str:
    if arrival is None:
        return "no arrival date"
    days = (arrival - today).days
    if days < 0:
        return f"arrived {-days} day{'s' if days < -1 else ''} ago"
    return {0: "arrives today", 1: "arrives tomorrow"}.get(days, f"arrives in {days} days")


def property_label(item: ItemView) -> str:
    d = item.details
    if d.get("hotel_id"):
        return f"hotel {d['hotel_id']}"
    for key in ("property_id", "venue_id", "site_id", "resort_id"):
        if d.get(key):
            return f"{key.split('_')[0]} {d[key]}"
    return "property not given"


def dates(item: ItemView) -> str:
    if item.start is None:
        return "no dates"
    if item.end is None or item.end == item.start:
        return day(item.start)
    nights = (item.end - item.start).days
    return f"{day(item.start)} → {day(item.end)} ({nights} night{'s' if nights != 1 else ''})"


def headline(s: OrderSnapshot) -> str:
    systems = sorted({system_name(i.system) for i in s.failing_items})
    if not systems:
        return f"Booking sync · {s.order_id}"
    what = " + ".join(systems) + (" booking failed" if len(s.failing_items) == 1 else " bookings failed")
    return f"{what} · {s.order_id}"


def is_manual(item: ItemView) -> bool:
    """The item's system is booked by hand (a playbook, or no connector): no Reprocess for it."""
    return item.system_description is not None and not item.system_description.automatic


def story(s: OrderSnapshot, who: Callable[[str], str], text: Callable[[str], str] = str,
          code: Callable[[str], str] = str) -> list[str]:
    """Who did what, from the audit trail: the lines of a resolved summary. `who` shows an
    actor, `text` escapes words and `code` marks a confirmation number, each surface its way."""
    lines = []
    for e in s.audit:
        if e.action == "item.confirmed":
            how = e.detail.get("how")
            verb = "booked manually" if how == "manual" else f"reprocessed ({how})" if how else "confirmed"
            ref = e.detail.get("confirmation")
            lines.append(f"{text(e.item_id or '')} {verb} by {who(e.actor)}" + (f" · {code(ref)}" if ref else "")
                         + f" · {time_utc(e.at)}")
        elif e.action in ("order.complete", "order.cancelled"):
            lines.append(f"order {e.action.split('.')[1]} by {who(e.actor)} · {time_utc(e.at)}")
    return lines
