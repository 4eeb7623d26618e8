"""ResDiary (restaurant tables): the wire format of its APIs, and nothing else.

Two of ResDiary's APIs, each with its own authentication:

Check first: the EPOS API's diary, signed with OAuth 1.0a.
- EPOS API, Booking (https://docs.hos.accessacloud.com/resdiary-api/api-references/epos-api/booking):
  GET `/WebServices/Epos/v1/Restaurant/{restaurantId}/DiaryData?date=&includeUnallocatedBookings=`,
  the restaurant's bookings of a day: `BookingReference`, `VisitDateTime`, `Covers`,
  `CustomerFullName`, `Comments`, `CustomerComments`, `ArrivalStatus`, `MealStatus`, `Status`
  (field list as in ResDiary's own C# example `DiaryBooking.cs`); `Status` as a name or as
  the number of ResDiary's example enum (`EPOS_STATUS_ORDER`).
- Authentication, from ResDiary's own examples (https://github.com/ResDiary/ResDiary-OAuth-Examples,
  `C# Examples/EposServiceConsumer/README.md` and `Helpers/EposServiceClient.cs`): 2-legged
  OAuth 1.0a, HMAC-SHA1. Step 1, a request token: POST `{oauth}/OAuth/V10a?second_secret=
  …&scope=http://app.restaurantdiary.com/WebServices/Epos/v1` signed with the consumer key
  and secret; step 2, the access token: POST `{oauth}/OAuth/V10a` signed with the consumer
  and the request token; then every call is signed with the access token in the
  `Authorization: OAuth …` header. Token answers are form-encoded `oauth_token` /
  `oauth_token_secret` (RFC 5849 §2.1, §2.3). Signing is oauthlib's (`EposOAuth1`), not
  hand-rolled. The consumer secret and the second secret are per restaurant.

  Why the diary and not the Consumer API's lookups: the Consumer API finds a booking only
  by its ResDiary reference (GET `…/Restaurant/{micrositeName}/Booking/{bookingReference}`,
  consumer-api/booking), and the reference is exactly what a create whose answer was lost
  never gave us. No public Consumer API call searches a day or a guest (research for
  issue 12: "Find Bookings" is not published). The diary of the visit date is the one
  documented place where a booking we made but never heard back about can be found.

Create: the Consumer API, with the API user's JWT.
- Introduction (https://docs.hos.accessacloud.com/resdiary-api/guides/introduction):
  "Requesting a token" before any request; bearer JWT on every call. Token: POST
  `/api/Jwt/v2/Authenticate` `{"Username", "Password"}` → `{"Status": "Success"|"Fail",
  "Token", "TokenExpiryUtc"}` (zoneless UTC); bad credentials answer 200 with `Status: "Fail"`
  (unverified: from published client code; no reference page).
- Consumer API basic call sequence (https://sales.resdiary.com/consumer-api-basic-call-sequence/):
  POST `/api/ConsumerApi/v1/Restaurant/{micrositeName}/BookingWithStripeToken`, answered
  `{"Status": "Success"|"CreditCardRequired"|"PaymentRequired"|…, "Booking": {"Reference", …},
  "Errors"}`; the body fields (`VisitDate`, `VisitTime`, `PartySize`, `ChannelCode`,
  `SpecialRequests`, `Customer`, …) are from published client code (unverified).

Statuses: `STATUSES`, from the Consumer API guide's booking-status page
(https://docs.hos.accessacloud.com/resdiary-api/guides/consumer-api-guide/booking-status),
each with its meaning. `Unconfirmed` is "NOT A BOOKING": provisional until a deposit or card
details are taken, so it is never reported as booked. ResDiary's EPOS example enum adds
`Pending` (undescribed: held for a person). `Arrived`, `Seated`, `Left` are in neither list
(arrival and meal progress are the separate `ArrivalStatus` / `MealStatus` fields); if a
status ever says so, it can only describe a real booking whose guest came, so they count as
booked. Any other status is an error, never a guess.

Our reference is written into `SpecialRequests` and looked for in the diary's `Comments` /
`CustomerComments` (unverified: which of the two carries it); a booking made by hand
without it counts only if surname, visit time and covers all match.

Item details: `restaurant_id` (the microsite name, as the platform sends it), `visit_time`,
`covers`, `promotion_id`, `special_requests`; the numeric EPOS restaurant id comes from
`epos_restaurant_id` in the item or the routing option of that property.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import parse_qs, urlencode

import httpx
from oauthlib.oauth1 import Client as OAuth1Client

from connectors.base import CachedToken, HttpConnector, Timeouts, error_text
from connectors.errors import (
    AuthFailure,
    ConnectorError,
    MissingField,
    NeedsReview,
    NoAvailability,
    NotMapped,
    PermissionDenied,
    UnknownFailure,
)
from connectors.types import (
    BookingRequest,
    BookingResult,
    BookingStatus,
    ExistingBooking,
    StatusMeaning,
    StatusTable,
    SystemDescription,
    most_booked,
)

AUTH_PATH = "/api/Jwt/v2/Authenticate"
CONSUMER = "/api/ConsumerApi/v1/Restaurant/{microsite}"
DIARY = "/WebServices/Epos/v1/Restaurant/{restaurant}/DiaryData"
EPOS_SCOPE = "http://app.restaurantdiary.com/WebServices/Epos/v1"  # ResDiary's examples


# Every booking status ResDiary lists (and three it does not), with what it means for a guest who has paid.
STATUSES = StatusTable({
    "Unconfirmed": StatusMeaning(BookingStatus.PENDING, "not a booking: provisional until a deposit is paid or "
                                                         "card details are stored"),
    "Pending": StatusMeaning(BookingStatus.PENDING, "pending (listed in ResDiary's EPOS examples, not described): "
                                                     "not a confirmed booking"),
    "Booked": StatusMeaning(BookingStatus.BOOKED, "confirmed on the diary (the same as Confirmed)"),
    "Confirmed": StatusMeaning(BookingStatus.BOOKED, "confirmed on the diary"),
    "Closed": StatusMeaning(BookingStatus.BOOKED, "the meal is complete and the customer has left"),
    "Bumped": StatusMeaning(BookingStatus.BOOKED, "a real booking, temporarily off its table until staff move it "
                                                   "back"),
    "Arrived": StatusMeaning(BookingStatus.BOOKED, "the guest arrived (an arrival state, not in ResDiary's list)"),
    "Seated": StatusMeaning(BookingStatus.BOOKED, "the guest is seated (an arrival state, not in ResDiary's list)"),
    "Left": StatusMeaning(BookingStatus.BOOKED, "the guest has left (an arrival state, not in ResDiary's list)"),
    "Cancelled": StatusMeaning(BookingStatus.ABSENT, "cancelled (also how a no-show is recorded)"),
    "Declined": StatusMeaning(BookingStatus.ABSENT, "declined from the standby list"),
    "WaitListQueueDeclined": StatusMeaning(BookingStatus.ABSENT, "declined from the W8LIST"),
    "Expired": StatusMeaning(BookingStatus.ABSENT, "not a booking: unused"),
    "Wait": StatusMeaning(BookingStatus.NO_AVAILABILITY, "on the standby list: no table"),
    "WaitListQueued": StatusMeaning(BookingStatus.NO_AVAILABILITY, "on the W8LIST queue: no table yet"),
    "WaitListQueueAccepted": StatusMeaning(BookingStatus.NO_AVAILABILITY, "accepted a table from the W8LIST "
                                                                           "queue: not a diary booking"),
    "WaitListQueueReAdded": StatusMeaning(BookingStatus.NO_AVAILABILITY, "back on the W8LIST queue: no table yet"),
    "Locked": StatusMeaning(BookingStatus.REVIEW, "not a real booking, used internally by ResDiary and never "
                                                   "expected from its API"),
})
# The EPOS diary's `Status` as a number: ResDiary's EPOS example reads the diary with .NET's
# DataContractJsonSerializer into this enum (`Helpers/Enums/BookingStatus.cs`), and that
# serializer writes an enum as its position. So a number is read by this order (unverified
# beyond that example).
EPOS_STATUS_ORDER = ("Unconfirmed", "Booked", "Confirmed", "Closed", "Cancelled", "Expired", "Pending", "Declined",
                     "Locked", "Wait", "Bumped")
_OUR_REFERENCE = re.compile(r"\[syncdesk ([^\]]+)\]")
_CARD_STATUSES = ("creditcardrequired", "paymentrequired", "paymentfailed")
_AVAILABILITY_WORDS = ("availability", "not available", "unavailable", "fully booked", "no tables")


def status_name(raw: Any) -> str:
    """A status as ResDiary names it: a diary number becomes its name (`EPOS_STATUS_ORDER`)."""
    text = str(raw if raw is not None else "").strip()
    if text.isdigit() and int(text) < len(EPOS_STATUS_ORDER):
        return EPOS_STATUS_ORDER[int(text)]
    return text


def status_of(raw: str) -> StatusMeaning:
    """ResDiary's booking status, with its meaning; an unknown one is an error, never a guess."""
    return STATUSES.meaning_or_fail(raw, returned="ResDiary returned a booking status",
                                    check="the booking in the ResDiary diary", name=status_name(raw))


