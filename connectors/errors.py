"""The error classes of a failed booking sync, and the typed errors connectors raise.

The classes and their next steps come from the operations manuals in `shared/sources/`
(DESIGN §1): timeouts, no availability, credentials changed, permissions, property not
mapped, data format mismatch, required field missing, rate limiting.

A next step that sends people to the vendor names *who* to contact: the system's support
contact from configuration (`ErrorClass.next_step_for(support)`; e.g. Aspenware support,
support@aspenware.com, for RTP|One, as `shared/sources/001_91593d738c287bb0.txt` says), and
a connector error carries that contact in `ConnectorError.support`.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass


GENERIC_SUPPORT = "the system's support"


@dataclass(frozen=True)
class _ClassText:
    label: str
    explanation: str
    next_step: str
    transient: bool


class ErrorClass(enum.Enum):
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    SERVER_ERROR = "server_error"
    RATE_LIMITED = "rate_limited"
    NO_AVAILABILITY = "no_availability"
    AUTH_FAILURE = "auth_failure"
    PERMISSION_DENIED = "permission_denied"
    NOT_MAPPED = "not_mapped"
    DATA_FORMAT = "data_format"
    MISSING_FIELD = "missing_field"
    PLATFORM_REFUSED = "platform_refused"
    NO_CONNECTOR = "no_connector"
    NEEDS_REVIEW = "needs_review"
    UNKNOWN = "unknown"

    @property
    def text(self) -> _ClassText:
        return _TEXTS[self]

    @property
    def label(self) -> str:
        return self.text.label

    @property
    def explanation(self) -> str:
        return self.text.explanation

    @property
    def next_step(self) -> str:
        """The next step with the contact unnamed ("the system's support")."""
        return self.next_step_for("")

    def next_step_for(self, support: str) -> str:
        """The next step naming `support` (who to contact for this system) where it sends people there."""
        return self.text.next_step.format(support=support.strip() or GENERIC_SUPPORT)

    @property
    def transient(self) -> bool:
        """Transient classes get one automatic Reprocess; permanent ones never do."""
        return self.text.transient


_TEXTS: dict[ErrorClass, _ClassText] = {
    ErrorClass.TIMEOUT: _ClassText(
        "Timeout",
        "The booking system did not answer in time. The booking may or may not have been made.",
        "Reprocess: syncdesk checks the system for an existing booking first, so it cannot double-book.",
        True,
    ),
    ErrorClass.CONNECTION: _ClassText(
        "Connection failed",
        "syncdesk could not reach the booking system (connection refused, DNS or TLS error).",
        "Check the system is up, then Reprocess.",
        True,
    ),
    ErrorClass.SERVER_ERROR: _ClassText(
        "Booking system error",
        "The booking system answered with a server error (5xx).",
        "Reprocess in a few minutes; if it keeps failing, contact {support}.",
        True,
    ),
    ErrorClass.RATE_LIMITED: _ClassText(
        "Rate limited",
        "The booking system is refusing requests because too many were sent.",
        "Wait a few minutes and Reprocess.",
        True,
    ),
    ErrorClass.NO_AVAILABILITY: _ClassText(
        "No availability",
        "The booking system has no availability for these dates (or waitlisted the reservation).",
        "Find an alternative with the guest or overbook by hand, then use Booked manually.",
        False,
    ),
    ErrorClass.AUTH_FAILURE: _ClassText(
        "Authentication failure",
        "The booking system rejected syncdesk's credentials; they were probably changed.",
        "Update the API credentials in the integration settings, then Reprocess.",
        False,
    ),
    ErrorClass.PERMISSION_DENIED: _ClassText(
        "Permission denied",
        "The integration user is not allowed to create this booking.",
        "Give the integration's user account the booking permission in the system, then Reprocess.",
        False,
    ),
    ErrorClass.NOT_MAPPED: _ClassText(
        "Property not mapped",
        "The property, hotel or product is not mapped in the integration settings.",
        "Check the property/hotel mapping in the integration settings, then Reprocess, or book it by hand.",
        False,
    ),
    ErrorClass.DATA_FORMAT: _ClassText(
        "Data format mismatch",
        "The booking system rejected a value in the booking (a format it does not accept).",
        "Correct the order details on the platform, or book it by hand and use Booked manually.",
        False,
    ),
    ErrorClass.MISSING_FIELD: _ClassText(
        "Required field missing",
        "A field the booking system requires (guest name, dates, room type) is missing.",
        "Complete the order details (guest name, dates, room type), then Reprocess or book it by hand.",
        False,
    ),
    ErrorClass.PLATFORM_REFUSED: _ClassText(
        "Platform refused",
        "The e-commerce platform refused the status change.",
        "Read the platform's message below, fix the order in the platform admin, then try again.",
        False,
    ),
    ErrorClass.NO_CONNECTOR: _ClassText(
        "No connector configured",
        "syncdesk has no connection to this booking system for this property.",
        "Book it by hand in the system, then use Booked manually.",
        False,
    ),
    ErrorClass.NEEDS_REVIEW: _ClassText(
        "Booking needs a person",
        "Only a person can finish this booking: the booking system holds one in a state syncdesk must "
        "neither confirm nor replace (provisional, payment pending, being cancelled, released), or it made "
        "none and asks for a step only the guest can do (card details, a deposit). The message says which.",
        "If a booking is held, settle it in the system (confirm it, or cancel it and book again); if none "
        "is, book it by hand in the system or ask the guest to. Then use Booked manually.",
        False,
    ),
    ErrorClass.UNKNOWN: _ClassText(
        "Unknown error",
        "The failure did not match any known cause.",
        "Open the log, book it by hand if needed, and contact {support} with the order number and the log.",
        False,
    ),
}


class ConnectorError(Exception):
    """A classified failure talking to an external system.

    `message` is for people (shown in the alert); `detail` is the raw evidence (status,
    body excerpt) kept for the log.
    """

    error_class: ErrorClass = ErrorClass.UNKNOWN

    def __init__(self, message: str, *, detail: str = "", status: int | None = None, support: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.status = status
        # Who to contact about this system (its configured support contact); "" until known.
        self.support = support
        # Set by the booking routine (`workflows.systems.booking`) when check-first had found a
        # booking before this failure: by one key only (`Found.warning`), or a hold that lapses then.
        self.warning = ""
        self.hold_deadline: dt.datetime | None = None

    @property
    def transient(self) -> bool:
        return self.error_class.transient

    @property
    def next_step(self) -> str:
        """The class's next step, naming this system's support contact where it sends people there."""
        return self.error_class.next_step_for(self.support)


class Timeout(ConnectorError):
    error_class = ErrorClass.TIMEOUT


class ConnectionFailed(ConnectorError):
    error_class = ErrorClass.CONNECTION


class ServerError(ConnectorError):
    error_class = ErrorClass.SERVER_ERROR


class RateLimited(ConnectorError):
    error_class = ErrorClass.RATE_LIMITED


class NoAvailability(ConnectorError):
    error_class = ErrorClass.NO_AVAILABILITY


class AuthFailure(ConnectorError):
    error_class = ErrorClass.AUTH_FAILURE


class PermissionDenied(ConnectorError):
    error_class = ErrorClass.PERMISSION_DENIED


class NotMapped(ConnectorError):
    error_class = ErrorClass.NOT_MAPPED


class DataFormat(ConnectorError):
    error_class = ErrorClass.DATA_FORMAT


class MissingField(ConnectorError):
    error_class = ErrorClass.MISSING_FIELD


class PlatformRefused(ConnectorError):
    error_class = ErrorClass.PLATFORM_REFUSED


class NoConnector(ConnectorError):
    error_class = ErrorClass.NO_CONNECTOR


class NeedsReview(ConnectorError):
    """Only a person can finish the booking: one exists in a state syncdesk must neither confirm nor
    replace, or the system made none and asks for a step only the guest can do (a card, a deposit)."""

    error_class = ErrorClass.NEEDS_REVIEW


class ManualOnly(NoConnector):
    """The system has no booking API syncdesk may call: a person books it by the playbook.

    `steps` are the system's exact manual steps for this item (shown instead of Reprocess).
    """

    def __init__(self, message: str, *, steps: tuple[str, ...] = (), detail: str = "") -> None:
        super().__init__(message, detail=detail or "\n".join(steps))
        self.steps = steps


class UnknownFailure(ConnectorError):
    error_class = ErrorClass.UNKNOWN


ERROR_FOR_CLASS: dict[ErrorClass, type[ConnectorError]] = {
    cls.error_class: cls
    for cls in (
        Timeout, ConnectionFailed, ServerError, RateLimited, NoAvailability, AuthFailure,
        PermissionDenied, NotMapped, DataFormat, MissingField, PlatformRefused, NoConnector,
        NeedsReview, UnknownFailure,
    )
}
