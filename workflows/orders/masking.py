"""How chat shows a guest (issue 28): in full, or masked — `CHAT_GUEST_DETAILS=masked` shows
`l***@example.com`, `+44 ••• ••• 4567` and the surname's initial ("Larry W."). A person with
permission reveals the rest to themselves alone (`workflows.guests.reveal`, audited). Pure.
"""

from __future__ import annotations

import re

FULL, MASKED = "full", "masked"


def email(value: str) -> str:
    """`l***@example.com`: the first letter and the domain."""
    local, at, domain = value.strip().partition("@")
    if not value.strip():
        return ""
    return f"{local[:1]}***@{domain}" if at else "***"


def phone(value: str) -> str:
    """`+44 ••• ••• 4567`: the country code when it is written apart, and the last four digits."""
    digits = re.sub(r"\D", "", value)
    if not digits:
        return ""
    first = value.strip().split()[0]
    country = first if first.startswith("+") and len(first) <= 4 and len(value.split()) > 1 else ""
    return " ".join(p for p in (country, "••• •••", digits[-4:] if len(digits) > 6 else "••••") if p)


def name(first: str, last: str) -> str:
    """"Larry W.": the first name and the surname's initial."""
    first, last = first.strip(), last.strip()
    return " ".join(p for p in (first, f"{last[:1]}." if last else "") if p)


def guest_name(first: str, last: str, how: str) -> str:
    """The guest's name as `how` (`CHAT_GUEST_DETAILS`: full or masked) shows it: "Larry Walker"
    or "Larry W."; every chat row that names a guest (queue, find, outage, digest, retail
    reminder, arrival check) asks here."""
    return name(first, last) if how == MASKED else f"{first} {last}".strip()