def map_status(raw: str) -> BookingStatus:
    return status_of(raw).ours


def _expiry(value: Any) -> float:
    """Seconds from now until `TokenExpiryUtc` (zoneless, UTC); 23 h when unreadable."""
    try:
        text = str(value).rstrip("Z")[:26]
        at = dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc)
        return (at - dt.datetime.now(dt.timezone.utc)).total_seconds()
    except (TypeError, ValueError):
        return 23 * 3600.0


class ResDiaryToken(CachedToken):
    """The API user's JWT (Consumer API), fetched with username and password."""

    def __init__(self, username: str, password: str) -> None:
        super().__init__(what="RESDIARY_USERNAME / RESDIARY_PASSWORD")
        self.username = username
        self._password = password

    def _fetch(self, connector: HttpConnector) -> tuple[str, float]:
        body = {"Username": self.username, "Password": self._password}
        response = connector.send("POST", AUTH_PATH, json=body, retry_safe=True)
        if response.status_code in (400, 401, 403):
            raise AuthFailure("ResDiary refused syncdesk's API user (RESDIARY_USERNAME / RESDIARY_PASSWORD).",
                              detail=connector.describe_response(response, "POST", AUTH_PATH),
                              status=response.status_code)
        if not response.is_success:
            raise connector.error_for_response(response, "POST", AUTH_PATH)
        answer = connector.decode_json(response, "POST", AUTH_PATH) or {}
        token = answer.get("Token") if isinstance(answer, dict) else None
        if answer.get("Status") != "Success" or not token:
            raise AuthFailure(
                f"ResDiary refused syncdesk's API user (Status {answer.get('Status')!r}): "
                "check RESDIARY_USERNAME / RESDIARY_PASSWORD.",
                detail=connector.describe_response(response, "POST", AUTH_PATH), status=response.status_code,
            )
        # ResDiary re-issues the same token until it is near expiry: renew 5 minutes early.
        return str(token), time.monotonic() + max(_expiry(answer.get("TokenExpiryUtc")) - 300.0, 0.0)


