"""Which `ErrorClass` a reported sync failure belongs to: code, then text, then HTTP status.

Implements the failure reasons of the operations manuals in `shared/sources/` (DESIGN §1):
"Why Aren't My Bookings Syncing?" (authentication failures, timeout errors, data format
mismatches; credentials changed, user permissions, property/hotel not mapped, required
fields guest name/dates/room type) and the "In Progress" orders guide (a timeout or a
"No Availability" error in the order's error log). SynXis' "Waitlisted" reservation status
(Multi-Step Reservation) is no availability too.

The intake webhook (DESIGN §3.1) carries an optional `failure.code`, a message, a raw log and
sometimes an HTTP status. `classify` trusts them in that order of specificity:

1. a recognised `code` (our `ErrorClass` values, common aliases, or an HTTP status code);
2. the rules in `RULES` over the message, then over the log;
3. the HTTP status: the `http_status` given, else one written in the message, else in the log;
4. `ErrorClass.UNKNOWN`.

An unrecognised code (a vendor's own error number, say) falls through to the text rather than
ending as UNKNOWN, because the message usually says more than a code we cannot read.
Pure: no I/O, no state.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Final

from connectors.errors import ErrorClass

__all__ = ["CODE_ALIASES", "RULES", "class_for_status", "classify", "class_for_code", "status_in_text"]

_E = ErrorClass

# Codes as senders spell them, after `_normalise_code` (lower case, separators -> "_").
# Our own enum values are added below, so every `ErrorClass.value` is accepted as is.
CODE_ALIASES: Final[dict[str, ErrorClass]] = {
    # timeout
    "timed_out": _E.TIMEOUT, "read_timeout": _E.TIMEOUT, "connect_timeout": _E.TIMEOUT,
    "gateway_timeout": _E.TIMEOUT, "request_timeout": _E.TIMEOUT, "etimedout": _E.TIMEOUT,
    # connection
    "connection_error": _E.CONNECTION, "connect_error": _E.CONNECTION,
    "connection_refused": _E.CONNECTION, "connection_failed": _E.CONNECTION,
    "econnrefused": _E.CONNECTION, "econnreset": _E.CONNECTION, "network": _E.CONNECTION,
    "network_error": _E.CONNECTION, "dns": _E.CONNECTION, "ssl": _E.CONNECTION, "tls": _E.CONNECTION,
    # server error
    "5xx": _E.SERVER_ERROR, "server": _E.SERVER_ERROR, "internal_error": _E.SERVER_ERROR,
    "internal_server_error": _E.SERVER_ERROR, "bad_gateway": _E.SERVER_ERROR,
    "service_unavailable": _E.SERVER_ERROR,
    # rate limited
    "rate_limit": _E.RATE_LIMITED, "ratelimit": _E.RATE_LIMITED, "ratelimited": _E.RATE_LIMITED,
    "rate_limit_exceeded": _E.RATE_LIMITED, "too_many_requests": _E.RATE_LIMITED,
    "throttled": _E.RATE_LIMITED, "throttling": _E.RATE_LIMITED,
    # no availability
    "no_avail": _E.NO_AVAILABILITY, "not_available": _E.NO_AVAILABILITY,
    "unavailable_inventory": _E.NO_AVAILABILITY, "no_inventory": _E.NO_AVAILABILITY,
    "sold_out": _E.NO_AVAILABILITY, "soldout": _E.NO_AVAILABILITY, "waitlisted": _E.NO_AVAILABILITY,
    "waitlist": _E.NO_AVAILABILITY, "fully_booked": _E.NO_AVAILABILITY,
    # authentication
    "auth": _E.AUTH_FAILURE, "authentication": _E.AUTH_FAILURE, "authentication_failed": _E.AUTH_FAILURE,
    "authentication_failure": _E.AUTH_FAILURE, "unauthorized": _E.AUTH_FAILURE,
    "unauthorised": _E.AUTH_FAILURE, "unauthenticated": _E.AUTH_FAILURE,
    "invalid_credentials": _E.AUTH_FAILURE, "credentials": _E.AUTH_FAILURE,
    "invalid_client": _E.AUTH_FAILURE, "invalid_grant": _E.AUTH_FAILURE, "invalid_token": _E.AUTH_FAILURE,
    "token_expired": _E.AUTH_FAILURE, "invalid_api_key": _E.AUTH_FAILURE,
    # permission
    "permission": _E.PERMISSION_DENIED, "permissions": _E.PERMISSION_DENIED,
    "forbidden": _E.PERMISSION_DENIED, "access_denied": _E.PERMISSION_DENIED,
    "insufficient_permissions": _E.PERMISSION_DENIED, "insufficient_scope": _E.PERMISSION_DENIED,
    # not mapped
    "mapping": _E.NOT_MAPPED, "unmapped": _E.NOT_MAPPED, "not_found": _E.NOT_MAPPED,
    "property_not_mapped": _E.NOT_MAPPED, "hotel_not_mapped": _E.NOT_MAPPED,
    "hotel_not_found": _E.NOT_MAPPED, "invalid_hotel": _E.NOT_MAPPED, "unknown_property": _E.NOT_MAPPED,
    # data format
    "validation": _E.DATA_FORMAT, "validation_error": _E.DATA_FORMAT, "invalid": _E.DATA_FORMAT,
    "invalid_format": _E.DATA_FORMAT, "invalid_request": _E.DATA_FORMAT, "format": _E.DATA_FORMAT,
    "bad_request": _E.DATA_FORMAT, "parse_error": _E.DATA_FORMAT, "unprocessable_entity": _E.DATA_FORMAT,
    # missing field
    "missing": _E.MISSING_FIELD, "required": _E.MISSING_FIELD, "required_field": _E.MISSING_FIELD,
    "required_field_missing": _E.MISSING_FIELD, "missing_required_field": _E.MISSING_FIELD,
    # ours
    "not_configured": _E.NO_CONNECTOR,
} | {cls.value: cls for cls in ErrorClass if cls is not ErrorClass.UNKNOWN}

_HTTP_CODE = re.compile(r"^(?:http_?|status_?)?([1-5]\d\d)$")


def _rule(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


# Ordered: the first rule that matches anywhere in the text wins. The order settles the
# overlaps that real messages have:
# - timeout before connection: requests says "HTTPSConnectionPool(...): Read timed out.";
# - rate limit and server error before no availability: "503 Service Unavailable" is the
#   server, not the hotel's inventory;
# - auth and permission before data format: "invalid_client" / "Invalid API key" are
#   credentials, not a malformed booking;
# - not mapped before data format: "Invalid hotel code" is a mapping problem;
# - missing field before data format: "Guest surname is required" names what to fill in.
RULES: Final[tuple[tuple[re.Pattern[str], ErrorClass], ...]] = (
    # "timed out", "Read timeout", "Gateway Time-out"; not a "timeout=30" setting in a log.
    (_rule(r"\btimed[ -]?out\b|\btime-?out\b(?!\s*[=:]\s*\d)|\bETIMEDOUT\b|\bdeadline exceeded\b"
           r"|\bdid not (?:answer|respond|accept a connection) (?:with)?in\b"), _E.TIMEOUT),
    (_rule(r"\bconnection (?:refused|reset|aborted|error|failed)\b|\ball connection attempts failed\b"
           r"|\bfailed to establish a new connection\b|\bcould not connect\b|\bconnection\b.{0,40}\bdropped\b"
           r"|\bname or service not known\b|\btemporary failure in name resolution\b|\bgetaddrinfo failed\b"
           r"|\bnodename nor servname\b|\bnetwork is unreachable\b|\bno route to host\b"
           r"|\b(?:server|remote end|peer) (?:disconnected|closed connection)\b|\bconnection broken\b"
           r"|\bECONN(?:REFUSED|RESET|ABORTED)\b|\bENOTFOUND\b|\[SSL(?::\s*\w+)?\]|\bSSLError\b"
           r"|\bcertificate verify failed\b|\bEOF occurred in violation of protocol\b"), _E.CONNECTION),
    (_rule(r"\brate[ _-]?limit|\btoo many requests\b|\bthrottl(?:ed|ing)\b|\bquota exceeded\b"
           r"|\brequest limit (?:reached|exceeded)\b"), _E.RATE_LIMITED),
    (_rule(r"\binternal server error\b|\bbad gateway\b|\bservice (?:temporarily )?unavailable\b"
           r"|\bservice (?:is )?(?:temporarily )?not available\b|\bserver error\b|\bunder maintenance\b"
           r"|\bupstream (?:error|connect error)\b"), _E.SERVER_ERROR),
    (_rule(r"\bunauthori[sz]ed\b|\bunauthenticated\b|\bnot authenticated\b"
           r"|\bauthentication (?:failed|failure|error|required)\b|\blog ?in failed\b"
           r"|\binvalid_(?:client|grant|token)\b"
           r"|\b(?:invalid|bad|expired|wrong|incorrect|revoked) (?:api[ _-]?key|credentials?|(?:access |bearer )?token"
           r"|password|user(?:name)? or password|client(?: id| secret)?|secret)\b"
           r"|\b(?:api[ _-]?key|credentials?|access token|password|client secret)\b.{0,30}"
           r"\b(?:expired|revoked|changed|rejected|refused|invalid|not valid)\b"
           r"|\b(?:rejected|refused)\b.{0,30}\bcredentials\b"), _E.AUTH_FAILURE),
    (_rule(r"\bforbidden\b|\bpermission(?:s)? (?:denied|required)\b|\baccess (?:is )?denied\b"
           r"|\b(?:lacks?|missing|insufficient|without|no) (?:the )?(?:\w+ )?(?:permissions?|privileges?|rights)\b"
           r"|\bnot (?:allowed|authori[sz]ed|permitted) to\b|\binsufficient[ _]scope\b"), _E.PERMISSION_DENIED),
    (_rule(r"\bno (?:room |table |slot |product )?availability\b|\bnot available\b|\bwait[ -]?list(?:ed)?\b"
           r"|\bsold out\b|\bfully booked\b|\bno (?:rooms?|tables?|slots?|inventory|capacity) (?:available|left)\b"
           r"|\binsufficient (?:inventory|availability|capacity)\b|\bclosed to arrival\b"), _E.NO_AVAILABILITY),
    (_rule(r"\bnot mapped\b|\bunmapped\b|\bno mapping\b|\bmapping (?:not found|missing|is missing)\b"
           r"|\b(?:hotel|property|chain|site|venue|restaurant|resort|location|outlet|product|room ?type|rate(?: plan)?"
           r"|treatment|service)\b[^.\n]{0,40}?\b(?:not found|not mapped|unknown|does not exist|not configured)\b"
           r"|\b(?:invalid|unknown) (?:hotel|property|chain|site|venue|restaurant|resort|location|outlet|product"
           r"|room ?type|rate(?: plan)?|treatment)(?: code| id)?\b"
           r"|\bdoes not know (?:this|the) (?:hotel|property|chain|site|venue)\b"), _E.NOT_MAPPED),
    (_rule(r"\b(?:is|are) (?:required|mandatory)\b|\brequired (?:field|parameter|property|value)\b"
           r"|\bfield required\b|\bmissing\b|\bmust be (?:provided|supplied|specified)\b"
           r"|\b(?:cannot|can't|must not|may not) be (?:empty|blank|null)\b"
           r"|\b(?:item|order|booking|reservation|guest) has no\b"), _E.MISSING_FIELD),
    (_rule(r"\binvalid\b|\bmalformed\b|\bparse error\b|\bcould not (?:parse|deserial[iz]e)\b"
           r"|\bunexpected (?:character|token|end)\b|\bvalidation (?:error|failed)\b|\bnot a valid\b"
           r"|\bmust be (?:after|before|greater|less|later|earlier|between|at (?:least|most)|a |an )"
           r"|\bout of range\b|\bexceeds (?:the )?max(?:imum)?\b|\btoo long\b|\bwrong format\b"
           r"|\bformat mismatch\b|\bschema\b|\bcannot be in the past\b"), _E.DATA_FORMAT),
)

_STATUS_CLASSES: Final[dict[int, ErrorClass]] = {
    400: _E.DATA_FORMAT,
    401: _E.AUTH_FAILURE,
    403: _E.PERMISSION_DENIED,
    404: _E.NOT_MAPPED,
    # 408 and 504: nobody answered in time, so the booking may or may not exist (check first).
    408: _E.TIMEOUT,
    422: _E.DATA_FORMAT,
    429: _E.RATE_LIMITED,
    504: _E.TIMEOUT,
}

_PHRASES = "|".join(
    re.escape(s.phrase) for s in sorted(HTTPStatus, key=lambda s: -len(s.phrase)) if 400 <= s.value < 600
)
# How an error status is written in messages and logs, most explicit first:
# httpx "Client error '401 Unauthorized' for url", requests "503 Server Error: ...",
# our connectors "(HTTP 401)", "HTTP/1.1 503", "status code 401", JSON `"statusCode": 429`.
_STATUS_PATTERNS: Final[tuple[re.Pattern[str], ...]] = (
    _rule(r"\bHTTP(?:/\d(?:\.\d)?)?\s*[:=]?\s*([45]\d\d)\b"),
    _rule(r"\bstatus[ _-]?(?:code)?\"?\s*(?:[:=]|is|of|was)?\s*\"?([45]\d\d)\b"),
    _rule(r"\b([45]\d\d) (?:Client|Server) Error\b"),
    _rule(rf"\b([45]\d\d)\s*[:\-]?\s*(?:{_PHRASES})\b"),
)


def _normalise_code(code: str) -> str:
    return re.sub(r"[\s\-./]+", "_", code.strip().lower())


def class_for_status(status: int | None) -> ErrorClass | None:
    """The class an HTTP error status means on its own, or None for a status that says nothing."""
    if status is None:
        return None
    if status in _STATUS_CLASSES:
        return _STATUS_CLASSES[status]
    if 500 <= status < 600:
        return _E.SERVER_ERROR
    return None


def class_for_code(code: str | None) -> ErrorClass | None:
    """The class a sender's `failure.code` names, or None when we do not recognise it."""
    if not code or not code.strip():
        return None
    key = _normalise_code(code)
    if key in CODE_ALIASES:
        return CODE_ALIASES[key]
    http = _HTTP_CODE.match(key)
    return class_for_status(int(http.group(1))) if http else None


def status_in_text(text: str) -> int | None:
    """The HTTP error status (4xx/5xx) written in a message or log, e.g. "HTTP 503", "401 Unauthorized"."""
    if not text:
        return None
    for pattern in _STATUS_PATTERNS:
        found = pattern.search(text)
        if found:
            return int(found.group(1))
    return None


def _class_for_text(text: str) -> ErrorClass | None:
    if not text:
        return None
    for pattern, error_class in RULES:
        if pattern.search(text):
            return error_class
    return None


def classify(code: str | None, message: str = "", log: str = "", http_status: int | None = None) -> ErrorClass:
    """The `ErrorClass` of one failure: a recognised code, else the text rules, else the HTTP status."""
    return (
        class_for_code(code)
        or _class_for_text(message)
        or _class_for_text(log)
        or class_for_status(http_status)
        or class_for_status(status_in_text(message))
        or class_for_status(status_in_text(log))
        or ErrorClass.UNKNOWN
    )
