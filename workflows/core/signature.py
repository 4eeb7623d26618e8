"""The intake webhook's signature (DESIGN §3.1).

`X-Syncdesk-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`,
the scheme Stripe uses for its webhooks. Older or newer than the tolerance, or wrong: refused.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-Syncdesk-Signature"


class BadSignature(ValueError):
    """The signature is missing, malformed, stale or wrong; the message says which."""


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value for `body`, as the platform (and `syncdesk ingest`) sends it."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, body: bytes, header: str | None, *, tolerance: int = 300, now: float | None = None) -> None:
    """Raise BadSignature unless `header` signs `body` with `secret` within `tolerance` seconds."""
    if not header:
        raise BadSignature(f"missing {HEADER} header")
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise BadSignature(f"malformed {HEADER} header")
        fields.setdefault(key, []).append(value)
    try:
        t = int(fields["t"][0])
    except (KeyError, ValueError):
        raise BadSignature(f"{HEADER} has no valid timestamp") from None
    current = time.time() if now is None else now
    if abs(current - t) > tolerance:
        raise BadSignature(f"signature timestamp is {int(current - t)} s away from now (tolerance {tolerance} s)")
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, v) for v in fields.get("v1", [])):
        raise BadSignature("signature does not match")