@dataclass(frozen=True)
class EposConfig:
    """ResDiary's EPOS API for one restaurant (its consumer secret and second secret are its own)."""

    api_url: str  # RESDIARY_EPOS_URL: the host of /WebServices/Epos/v1
    oauth_url: str  # RESDIARY_EPOS_OAUTH_URL: …/OAuth/V10a
    consumer_key: str  # RESDIARY_EPOS_CONSUMER_KEY
    consumer_secret: str = field(repr=False)  # RESDIARY_EPOS_CONSUMER_SECRET
    second_secret: str = field(repr=False)  # RESDIARY_EPOS_SECOND_SECRET: identifies the restaurant
    scope: str = EPOS_SCOPE  # RESDIARY_EPOS_SCOPE


EPOS_SETTINGS = ("RESDIARY_EPOS_URL", "RESDIARY_EPOS_OAUTH_URL", "RESDIARY_EPOS_CONSUMER_KEY",
                 "RESDIARY_EPOS_CONSUMER_SECRET", "RESDIARY_EPOS_SECOND_SECRET")


class EposOAuth1:
    """2-legged OAuth 1.0a for ResDiary's EPOS API (ResDiary's examples): a request token, then an
    access token, then each request signed (HMAC-SHA1, oauthlib) in its Authorization header.

    The access token is kept until ResDiary refuses it (401): then dropped, fetched again and
    the request replayed once (the base connector does the replay). Thread-safe.
    """

    refreshable = True
    _what = "RESDIARY_EPOS_CONSUMER_KEY / RESDIARY_EPOS_CONSUMER_SECRET / RESDIARY_EPOS_SECOND_SECRET"

    def __init__(self, config: EposConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._token: tuple[str, str] | None = None  # (oauth_token, oauth_token_secret)

    def headers(self, connector: HttpConnector, method: str, url: str) -> dict[str, str]:
        with self._lock:
            if self._token is None:
                self._token = self._access_token(connector)
            key, secret = self._token
        client = OAuth1Client(self._config.consumer_key, client_secret=self._config.consumer_secret,
                              resource_owner_key=key, resource_owner_secret=secret)
        _, signed, _ = client.sign(url, http_method=method)
        return {"Authorization": signed["Authorization"]}

    def invalidate(self, headers: Mapping[str, str]) -> None:
        with self._lock:
            # Another thread may already have replaced the token that was refused.
            if self._token is not None and f'oauth_token="{self._token[0]}"' in headers.get("Authorization", ""):
                self._token = None

    def _access_token(self, connector: HttpConnector) -> tuple[str, str]:
        config = self._config
        query = urlencode({"second_secret": config.second_secret, "scope": config.scope})
        request_token = self._token_call(connector, OAuth1Client(config.consumer_key,
                                                                 client_secret=config.consumer_secret),
                                         f"{config.oauth_url}?{query}", "request token")
        client = OAuth1Client(config.consumer_key, client_secret=config.consumer_secret,
                              resource_owner_key=request_token[0], resource_owner_secret=request_token[1])
        return self._token_call(connector, client, config.oauth_url, "access token")

    def _token_call(self, connector: HttpConnector, client: OAuth1Client, url: str, what: str) -> tuple[str, str]:
        signed_url, headers, _ = client.sign(url, http_method="POST")
        response = connector.send("POST", signed_url, headers=headers, retry_safe=True)
        described = connector.describe_response(response, "POST", self._config.oauth_url)
        if response.status_code in (400, 401, 403):
            raise AuthFailure(f"ResDiary's EPOS API refused syncdesk's {what} request: check {self._what}.",
                              detail=described, status=response.status_code)
        if not response.is_success:
            raise connector.error_for_response(response, "POST", self._config.oauth_url)
        answer = {k: v[0] for k, v in parse_qs(response.text.strip()).items()}
        token, secret = answer.get("oauth_token"), answer.get("oauth_token_secret")
        if not token or secret is None:
            raise AuthFailure(f"ResDiary's EPOS OAuth endpoint answered the {what} request without "
                              "oauth_token / oauth_token_secret.", detail=described, status=response.status_code)
        return token, secret


def _map_error(connector: HttpConnector, response: httpx.Response, method: str, path: str) -> ConnectorError | None:
    said = error_text(response)
    if response.status_code == 404:
        return NotMapped(f"ResDiary does not know this restaurant (or syncdesk's user may not book it): {said}",
                         detail=connector.describe_response(response, method, path), status=404)
    if response.status_code in (400, 409, 422) and any(w in said.lower() for w in _AVAILABILITY_WORDS):
        return NoAvailability(f"ResDiary has no availability: {said}",
                              detail=connector.describe_response(response, method, path), status=response.status_code)
    return None


class ResDiaryDiary(HttpConnector):
    """ResDiary's EPOS API, where the diary is read (OAuth 1.0a)."""

    name = "ResDiary"

    def __init__(self, config: EposConfig, timeouts: Timeouts) -> None:
        super().__init__(config.api_url, timeouts=timeouts, auth=EposOAuth1(config))

    def map_status(self, response: httpx.Response, method: str, path: str) -> ConnectorError | None:
        return _map_error(self, response, method, path)

    def day(self, restaurant: Any, date: dt.date) -> list[dict[str, Any]]:
        answer = self.request("GET", DIARY.format(restaurant=restaurant),
                              params={"date": date.isoformat(), "includeUnallocatedBookings": "true"})
        diary = answer.get("Bookings", answer) if isinstance(answer, dict) else answer
        if not isinstance(diary, list):
            raise UnknownFailure("ResDiary answered the diary request without a list of bookings; syncdesk cannot "
                                 "tell whether the booking exists, so it will not create one.",
                                 detail=repr(answer)[:500])
        return [b for b in diary if isinstance(b, dict)]

    def check_credentials(self) -> None:
        assert self._auth is not None
        self._auth.headers(self, "GET", self.base_url)


@dataclass(frozen=True)
class ResDiaryConfig:
    api_url: str  # RESDIARY_API_URL (the Consumer API)
    username: str  # RESDIARY_USERNAME: the API user
    password: str = field(repr=False)  # RESDIARY_PASSWORD
    channel_code: str = "ONLINE"  # RESDIARY_CHANNEL_CODE
    epos: EposConfig | None = None  # None: not configured, and then nothing is created (no check possible)
    support: str = ""  # RESDIARY_SUPPORT_CONTACT
    timeouts: Timeouts = Timeouts()


class ResDiaryConnector(HttpConnector):
    """Books tables in ResDiary. Check the day's diary first (EPOS), then create (Consumer API)."""

    name = "ResDiary"

    def __init__(self, config: ResDiaryConfig, options: Mapping[str, Any] | None = None) -> None:
        self.channel_code = config.channel_code
        self.support = config.support
        self.epos_restaurant_id = (options or {}).get("epos_restaurant_id")
        self._diary = ResDiaryDiary(config.epos, config.timeouts) if config.epos is not None else None
        super().__init__(config.api_url, timeouts=config.timeouts, auth=ResDiaryToken(config.username, config.password))

    def close(self) -> None:
        if self._diary is not None:
            self._diary.close()
        super().close()

    # -- BookingConnector ------------------------------------------------------------------
    def describe(self) -> SystemDescription:
        return SystemDescription(system="resdiary", name="ResDiary",
                                 booked_means="the booking is in the ResDiary diary (status Booked or later)",
                                 support=self.support)

    def check_credentials(self) -> None:
        """A live check: a Consumer API token, and the EPOS OAuth tokens (which the check-first needs)."""
        if self._auth is not None:
            self._auth.headers(self, "POST", AUTH_PATH)
        if self._diary is None:
            raise NotMapped(f"ResDiary's EPOS API (the diary the check-first reads) is not configured: set "
                            f"{', '.join(EPOS_SETTINGS)}.")
        self._diary.check_credentials()

    def find_existing(self, item: BookingRequest) -> ExistingBooking | None:
        """The diary booking for this item on its visit date, if any: by our reference, else by guest."""
        if item.start is None:
            raise MissingField("The item has no visit date; ResDiary needs one.", detail=f"item {item.reference}")
        restaurant = item.details.get("epos_restaurant_id") or self.epos_restaurant_id
        if restaurant in (None, ""):
            raise NotMapped(
                f"No numeric ResDiary restaurant id is configured for {self._microsite(item)} (routing option "
                "epos_restaurant_id): syncdesk cannot check the diary for an existing booking, so it will not "
                "create one. Configure it, or book by hand.",
                detail=f"item {item.reference} details={item.details!r}",
            )
        if self._diary is None:
            raise NotMapped(
                "ResDiary's EPOS API (the diary) is not configured: syncdesk cannot check for an existing booking, "
                f"so it will not create one. Set {', '.join(EPOS_SETTINGS)}, or book by hand.",
                detail=f"item {item.reference}",
            )
        diary = self._diary.day(restaurant, item.start)
        tag = f"[syncdesk {item.reference}]"
        ours = [b for b in diary if tag in self._comments(b)]
        found = ours or [b for b in diary if self._same_party(b, item)]
        return most_booked([self._existing(b) for b in found])

    def create(self, item: BookingRequest) -> BookingResult:
        """Create the booking with our reference in its special requests. Sent once: check first instead."""
        path = CONSUMER.format(microsite=self._microsite(item)) + "/BookingWithStripeToken"
        answer = self.request("POST", path, json=self._booking_body(item))
        if not isinstance(answer, dict):
            raise UnknownFailure("ResDiary answered the booking request without a body; the booking may or may "
                                 "not exist.", detail=repr(answer)[:500])
        outcome = str(answer.get("Status") or "")
        booking = answer.get("Booking") if isinstance(answer.get("Booking"), dict) else {}
        reference = str(booking.get("Reference") or "")
        said = "; ".join(self._errors(answer.get("Errors")))
        evidence = f"Status={outcome} Reference={reference} Errors={said}"
        lowered = (outcome + " " + said).lower()
        if outcome.lower() == "customerblocked":
            raise PermissionDenied("ResDiary refused the booking: the guest is blocked at this restaurant.",
                                   detail=evidence)
        if outcome.lower() in _CARD_STATUSES:
            raise NeedsReview(
                f"ResDiary holds booking {reference or '(no reference)'} but asks for card details ({outcome}): it "
                "is not a booking until they are given (the channel or promotion syncdesk books through requires a "
                "card). Confirm the booking in the diary by hand, then use Booked manually.", detail=evidence)
        if any(w in lowered for w in _AVAILABILITY_WORDS):
            raise NoAvailability(f"ResDiary has no availability: {said or outcome}", detail=evidence)
        if outcome != "Success" or not reference:
            raise UnknownFailure(f"ResDiary did not confirm the booking (Status {outcome!r}): {said}".strip(),
                                 detail=evidence)
        raw = str(booking.get("BookingStatus") or booking.get("Status") or "Booked")
        status = status_of(raw)
        if status.ours is BookingStatus.NO_AVAILABILITY:
            raise NoAvailability(f"ResDiary put booking {reference} on the waitlist: no availability.", detail=evidence)
        if status.ours is not BookingStatus.BOOKED:
            raise NeedsReview(f"ResDiary created booking {reference} as {raw}: {status.meaning}. Confirm it in the "
                              "diary by hand, then use Booked manually.", detail=evidence)
        return BookingResult(confirmation=reference, action="created", raw_status=raw)

    def confirm(self, existing: ExistingBooking, item: BookingRequest) -> BookingResult:
        """A booked one is found. Nothing else can be confirmed through the API: an Unconfirmed booking
        waits for a deposit or card syncdesk does not hold, a waitlisted one for a table."""
        if existing.status is BookingStatus.BOOKED:
            return BookingResult(confirmation=existing.confirmation, action="found", raw_status=existing.raw_status)
        if existing.status is BookingStatus.NO_AVAILABILITY:
            raise NoAvailability(f"ResDiary booking {existing.confirmation} is {existing.raw_status} "
                                 f"({existing.meaning}): no availability.",
                                 detail=f"Reference={existing.confirmation} Status={existing.raw_status}")
        if existing.status in (BookingStatus.PENDING, BookingStatus.REVIEW):
            raise NeedsReview(
                f"ResDiary booking {existing.confirmation} is {existing.raw_status}: {existing.meaning}. syncdesk "
                "cannot confirm it and will not book the table twice: confirm it in the diary by hand (the guest "
                "has paid through the platform), then use Booked manually.",
                detail=f"Reference={existing.confirmation} Status={existing.raw_status}")
        raise ValueError(f"cannot confirm a ResDiary booking that is {existing.raw_status}")

    # -- error mapping ---------------------------------------------------------------------
    def map_status(self, response: httpx.Response, method: str, path: str) -> ConnectorError | None:
        return _map_error(self, response, method, path)

    # -- wire format -----------------------------------------------------------------------
    @staticmethod
    def _microsite(item: BookingRequest) -> str:
        microsite = item.details.get("restaurant_id") or item.details.get("microsite_name")
        if not microsite:
            raise MissingField("The item has no ResDiary restaurant (restaurant_id); syncdesk cannot tell where "
                               "to book.", detail=f"item {item.reference} details={item.details!r}")
        return str(microsite)

    @staticmethod
    def _visit_time(item: BookingRequest) -> str:
        value = str(item.details.get("visit_time") or "").strip()
        if not value:
            raise MissingField("The item has no visit time (visit_time); ResDiary needs one.",
                               detail=f"item {item.reference} details={item.details!r}")
        return value if value.count(":") == 2 else value + ":00"

    def _booking_body(self, item: BookingRequest) -> dict[str, Any]:
        if item.start is None:
            raise MissingField("The item has no visit date; ResDiary needs one.", detail=f"item {item.reference}")
        if not item.guest.last_name.strip():
            raise MissingField("The guest's surname is missing; ResDiary needs a customer for a reservation.",
                               detail=f"item {item.reference}")
        requests = str(item.details.get("special_requests") or "").strip()
        body: dict[str, Any] = {
            "VisitDate": item.start.isoformat(),
            "VisitTime": self._visit_time(item),
            "PartySize": int(item.details.get("covers") or item.guests or 1),
            "ChannelCode": self.channel_code,
            "SpecialRequests": f"{requests} [syncdesk {item.reference}]".strip(),
            "IsLeaveTimeConfirmed": True,
            "Customer": {"FirstName": item.guest.first_name, "Surname": item.guest.last_name,
                         "Email": item.guest.email, "Mobile": item.guest.phone},
        }
        if item.details.get("promotion_id") is not None:
            body["PromotionId"] = item.details["promotion_id"]
        return body

    @staticmethod
    def _comments(booking: dict[str, Any]) -> str:
        return " ".join(str(booking.get(k) or "") for k in ("Comments", "CustomerComments"))

    def _same_party(self, booking: dict[str, Any], item: BookingRequest) -> bool:
        """A booking made without our reference counts only if surname, visit time and covers all match."""
        surname = item.guest.last_name.strip().casefold()
        names = str(booking.get("CustomerFullName") or "").casefold().split()
        visit = str(booking.get("VisitDateTime") or "")
        try:
            wanted_time = self._visit_time(item)[:5]
        except MissingField:
            return False
        covers = int(item.details.get("covers") or item.guests or 0)
        return bool(surname) and surname in names and visit[11:16] == wanted_time and booking.get("Covers") == covers

    @staticmethod
    def _errors(errors: Any) -> list[str]:
        if not isinstance(errors, list):
            return [str(errors)] if errors else []
        return [str(e.get("ErrorMessage") or e.get("Message") or e) if isinstance(e, dict) else str(e) for e in errors]

    def _existing(self, booking: dict[str, Any]) -> ExistingBooking:
        reference = booking.get("BookingReference") or booking.get("Reference")
        if not reference:
            raise UnknownFailure("ResDiary returned a diary booking without a reference.", detail=repr(booking)[:500])
        value = booking.get("Status")
        raw = status_name(value if value is not None else booking.get("BookingStatus"))
        status = status_of(raw)
        ours = _OUR_REFERENCE.search(self._comments(booking))
        return ExistingBooking(confirmation=str(reference), status=status.ours, raw_status=raw,
                               reference=ours.group(1) if ours else "", meaning=status.meaning)
