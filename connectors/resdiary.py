"""ResDiary (restaurant tables): the wire format of its APIs, and nothing else.

Create with the Consumer API; check first with whichever read syncdesk has been given: the
EPOS API's diary (OAuth 1.0a) when it is configured, else Data Extraction "Get Bookings"
(the Consumer API's token). EPOS stays optional: ResDiary certifies EPOS API integrations
only with a bi-directional seating flow, which syncdesk does not have (EPOS API guide,
introduction: https://docs.hos.accessacloud.com/resdiary-api/guides/epos-api-guide/introduction).

What check-first can prove with each:
- EPOS diary (by visit date): every booking in the restaurant's diary for the item's visit
  date, unallocated ones included, whoever made it and whenever. Nothing found there means no
  booking on that date carries our reference or matches the party (surname, time, covers). A
  booking moved to another date is not seen.
- Data Extraction "Get Bookings" (by the day a booking was *created*, not the visit date:
  Introduction, "Terminology"): the bookings created on each day asked, in their current
  state, whatever their visit date. syncdesk asks each day from `created_lookback_days`
  (routing option, default 7) before today to tomorrow (UTC; the zone of ResDiary's booking
  date is unverified, hence one day either side). Nothing found proves only that no booking
  with our reference or matching the party (visit date included) was *created in that window*:
  one created earlier (a first attempt more than `created_lookback_days` ago) is not seen.

The public Consumer API finds a booking by its ResDiary reference only (GET
`…/Restaurant/{micrositeName}/Booking/{bookingReference}`, consumer-api/booking), and the
reference is exactly what a create whose answer was lost never gave us; that is why
check-first reads a day's list. `find_by_confirmation` (the arrival check) uses that call.

APIs and pages:
- Introduction (https://docs.hos.accessacloud.com/resdiary-api/guides/introduction): Data
  Extraction is "Get Bookings" and "Get Booking Changes" by day ("Booking Date refers to the
  booking created date"). Its "Requesting a token" section points to "OAuth 2.0 Authorization
  Code Flow w/ PKCE", while every reference page says "Bearer token using a JWT".
- Token (unverified: no reference page; the Introduction points to PKCE, see above): POST
  `/api/Jwt/v2/Authenticate` `{"Username", "Password"}` → `{"Status": "Success"|"Fail",
  "Token", "TokenExpiryUtc"}` (zoneless UTC); bad credentials answer 200 with `Status: "Fail"`.
  From published client code; the JWT is then sent as `Authorization: Bearer …`, as the
  reference pages say.
- Create: Consumer API basic call sequence (https://sales.resdiary.com/consumer-api-basic-call-sequence/):
  POST `/api/ConsumerApi/v1/Restaurant/{micrositeName}/BookingWithStripeToken`, answered
  `{"Status", "Booking": {"Reference", …}, "Errors"}`; the body fields (`VisitDate`,
  `VisitTime`, `PartySize`, `ChannelCode`, `SpecialRequests`, `Customer`, …) are from
  published client code (unverified).
- Payments (https://docs.hos.accessacloud.com/resdiary-api/guides/consumer-api-guide/payments):
  `CreditCardRequired` comes with a `SetupIntentClientSecret` (`PaymentRequired` with the
  Stripe keys, `StripeAuthenticationRequired` with a `PaymentIntentSecret`): the guest's
  browser completes a Stripe step and the client calls create again, and "booking is made"
  only at `Success`. So none of these holds a booking, and syncdesk, which has no guest
  browser, cannot finish them: it says so, records nothing, and never logs the secret.
- Data Extraction, Get Bookings (unverified: the reference page
  https://docs.hos.accessacloud.com/resdiary-api/api-references/data-extract-api/booking
  documents only GET `/api/ConsumerApi/v1/DataExtract/Restaurant/{deploymentId}/{providerId}/Booking/{bookingId}`
  with a bearer JWT; the by-day form `…/Booking/{yyyy-mm-dd}` is from published client code).
  Booking fields: `Id`, `BookingReference`, `CustomerName` are on that page; `Comments`,
  `Covers`, `VisitDateTime`, `Status`, `BookingDateTime` are named as in the EPOS API
  (unverified for Data Extraction: the page describes them, its names were not read).
- EPOS API, Booking (https://docs.hos.accessacloud.com/resdiary-api/api-references/epos-api/booking):
  GET `/WebServices/Epos/v1/Restaurant/{restaurantId}/DiaryData?date=&includeUnallocatedBookings=`,
  the diary of a visit date: `BookingReference`, `VisitDateTime`, `Covers`,
  `CustomerFullName`, `Comments`, `CustomerComments`, `ArrivalStatus`, `MealStatus`, `Status`
  (field list as in ResDiary's own C# example `DiaryBooking.cs`); `Status` as a name or as
  the number of ResDiary's example enum (`EPOS_STATUS_ORDER`).
- EPOS authentication, from ResDiary's own examples (https://github.com/ResDiary/ResDiary-OAuth-Examples,
  `C# Examples/EposServiceConsumer/README.md` and `Helpers/EposServiceClient.cs`): 2-legged
  OAuth 1.0a, HMAC-SHA1. Step 1, a request token: POST `{oauth}/OAuth/V10a?second_secret=
  …&scope=http://app.restaurantdiary.com/WebServices/Epos/v1` signed with the consumer key
  and secret; step 2, the access token: POST `{oauth}/OAuth/V10a` signed with the consumer
  and the request token; then every call is signed with the access token in the
  `Authorization: OAuth …` header. Token answers are form-encoded `oauth_token` /
  `oauth_token_secret` (RFC 5849 §2.1, §2.3). Signing is oauthlib's (`EposOAuth1`), not
  hand-rolled. The consumer secret and the second secret are per restaurant.

Statuses: `STATUSES`, from the Consumer API guide's booking-status page
(https://docs.hos.accessacloud.com/resdiary-api/guides/consumer-api-guide/booking-status),
each with its meaning. `Unconfirmed` is "NOT A BOOKING": provisional until a deposit or card
details are taken, so it is never reported as booked. ResDiary's EPOS example enum adds
`Pending` (undescribed: held for a person). `Arrived`, `Seated`, `Left` are in neither list
(arrival and meal progress are the separate `ArrivalStatus` / `MealStatus` fields); if a
status ever says so, it can only describe a real booking whose guest came, so they count as
booked. Any other status is an error, never a guess.

An Unconfirmed booking's deadline: no answer carries one. A restaurant's "Hours to expiry"
(Stripe settings: the guest has that long to give card details before the booking is removed,
https://help-resdiary.theaccessgroup.com/en/articles/12052959-obtain-payment-details-securely-by-email)
may be given as the routing option `card_hours_to_expiry`; the deadline is then the booking's
`BookingDateTime` (when it was made, UTC; unverified name) plus those hours. The hours count
from when card details were asked for, never before the booking was made, so the booking
cannot lapse before that deadline.

Our reference is written into `SpecialRequests` and looked for in `Comments` /
`CustomerComments` / `SpecialRequests` (unverified: which one carries it in the diary and in
Data Extraction); a booking made by hand without it counts only if surname, visit date and
time, and covers all match. Both keys are asked of every read (`TwoKeyCheckFirst`, issue 24):
a booking found by one only (our reference but another party, or the party without our
reference) still counts and is reported as a warning.

The arrival check's day listing (`bookings_on`, issue 25 "the other direction") reads the same
lists: the EPOS diary of the day (by visit date, complete), else Data Extraction "Get Bookings"
(https://docs.hos.accessacloud.com/resdiary-api/guides/introduction, by *created* day; its by-day
form is unverified, see above) for each day of the lookback window, keeping the bookings whose
`VisitDateTime` is the day: a booking created before the window is not listed.

Item details: `restaurant_id` (the microsite name, as the platform sends it), `visit_time`,
`covers`, `promotion_id`, `special_requests`. Per restaurant, in the item or the routing
options: `epos_restaurant_id` (the EPOS diary), `deployment_id` and `provider_id` (Data
Extraction); routing options only: `created_lookback_days`, `card_hours_to_expiry`.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import parse_qs, quote, urlencode

import httpx
from oauthlib.oauth1 import Client as OAuth1Client

from connectors.base import CachedToken, HttpConnector, Timeouts, TwoKeyCheckFirst, error_text
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
    Found,
    StatusMeaning,
    StatusTable,
    SystemDescription,
)

AUTH_PATH = "/api/Jwt/v2/Authenticate"  # unverified: no reference page (the Introduction points to OAuth 2.0 PKCE)
CONSUMER = "/api/ConsumerApi/v1/Restaurant/{microsite}"
DIARY = "/WebServices/Epos/v1/Restaurant/{restaurant}/DiaryData"
# Data Extraction "Get Bookings": the bookings created on one day (unverified: the by-day form
# is from published client code; the reference page has only …/Booking/{bookingId}).
CREATED_ON = "/api/ConsumerApi/v1/DataExtract/Restaurant/{deployment}/{provider}/Booking/{day}"
CREATED_LOOKBACK_DAYS = 7
DATA_EXTRACT_OPTIONS = ("deployment_id", "provider_id")
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
_BOOKING_READ = re.compile(r"/api/ConsumerApi/v1/Restaurant/[^/]+/Booking/[^/]+")
# Create answers that made no booking and wait for a Stripe step in the guest's browser (payments
# guide); "paymentfailed" is not in the guide, and a failed payment books nothing either.
_CARD_STEPS = {"creditcardrequired": "the guest's card details", "paymentrequired": "a payment (deposit)",
               "stripeauthenticationrequired": "the card holder's authentication (3DS2)",
               "paymentfailed": "a payment (which failed)"}
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


def _utc(value: Any) -> dt.datetime | None:
    """A ResDiary timestamp (zoneless, UTC) as an aware datetime; None when absent or unreadable."""
    try:
        at = dt.datetime.fromisoformat(str(value).rstrip("Z")[:26])
    except (TypeError, ValueError):
        return None
    return at.replace(tzinfo=dt.timezone.utc) if at.tzinfo is None else at.astimezone(dt.timezone.utc)


def _day(value: Any) -> dt.date | None:
    """The date part of a ResDiary date or date-time (`2026-12-24T19:30:00`); None when unreadable."""
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except (TypeError, ValueError):
        return None


def _expiry(value: Any) -> float:
    """Seconds from now until `TokenExpiryUtc` (zoneless, UTC); 23 h when unreadable."""
    at = _utc(value)
    return (at - dt.datetime.now(dt.timezone.utc)).total_seconds() if at is not None else 23 * 3600.0


class ResDiaryToken(CachedToken):
    """The API user's JWT (Consumer API and Data Extraction), fetched with username and password
    from `Jwt/v2/Authenticate` (unverified: see the module docstring)."""

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


class BookingNotFound(NotMapped):
    """ResDiary has no booking by the reference asked for (a 404 on a booking read that does not
    name the restaurant; unverified: what ResDiary answers for an unknown reference)."""


def _map_error(connector: HttpConnector, response: httpx.Response, method: str, path: str) -> ConnectorError | None:
    said = error_text(response)
    if response.status_code == 404 and method == "GET" and _BOOKING_READ.fullmatch(path) \
            and "restaurant" not in said.lower():
        return BookingNotFound(f"ResDiary has no booking by that reference: {said}",
                               detail=connector.describe_response(response, method, path), status=404)
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
    epos: EposConfig | None = None  # None: not configured; check first with Data Extraction instead
    support: str = ""  # RESDIARY_SUPPORT_CONTACT
    timeouts: Timeouts = Timeouts()


class ResDiaryConnector(TwoKeyCheckFirst, HttpConnector):
    """Books tables in ResDiary: check first (the EPOS diary, else Data Extraction), then create
    (Consumer API); finds a booking by its reference for the arrival check (Consumer API)."""

    name = "ResDiary"

    def __init__(self, config: ResDiaryConfig, options: Mapping[str, Any] | None = None) -> None:
        options = options or {}
        self.channel_code = config.channel_code
        self.support = config.support
        self.options = dict(options)
        self.epos_restaurant_id = options.get("epos_restaurant_id")
        self.created_lookback_days = int(options.get("created_lookback_days", CREATED_LOOKBACK_DAYS))
        hours = options.get("card_hours_to_expiry")
        self.card_hours_to_expiry = float(hours) if hours not in (None, "") else None
        self._diary = ResDiaryDiary(config.epos, config.timeouts) if config.epos is not None else None
        super().__init__(config.api_url, timeouts=config.timeouts, auth=ResDiaryToken(config.username, config.password))

    def close(self) -> None:
        if self._diary is not None:
            self._diary.close()
        super().close()

    # -- BookingConnector ------------------------------------------------------------------
    def describe(self) -> SystemDescription:
        return self.description(self.support)

    @staticmethod
    def description(support: str) -> SystemDescription:
        """What the alert says about ResDiary, without building a client (`registry.description_for`)."""
        return SystemDescription(system="resdiary", name="ResDiary",
                                 booked_means="the booking is in the ResDiary diary (status Booked or later)",
                                 support=support)

    def check_credentials(self) -> None:
        """A live check: a Consumer API token, then the read check-first uses: the EPOS OAuth
        tokens, or else one Data Extraction read of today's bookings for the routed restaurant."""
        if self._auth is not None:
            self._auth.headers(self, "POST", AUTH_PATH)
        if self._diary is not None:
            self._diary.check_credentials()
            return
        ids = self._data_extract_ids(self.options)
        if ids is None:
            raise NotMapped(self._no_check_first("", epos_configured=False))
        self._created_on(*ids, dt.datetime.now(dt.timezone.utc).date())

    def find_by_keys(self, item: BookingRequest) -> Found:
        """The bookings for this item by each key, in the EPOS diary of its visit date or else among
        the bookings created in the last days (Data Extraction): our reference in the comments, and
        the party (surname, visit date and time, covers) with our reference or none. One read
        answers both keys; the guest key cannot be asked without a surname or a visit time."""
        if item.start is None:
            raise MissingField("The item has no visit date; ResDiary needs one.", detail=f"item {item.reference}")
        tag = f"[syncdesk {item.reference}]"
        bookings = self._check_first_bookings(item)
        ours = [b for b in bookings if tag in self._comments(b)]
        party = None
        if item.guest.last_name.strip() and str(item.details.get("visit_time") or "").strip():
            party = [b for b in bookings if self._same_party(b, item)
                     and (tag in self._comments(b) or not _OUR_REFERENCE.search(self._comments(b)))]
        return Found(tuple(self._existing(b) for b in ours),
                     None if party is None else tuple(self._existing(b) for b in party))

    def bookings_on(self, day: dt.date, where: BookingRequest) -> list[ExistingBooking]:
        """Every booking visiting on `day` at the restaurant `where` names, any status: the EPOS
        diary of that date, else Data Extraction "Get Bookings" over the lookback window, each
        booking's visit date compared here (so one created before the window is not seen)."""
        return [self._existing(b) for b in self._day_bookings(day, where)
                if _day(b.get("VisitDateTime") or b.get("VisitDate")) == day]

    def cancel(self, confirmation: str, item: BookingRequest) -> None:
        """Cancel booking `confirmation` at the item's restaurant (`syncdesk connectors verify` only):
        DELETE on the Consumer API's booking (unverified: no public page documents a cancel call;
        the Consumer API's booking reference page documents only reading one by its reference)."""
        path = CONSUMER.format(microsite=self._microsite(item)) + f"/Booking/{quote(confirmation.strip(), safe='')}"
        self.request("DELETE", path)

    def find_by_confirmation(self, confirmation: str, item: BookingRequest) -> ExistingBooking | None:
        """The booking ResDiary numbered `confirmation` at the item's restaurant (Consumer API, Get
        a booking by its reference), with its visit date, covers and, if Unconfirmed, its deadline;
        None when ResDiary has no booking by that reference."""
        path = CONSUMER.format(microsite=self._microsite(item)) + f"/Booking/{quote(confirmation.strip(), safe='')}"
        try:
            answer = self.request("GET", path)
        except BookingNotFound:
            return None
        if not isinstance(answer, dict):
            raise UnknownFailure(f"ResDiary answered the read of booking {confirmation} without a booking.",
                                 detail=repr(answer)[:500])
        return self._existing(answer)

    def create(self, item: BookingRequest) -> BookingResult:
        """Create the booking with our reference in its special requests. Sent once: check first instead."""
        path = CONSUMER.format(microsite=self._microsite(item)) + "/BookingWithStripeToken"
        answer = self.request("POST", path, json=self._booking_body(item))
        if not isinstance(answer, dict):
            raise UnknownFailure("ResDiary answered the booking request without a body; the booking may or may "
                                 "not exist.", detail=repr(answer)[:500])
        outcome = str(answer.get("Status") or "")
        said = "; ".join(self._errors(answer.get("Errors")))
        if outcome.lower() in _CARD_STEPS:
            # No booking exists (payments guide): nothing to record, and the Stripe secrets stay out of the log.
            secrets = [k for k in ("SetupIntentClientSecret", "PaymentIntentSecret") if answer.get(k)]
            raise NeedsReview(
                f"ResDiary made no booking: it asks for {_CARD_STEPS[outcome.lower()]} first ({outcome}), a step "
                "the guest completes in ResDiary's Stripe form, which syncdesk cannot do. Nothing is held in the "
                "diary. Book the table by hand in ResDiary (it can email the guest its secure card page), or ask "
                "the guest to book it, then use Booked manually.",
                detail=f"Status={outcome} Errors={said} given={','.join(secrets) or 'none'} (values not logged)")
        booking = answer.get("Booking") if isinstance(answer.get("Booking"), dict) else {}
        reference = str(booking.get("Reference") or "")
        evidence = f"Status={outcome} Reference={reference} Errors={said}"
        lowered = (outcome + " " + said).lower()
        if outcome.lower() == "customerblocked":
            raise PermissionDenied("ResDiary refused the booking: the guest is blocked at this restaurant.",
                                   detail=evidence)
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

    # -- check first -----------------------------------------------------------------------
    def _check_first_bookings(self, item: BookingRequest) -> list[dict[str, Any]]:
        """The bookings check-first looks through: the EPOS diary of the visit date when EPOS is
        configured for the restaurant, else those created in the lookback window (Data Extraction)."""
        assert item.start is not None
        return self._day_bookings(item.start, item)

    def _day_bookings(self, day: dt.date, item: BookingRequest) -> list[dict[str, Any]]:
        """The item's restaurant's diary of `day` (EPOS), else every booking created in the lookback
        window, whatever its visit date (Data Extraction): the caller compares the visit date."""
        restaurant = item.details.get("epos_restaurant_id") or self.epos_restaurant_id
        if self._diary is not None and restaurant not in (None, ""):
            return self._diary.day(restaurant, day)
        ids = self._data_extract_ids({**self.options, **item.details})
        if ids is None:
            raise NotMapped(self._no_check_first(str(item.details.get("restaurant_id") or ""),
                                                 epos_configured=self._diary is not None),
                            detail=f"item {item.reference} details={item.details!r}")
        today = dt.datetime.now(dt.timezone.utc).date()
        days = [today + dt.timedelta(days=n) for n in range(-self.created_lookback_days, 2)]
        return [b for day in days for b in self._created_on(*ids, day)]

    @staticmethod
    def _data_extract_ids(values: Mapping[str, Any]) -> tuple[str, str] | None:
        found = tuple(str(values.get(k) or "").strip() for k in DATA_EXTRACT_OPTIONS)
        return (found[0], found[1]) if all(found) else None

    def _created_on(self, deployment: str, provider: str, day: dt.date) -> list[dict[str, Any]]:
        """Data Extraction "Get Bookings": the bookings created on `day` (the answer's envelope,
        a list or `{"Bookings": […]}`, is unverified)."""
        path = CREATED_ON.format(deployment=quote(deployment, safe=""), provider=quote(provider, safe=""),
                                 day=day.isoformat())
        answer = self.request("GET", path)
        bookings = answer.get("Bookings", answer) if isinstance(answer, dict) else answer
        if not isinstance(bookings, list):
            raise UnknownFailure("ResDiary answered the Data Extraction request without a list of bookings; "
                                 "syncdesk cannot tell whether the booking exists, so it will not create one.",
                                 detail=repr(answer)[:500])
        return [b for b in bookings if isinstance(b, dict)]

    @staticmethod
    def _no_check_first(microsite: str, *, epos_configured: bool) -> str:
        where = f" for {microsite}" if microsite else ""
        epos = ("the numeric EPOS restaurant id (routing option epos_restaurant_id)" if epos_configured else
                f"ResDiary's EPOS API ({', '.join(EPOS_SETTINGS)}, and routing option epos_restaurant_id)")
        return (f"syncdesk cannot check ResDiary{where} for an existing booking, so it will not create one: "
                f"configure {epos}, or Data Extraction (routing options {' and '.join(DATA_EXTRACT_OPTIONS)}, "
                "read with the Consumer API user), or book by hand.")

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
        return " ".join(str(booking.get(k) or "") for k in ("Comments", "CustomerComments", "SpecialRequests"))

    def _same_party(self, booking: dict[str, Any], item: BookingRequest) -> bool:
        """A booking made without our reference counts only if surname, visit date and time, and
        covers all match."""
        surname = item.guest.last_name.strip().casefold()
        names = str(booking.get("CustomerFullName") or booking.get("CustomerName") or "").casefold().split()
        visit = str(booking.get("VisitDateTime") or "")
        try:
            wanted_time = self._visit_time(item)[:5]
        except MissingField:
            return False
        covers = int(item.details.get("covers") or item.guests or 0)
        return (bool(surname) and surname in names and item.start is not None
                and visit[:10] == item.start.isoformat() and visit[11:16] == wanted_time
                and booking.get("Covers") == covers)

    @staticmethod
    def _errors(errors: Any) -> list[str]:
        if not isinstance(errors, list):
            return [str(errors)] if errors else []
        return [str(e.get("ErrorMessage") or e.get("Message") or e) if isinstance(e, dict) else str(e) for e in errors]

    def _existing(self, booking: dict[str, Any]) -> ExistingBooking:
        """A diary, Data Extraction or Consumer API booking as what the system holds."""
        reference = booking.get("BookingReference") or booking.get("Reference")
        if not reference:
            raise UnknownFailure("ResDiary returned a booking without a reference.", detail=repr(booking)[:500])
        value = booking.get("Status")
        raw = status_name(value if value is not None else booking.get("BookingStatus"))
        status = status_of(raw)
        ours = _OUR_REFERENCE.search(self._comments(booking))
        covers = booking.get("Covers", booking.get("PartySize"))
        return ExistingBooking(confirmation=str(reference), status=status.ours, raw_status=raw,
                               reference=ours.group(1) if ours else "", meaning=status.meaning,
                               start=_day(booking.get("VisitDateTime") or booking.get("VisitDate")),
                               guests=covers if isinstance(covers, int) and not isinstance(covers, bool) else None,
                               deadline=self._deadline(raw, booking))

    def _deadline(self, raw: str, booking: dict[str, Any]) -> dt.datetime | None:
        """When an Unconfirmed booking may lapse (see the module docstring); None when unknown."""
        if STATUSES.key(raw) != "unconfirmed" or self.card_hours_to_expiry is None:
            return None
        made = _utc(booking.get("BookingDateTime"))  # unverified name
        return made + dt.timedelta(hours=self.card_hours_to_expiry) if made is not None else None
