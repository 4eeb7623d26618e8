"""What is the guest's in free text: their e-mail, their phone and their names wherever a vendor's
error message, a raw log, a reason typed by a person or the platform's stored payload quotes them.
Erasure (`workflows.guests.erasure`) scrubs the stored rows with it; a masked snapshot
(`workflows.orders.snapshot`: CHAT_GUEST_DETAILS=masked, and whatever is logged) scrubs the
vendors' texts it shows.

`Scrubber.of(order)` matches, case-insensitively: the e-mail; the phone's digits with any
punctuation or spaces between them (`+44 5551234567`, `+445551234567`, `(555) 123-4567`
all match `+44 5551234567`; its national form with a trunk 0 is not recognised); and the
full name, first name and last name as whole words. Each match becomes `[guest of ORD-…]`:
the audit trail keeps who did what and when, with the guest replaced by the order id.
A surname that is also a common word is replaced wherever it stands as a word in that
order's texts: more is erased, never less. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from workflows.core.models import Order

MIN_PHONE_DIGITS = 6
MIN_NAME_CHARS = 2


def _phone_pattern(phone: str) -> list[str]:
    patterns = []
    for variant in {phone, phone.replace("(0)", "")}:
        digits = re.sub(r"\D", "", variant)
        if len(digits) >= MIN_PHONE_DIGITS:
            patterns.append(r"(?<!\d)\+?" + r"[\s().\-]*".join(digits) + r"(?!\d)")
    return patterns


@dataclass(frozen=True)
class Scrubber:
    """Replaces the guest's details in text and in JSON values (never in keys)."""

    pattern: re.Pattern[str] | None
    replacement: str

    @classmethod
    def of(cls, order: Order) -> Scrubber:
        return cls.for_guest(order.id, order.guest_first_name, order.guest_last_name, order.guest_email,
                             order.guest_phone)

    @classmethod
    def for_guest(cls, order_id: str, first_name: str, last_name: str, email: str, phone: str) -> Scrubber:
        parts: list[str] = []
        if email.strip():
            parts.append(re.escape(email.strip()))
        if phone.strip():
            parts += _phone_pattern(phone)
        names = {n.strip() for n in (f"{first_name} {last_name}", first_name, last_name)}
        # the longest first, so "Larry Walker" is one replacement, not two
        for name in sorted((n for n in names if len(n) >= MIN_NAME_CHARS), key=len, reverse=True):
            parts.append(r"\b" + r"\s+".join(re.escape(w) for w in name.split()) + r"\b")
        pattern = re.compile("|".join(parts), re.IGNORECASE) if parts else None
        return cls(pattern, f"[guest of {order_id}]")

    def text(self, value: str) -> str:
        return self.pattern.sub(self.replacement, value) if self.pattern is not None and value else value

    def json(self, value: Any) -> Any:
        """`value` with every string in it scrubbed (a new object; dict keys are left alone)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.json(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.json(v) for v in value]
        return value
