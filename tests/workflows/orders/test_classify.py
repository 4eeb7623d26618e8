"""The classifier against error text as it really appears: httpx and requests raising against
local sockets, SynXis/CRS answers, OAuth bodies, validation messages, gateway pages."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connectors.errors import ErrorClass
from workflows.orders.classify import (
    CODE_ALIASES,
    class_for_code,
    classify,
    status_in_text,
)
from workflows.orders.payloads import SyncFailure

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel's backlog) and never answers."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on, so connecting is refused."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def _raised_by(call: object) -> Exception:
    try:
        call()  # type: ignore[operator]
    except Exception as exc:  # the test wants whatever the library raised, to read its text
        return exc
    raise AssertionError("expected the call to raise")


# -- transport failures, raised for real ------------------------------------------------------

def test_httpx_read_timeout_raised_by_a_silent_server_is_timeout(silent_port: int) -> None:
    exc = _raised_by(lambda: httpx.get(f"http://127.0.0.1:{silent_port}/v1/api/reservation", timeout=0.2))
    assert isinstance(exc, httpx.ReadTimeout)
    assert classify(None, str(exc)) is ErrorClass.TIMEOUT


def test_httpx_timeout_text_and_exception_name_are_timeout() -> None:
    assert str(httpx.ReadTimeout("timed out")) == "timed out"
    assert classify(None, str(httpx.ReadTimeout("timed out"))) is ErrorClass.TIMEOUT
    assert classify(None, "httpx.ReadTimeout: Read timed out") is ErrorClass.TIMEOUT
    assert classify(None, "Read timed out after 30 s") is ErrorClass.TIMEOUT


def test_requests_read_timeout_raised_by_a_silent_server_is_timeout(silent_port: int) -> None:
    requests = pytest.importorskip("requests")
    exc = _raised_by(lambda: requests.get(f"http://127.0.0.1:{silent_port}/", timeout=0.2))
    assert "Read timed out" in str(exc)
    assert classify(None, str(exc)) is ErrorClass.TIMEOUT


def test_urllib3_pool_read_timeout_is_timeout_not_connection() -> None:
    message = "HTTPSConnectionPool(host='api.synxis.com', port=443): Read timed out. (read timeout=30)"
    assert classify(None, message) is ErrorClass.TIMEOUT


def test_gateway_timeout_is_timeout_because_the_booking_may_exist() -> None:
    assert classify(None, "504 Gateway Time-out") is ErrorClass.TIMEOUT
    assert classify(None, "booking failed", http_status=504) is ErrorClass.TIMEOUT


def test_httpx_connection_refused_raised_for_real_is_connection(closed_port: int) -> None:
    exc = _raised_by(lambda: httpx.get(f"http://127.0.0.1:{closed_port}/", timeout=2))
    assert isinstance(exc, httpx.ConnectError)
    assert classify(None, str(exc)) is ErrorClass.CONNECTION


def test_async_httpx_all_connection_attempts_failed_is_connection(closed_port: int) -> None:
    async def attempt() -> None:
        async with httpx.AsyncClient(timeout=2) as client:
            await client.get(f"http://127.0.0.1:{closed_port}/")

    exc = _raised_by(lambda: asyncio.run(attempt()))
    assert isinstance(exc, httpx.ConnectError)
    assert classify(None, str(exc)) is ErrorClass.CONNECTION


@pytest.mark.parametrize("message", [
    "[Errno 111] Connection refused",
    "All connection attempts failed",
    "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in certificate chain "
    "(_ssl.c:1006)",
    "[Errno -2] Name or service not known",
    "[Errno -3] Temporary failure in name resolution",
    "Server disconnected without sending a response.",
    "HTTPSConnectionPool(host='api.synxis.com', port=443): Max retries exceeded with url: /v1/api/reservation "
    "(Caused by NewConnectionError('<urllib3.connection.HTTPSConnection object at 0x7f3a>: "
    "Failed to establish a new connection: [Errno 111] Connection refused'))",
    "('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))",
])
def test_transport_failures_are_connection(message: str) -> None:
    assert classify(None, message) is ErrorClass.CONNECTION


# -- what the booking systems say ------------------------------------------------------------

@pytest.mark.parametrize("message", [
    "No Availability",
    "Reservation Waitlisted",
    "Room type LUXT not available",
    "Rate BAR is not available for 2026-12-01 - 2026-12-02",
    "Error 2146: No availability for requested dates",
    "Treatment SWE60 fully booked on 2026-12-12",
    "SynXis had no availability and waitlisted the reservation (13098CU000379).",
])
def test_no_availability_and_waitlisted_are_no_availability(message: str) -> None:
    assert classify(None, message) is ErrorClass.NO_AVAILABILITY


@pytest.mark.parametrize("message", [
    "Hotel 13098 not found",
    "Invalid hotel code",
    "Property mapping not found for site 'MAINSPA'",
    "Room type LUXT not found",
    "SynXis does not know this hotel/chain (or it is not mapped for syncdesk's user): Hotel not found",
])
def test_unknown_hotel_or_product_is_not_mapped(message: str) -> None:
    assert classify(None, message) is ErrorClass.NOT_MAPPED


@pytest.mark.parametrize("message", [
    '{"error":"invalid_client"}',
    '{"error":"invalid_grant","error_description":"Bad credentials"}',
    "401 Unauthorized",
    "Authentication failed: credentials changed",
    "401 Unauthorized: invalid API key",
    "SynXis rejected syncdesk's credentials (HTTP 401).",
    "Access token expired",
])
def test_rejected_credentials_are_auth_failure(message: str) -> None:
    assert classify(None, message) is ErrorClass.AUTH_FAILURE


@pytest.mark.parametrize("message", [
    "403 Forbidden: user lacks permission",
    "User SYNCDESK_API is not authorized to create reservations for hotel 13098",
    "Access denied",
])
def test_refused_permission_is_permission_denied(message: str) -> None:
    assert classify(None, message) is ErrorClass.PERMISSION_DENIED


@pytest.mark.parametrize("message", [
    "Guest surname is required",
    "Missing required field: Guests[0].PersonName.Surname",
    "StartDate must be provided",
    "The guest's surname is missing; SynXis needs a guest to confirm a reservation.",
])
def test_absent_required_values_are_missing_field(message: str) -> None:
    assert classify(None, message) is ErrorClass.MISSING_FIELD


@pytest.mark.parametrize("message", [
    "EndDate must be after StartDate",
    "JSON parse error: Unexpected character ('<' (code 60)): expected a valid value",
    "Invalid date format '01/12/2026'",
    "Validation failed: Email 'larry.walker@' is not a valid email address",
])
def test_rejected_values_are_data_format(message: str) -> None:
    assert classify(None, message) is ErrorClass.DATA_FORMAT


@pytest.mark.parametrize("message", [
    "429 Too Many Requests",
    "Rate limit exceeded",
    "API rate limit exceeded. Retry after 60 seconds.",
    "Request was throttled.",
])
def test_too_many_requests_is_rate_limited(message: str) -> None:
    assert classify(None, message) is ErrorClass.RATE_LIMITED


@pytest.mark.parametrize("message", [
    "502 Bad Gateway",
    "Service Unavailable",
    "503 Service Temporarily Unavailable",
    "500 Internal Server Error",
])
def test_gateway_and_server_pages_are_server_error_not_no_availability(message: str) -> None:
    assert classify(None, message) is ErrorClass.SERVER_ERROR


# -- HTTP status, given or written in the text ----------------------------------------------

@pytest.mark.parametrize(("status", "expected"), [
    (401, ErrorClass.AUTH_FAILURE),
    (403, ErrorClass.PERMISSION_DENIED),
    (404, ErrorClass.NOT_MAPPED),
    (400, ErrorClass.DATA_FORMAT),
    (422, ErrorClass.DATA_FORMAT),
    (429, ErrorClass.RATE_LIMITED),
    (500, ErrorClass.SERVER_ERROR),
    (503, ErrorClass.SERVER_ERROR),
])
def test_http_status_decides_when_the_text_says_nothing(status: int, expected: ErrorClass) -> None:
    assert classify(None, "Booking failed", "POST /v1/api/reservation", http_status=status) is expected


def test_httpx_status_error_text_names_its_status() -> None:
    request = httpx.Request("POST", "https://api.synxis.com/v1/api/reservation")
    for status, expected in [(401, ErrorClass.AUTH_FAILURE), (503, ErrorClass.SERVER_ERROR),
                             (404, ErrorClass.NOT_MAPPED)]:
        exc = _raised_by(httpx.Response(status, request=request).raise_for_status)
        assert isinstance(exc, httpx.HTTPStatusError)
        assert status_in_text(str(exc)) == status
        assert classify(None, str(exc)) is expected


@pytest.mark.parametrize(("text", "status"), [
    ("HTTP 503", 503),
    ("upstream answered HTTP/1.1 502 after 12 s", 502),
    ("Request failed with status code 401", 401),
    ('{"statusCode": 429, "message": "slow down"}', 429),
    ("401 Unauthorized", 401),
    ("404 Client Error: Not Found for url: https://api.synxis.com/v1/api/reservation", 404),
    ("Hotel 13098 not found", None),
    ("HTTPSConnectionPool(host='api.synxis.com', port=443): Read timed out.", None),
])
def test_status_is_read_from_text_only_where_it_is_written(text: str, status: int | None) -> None:
    assert status_in_text(text) == status


def test_status_written_in_the_message_decides_when_no_rule_matches() -> None:
    assert classify(None, "POST /v1/api/reservation -> HTTP 404: ") is ErrorClass.NOT_MAPPED


def test_text_rule_wins_over_a_coarse_status() -> None:
    assert classify(None, "Guest surname is required", http_status=400) is ErrorClass.MISSING_FIELD
    assert classify(None, "No Availability", http_status=400) is ErrorClass.NO_AVAILABILITY


# -- codes, message, log: which wins ---------------------------------------------------------

def test_explicit_code_wins_over_message_text() -> None:
    assert classify("no_availability", "Read timed out after 30 s") is ErrorClass.NO_AVAILABILITY
    assert classify("timeout", "No Availability", http_status=401) is ErrorClass.TIMEOUT


@pytest.mark.parametrize(("code", "expected"), [
    ("timeout", ErrorClass.TIMEOUT),
    ("no_availability", ErrorClass.NO_AVAILABILITY),
    ("waitlisted", ErrorClass.NO_AVAILABILITY),
    ("auth", ErrorClass.AUTH_FAILURE),
    ("unauthorized", ErrorClass.AUTH_FAILURE),
    ("forbidden", ErrorClass.PERMISSION_DENIED),
    ("validation", ErrorClass.DATA_FORMAT),
    ("rate_limit", ErrorClass.RATE_LIMITED),
    ("RATE-LIMIT", ErrorClass.RATE_LIMITED),
    ("429", ErrorClass.RATE_LIMITED),
    ("HTTP_401", ErrorClass.AUTH_FAILURE),
    ("5xx", ErrorClass.SERVER_ERROR),
    ("mapping", ErrorClass.NOT_MAPPED),
    ("Missing Field", ErrorClass.MISSING_FIELD),
])
def test_codes_and_their_aliases_are_recognised(code: str, expected: ErrorClass) -> None:
    assert classify(code) is expected


def test_every_error_class_value_is_accepted_as_a_code() -> None:
    for error_class in ErrorClass:
        if error_class is not ErrorClass.UNKNOWN:
            assert class_for_code(error_class.value) is error_class
    assert set(CODE_ALIASES.values()) <= set(ErrorClass)


def test_unrecognised_or_unknown_code_falls_through_to_the_message() -> None:
    assert classify("ERR_4711", "Reservation Waitlisted") is ErrorClass.NO_AVAILABILITY
    assert classify("unknown", "401 Unauthorized") is ErrorClass.AUTH_FAILURE
    assert classify("", "Read timed out") is ErrorClass.TIMEOUT


def test_message_wins_over_log() -> None:
    log = "2026-12-01T09:58:00Z POST /v1/api/reservation\n401 Unauthorized"
    assert classify(None, "Room type LUXT not available", log) is ErrorClass.NO_AVAILABILITY


def test_log_decides_when_the_message_is_vague() -> None:
    log = ("2026-12-01T09:57:40Z POST https://api.synxis.com/v1/api/reservation\n"
           "2026-12-01T09:58:10Z httpx.ReadTimeout: timed out")
    assert classify(None, "External Booking Failed", log) is ErrorClass.TIMEOUT


def test_timeout_setting_in_a_log_is_not_a_timeout() -> None:
    log = "client config: timeout=30 retries=1\nPOST /v1/api/reservation -> 403"
    assert classify(None, "External Booking Failed", log) is ErrorClass.UNKNOWN
    assert classify(None, "External Booking Failed", log, http_status=403) is ErrorClass.PERMISSION_DENIED


def test_unknown_text_is_unknown() -> None:
    assert classify(None, "Something went wrong") is ErrorClass.UNKNOWN
    assert classify(None) is ErrorClass.UNKNOWN
    assert classify(None, "Reservation 13098CU000379 processed", "200 OK") is ErrorClass.UNKNOWN


@pytest.mark.parametrize(("message", "expected"), [
    ("SynXis did not answer within 30 s; the request may or may not have been carried out.", ErrorClass.TIMEOUT),
    ("The connection to SynXis dropped before it answered; the request may or may not have been carried out.",
     ErrorClass.CONNECTION),
    ("syncdesk could not connect to SynXis ([Errno 111] Connection refused).", ErrorClass.CONNECTION),
    ("SynXis refused syncdesk's API credentials (client credentials) when asked for a token.",
     ErrorClass.AUTH_FAILURE),
    ("SynXis refused the request: the integration user lacks permission (HTTP 403).", ErrorClass.PERMISSION_DENIED),
    ("SynXis is rate limiting syncdesk (it asks to wait 30 s).", ErrorClass.RATE_LIMITED),
    ("SynXis answered with a server error (HTTP 502).", ErrorClass.SERVER_ERROR),
    ("The item has no SynXis hotel_id and chain_id; syncdesk cannot tell which hotel to book.",
     ErrorClass.MISSING_FIELD),
    ("SynXis rejected the request: Arrival date cannot be in the past", ErrorClass.DATA_FORMAT),
])
def test_our_connectors_own_messages_classify_as_the_error_they_came_from(message: str, expected: ErrorClass) -> None:
    assert classify(None, message) is expected


@pytest.mark.parametrize(("name", "expected"), [
    ("synxis-timeout.json", ErrorClass.TIMEOUT),
    ("synxis-no-availability.json", ErrorClass.NO_AVAILABILITY),
    ("premier-spa.json", ErrorClass.NO_AVAILABILITY),
    ("resdiary-table.json", ErrorClass.TIMEOUT),
    ("rtp-lift-ticket.json", ErrorClass.SERVER_ERROR),
    ("siriusware-rental.json", ErrorClass.NOT_MAPPED),
    ("pms-auth-failure.json", ErrorClass.AUTH_FAILURE),
])
def test_example_payloads_are_valid_intake_and_classify_as_their_failure(name: str, expected: ErrorClass) -> None:
    failure = SyncFailure.model_validate(json.loads((EXAMPLES / name).read_text())).failure
    assert classify(failure.code, failure.message, failure.log, failure.http_status) is expected


def test_every_example_is_valid_intake_with_its_own_event_and_order() -> None:
    payloads = [SyncFailure.model_validate(json.loads(p.read_text())) for p in sorted(EXAMPLES.glob("*.json"))]
    assert len(payloads) >= 9
    assert len({p.event_id for p in payloads}) == len(payloads)
    assert len({p.order.id for p in payloads}) == len(payloads)
