"""A fake ResDiary speaking the wire formats `connectors.resdiary` documents, and refusing the wrong ones.

Consumer API (bearer JWT):
- `POST /api/Jwt/v2/Authenticate` `{"Username", "Password"}` → `{"Status": "Success", "Token",
  "TokenExpiryUtc"}`; wrong credentials → 200 `{"Status": "Fail"}` (as the real API does).
- `POST /api/ConsumerApi/v1/Restaurant/{microsite}/BookingWithStripeToken` →
  `{"Status": "Success", "Booking": {"Reference", "BookingStatus": "Booked", …}, "Errors": null}`;
  unknown microsite → 404 `{"Message"}`.
- `GET /api/ConsumerApi/v1/Restaurant/{microsite}/Booking/{reference}` → the Booking (`Reference`,
  `VisitDate`, `VisitTime`, `PartySize`, `SpecialRequests`, `BookingStatus`, `BookingDateTime`);
  no such booking at that restaurant → 404 `{"Message": "Booking not found"}`.
- Data Extraction: `GET /api/ConsumerApi/v1/DataExtract/Restaurant/{deploymentId}/{providerId}/Booking/{yyyy-mm-dd}`
  → the bookings *created* that day (UTC), whatever their visit date; `…/Booking/{bookingId}` →
  one booking. Only with the Consumer API's bearer JWT (an EPOS OAuth header, no header or an
  unknown token → 401); no date or a date in another form → 400; another deployment or an
  unknown provider → 404.

EPOS API (2-legged OAuth 1.0a, HMAC-SHA1, as in ResDiary's own examples):
- `POST /OAuth/V10a?second_secret=…&scope=…` signed with the consumer key and secret → form
  `oauth_token=…&oauth_token_secret=…` (a request token); `POST /OAuth/V10a` signed with the
  consumer and that request token → an access token for the restaurant the second secret names.
- `GET /WebServices/Epos/v1/Restaurant/{restaurantId}/DiaryData?date=` signed with the access
  token → the diary bookings of that visit date (no date → 400: the diary is always of one date), `Status` as the number of ResDiary's example
  enum (`numeric_status = False`: as its name). A bearer JWT, a bad signature or another
  restaurant's token → 401 `{"Message"}`.
Signatures are checked with oauthlib's RFC 5849 primitives (base string, HMAC-SHA1).

`DELETE /api/ConsumerApi/v1/Restaurant/{microsite}/Booking/{reference}` cancels the booking (the
call is unverified, as in the connector). `fake.ignore_key = "reference"` (or `"guest"`): the diary
and Data Extraction answer without the comments (or the guest's name), so one of check-first's two
keys finds nothing (issue 24: which field carries our reference is unverified).

`fake.full = True`: creates answer 400 with a no-availability message. `fake.card_required
= True`: creates answer `Status: "CreditCardRequired"` with a `SetupIntentClientSecret` and the
Stripe keys, and make NO booking (the Consumer API's payments guide: the booking is made only at
`Success`, after the guest's Stripe step).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import secrets
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

from oauthlib.oauth1.rfc5849 import signature as oauth

from tests.fakes.http import FakeServer, RecordedRequest, Reply

CONSUMER = r"/api/ConsumerApi/v1/Restaurant/(?P<microsite>[^/]+)"
DIARY = r"/WebServices/Epos/v1/Restaurant/(?P<restaurant>\d+)/DiaryData"
DATA_EXTRACT = r"/api/ConsumerApi/v1/DataExtract/Restaurant/(?P<deployment>[^/]*)/(?P<provider>[^/]*)/Booking(?:/(?P<key>[^/]*))?"
OAUTH = "/OAuth/V10a"
SCOPE = "http://app.restaurantdiary.com/WebServices/Epos/v1"
# ResDiary's EPOS example enum (Helpers/Enums/BookingStatus.cs), in its order.
EPOS_STATUSES = ["Unconfirmed", "Booked", "Confirmed", "Closed", "Cancelled", "Expired", "Pending", "Declined",
                 "Locked", "Wait", "Bumped"]
DENIED = {"Message": "Authorization has been denied for this request."}


class FakeResDiary(FakeServer):
    def __init__(self, *, username: str = "api@syncdesk", password: str = "pw",
                 restaurants: dict[str, int] | None = None, consumer_key: str = "epos-key",
                 consumer_secret: str = "epos-secret", second_secrets: dict[int, str] | None = None,
                 deployment_id: int = 7) -> None:
        super().__init__()
        self.deployment_id = deployment_id
        self.username, self.password = username, password
        self.restaurants = dict(restaurants) if restaurants is not None else {"TheGrillRoom": 4321}
        self.consumer_key, self.consumer_secret = consumer_key, consumer_secret
        self.second_secrets = dict(second_secrets) if second_secrets is not None else {
            rid: f"second-{rid}" for rid in self.restaurants.values()}
        self.full = False
        self.card_required = False
        self.numeric_status = True
        self.ignore_key: str | None = None  # "reference" | "guest": the reads leave that key's field blank
        self._tokens: set[str] = set()
        self._request_tokens: dict[str, tuple[str, int]] = {}  # token -> (secret, restaurant id)
        self._access_tokens: dict[str, tuple[str, int]] = {}
        self._bookings: list[dict[str, Any]] = []  # diary shape plus "Microsite"
        self._refs = itertools.count(1)
        self.route("POST", r"/api/Jwt/v2/Authenticate", self._authenticate)
        self.route("POST", CONSUMER + r"/BookingWithStripeToken", self._create)
        self.route("GET", CONSUMER + r"/Booking/(?P<reference>[^/]+)", self._get)
        self.route("DELETE", CONSUMER + r"/Booking/(?P<reference>[^/]+)", self._cancel)
        self.route("POST", re.escape(OAUTH), self._oauth)
        self.route("GET", DIARY, self._diary)
        self.route("GET", DATA_EXTRACT, self._data_extract)

    # -- test API --------------------------------------------------------------------------
    @property
    def oauth_url(self) -> str:
        return self.url + OAUTH

    def epos_values(self, restaurant: int = 4321) -> dict[str, Any]:
        """The EPOS settings (as Settings fields) for one restaurant of this fake."""
        return {"resdiary_epos_url": self.url, "resdiary_epos_oauth_url": self.oauth_url,
                "resdiary_epos_consumer_key": self.consumer_key,
                "resdiary_epos_consumer_secret": self.consumer_secret,
                "resdiary_epos_second_secret": self.second_secrets[restaurant]}

    def expire_tokens(self) -> None:
        with self.lock:
            self._tokens.clear()
            self._access_tokens.clear()

    def bookings(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(b) for b in self._bookings]

    def data_extract_values(self, restaurant: int = 4321) -> dict[str, Any]:
        """The routing options that point Data Extraction at one restaurant of this fake."""
        return {"deployment_id": self.deployment_id, "provider_id": restaurant}

    def seed(self, *, microsite: str = "TheGrillRoom", visit: str = "2026-12-24T19:30:00", covers: int = 4,
             name: str = "Larry Walker", comments: str = "", status: str = "Booked",
             created: dt.datetime | None = None) -> str:
        """A booking in the diary, made at `created` (UTC, default now)."""
        made = created or dt.datetime.now(dt.timezone.utc)
        with self.lock:
            reference = f"RD{next(self._refs):05d}"
            self._bookings.append({"Microsite": microsite, "BookingId": next(self._refs) + 1000,
                                   "BookingReference": reference, "VisitDateTime": visit, "Covers": covers,
                                   "CustomerFullName": name, "Comments": comments, "CustomerComments": "",
                                   "ArrivalStatus": 0, "MealStatus": 0, "Status": status,
                                   "BookingDateTime": made.strftime("%Y-%m-%dT%H:%M:%S")})
            return reference

    def set_status(self, reference: str, status: str) -> None:
        with self.lock:
            next(b for b in self._bookings if b["BookingReference"] == reference)["Status"] = status

    # -- Consumer API ----------------------------------------------------------------------
    def _authenticate(self, req: RecordedRequest, _m: re.Match[str]) -> Reply:
        body = req.json or {}
        if body.get("Username") != self.username or body.get("Password") != self.password:
            return Reply(200, {"Status": "Fail", "Token": None, "TokenExpiryUtc": None})
        token = secrets.token_hex(12)
        self._tokens.add(token)
        expiry = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M:%S.%f0")
        return Reply(200, {"Status": "Success", "Token": token, "TokenExpiryUtc": expiry})

    def _authorized(self, req: RecordedRequest) -> bool:
        return (req.header("Authorization") or "").removeprefix("Bearer ") in self._tokens

    def _create(self, req: RecordedRequest, m: re.Match[str]) -> Reply:
        if not self._authorized(req):
            return Reply(401, DENIED)
        if m["microsite"] not in self.restaurants:
            return Reply(404, {"Message": f"Restaurant {m['microsite']} not found"})
        body = req.json or {}
        missing = [k for k in ("VisitDate", "VisitTime", "PartySize", "ChannelCode") if body.get(k) in (None, "")]
        if missing:
            return Reply(400, {"Message": "The request is invalid.", "Errors": [f"{k} is required" for k in missing]})
        if self.full:
            return Reply(400, {"Message": "No availability for the requested time"})
        if self.card_required and not body.get("PaymentMethodId"):
            # Payments guide: no booking is made until the guest's card is set up with Stripe.
            return Reply(200, {"Status": "CreditCardRequired", "Booking": None, "Errors": None,
                               "SetupIntentClientSecret": f"seti_{secrets.token_hex(8)}_secret_{secrets.token_hex(8)}",
                               "StripePublishableKey": "pk_test_fake", "StripeAccountId": "acct_fake"})
        customer = body.get("Customer") or {}
        reference = self.seed(microsite=m["microsite"], visit=f"{body['VisitDate']}T{body['VisitTime']}",
                              covers=body["PartySize"], comments=body.get("SpecialRequests") or "",
                              name=f"{customer.get('FirstName', '')} {customer.get('Surname', '')}".strip())
        booking = {"Id": len(self._bookings), "Reference": reference, "VisitDate": body["VisitDate"] + "T00:00:00",
                   "VisitTime": body["VisitTime"], "PartySize": body["PartySize"], "ChannelCode": body["ChannelCode"],
                   "Customer": customer, "BookingStatus": "Booked"}
        return Reply(200, {"Booking": booking, "Status": "Success", "Errors": None})

    def _get(self, req: RecordedRequest, m: re.Match[str]) -> Reply:
        if not self._authorized(req):
            return Reply(401, DENIED)
        if m["microsite"] not in self.restaurants:
            return Reply(404, {"Message": f"Restaurant {m['microsite']} not found"})
        found = [b for b in self._bookings
                 if b["BookingReference"] == m["reference"] and b["Microsite"] == m["microsite"]]
        if not found:
            return Reply(404, {"Message": "Booking not found"})
        b = found[0]
        return Reply(200, {"Id": b["BookingId"], "Reference": b["BookingReference"],
                           "VisitDate": b["VisitDateTime"][:10] + "T00:00:00", "VisitTime": b["VisitDateTime"][11:],
                           "PartySize": b["Covers"], "SpecialRequests": b["Comments"], "BookingStatus": b["Status"],
                           "BookingDateTime": b["BookingDateTime"]})

    def _cancel(self, req: RecordedRequest, m: re.Match[str]) -> Reply:
        if not self._authorized(req):
            return Reply(401, DENIED)
        found = [b for b in self._bookings
                 if b["BookingReference"] == m["reference"] and b["Microsite"] == m["microsite"]]
        if not found:
            return Reply(404, {"Message": "Booking not found"})
        found[0]["Status"] = "Cancelled"
        return Reply(200, {"Status": "Success", "Errors": None})

    def _blanked(self, booking: dict[str, Any]) -> dict[str, Any]:
        """A booking as the reads answer it: `ignore_key` leaves that key's field blank."""
        blank = {"reference": ("Comments", "CustomerComments"),
                 "guest": ("CustomerFullName", "CustomerName")}.get(self.ignore_key or "", ())
        return {k: ("" if k in blank else v) for k, v in booking.items()}

    # -- Data Extraction (the Consumer API's JWT) --------------------------------------------
    def _data_extract(self, req: RecordedRequest, m: re.Match[str]) -> Reply:
        if not self._authorized(req):
            return Reply(401, DENIED)
        microsite = next((k for k, v in self.restaurants.items() if str(v) == m["provider"]), None)
        if m["deployment"] != str(self.deployment_id) or microsite is None:
            return Reply(404, {"Message": f"Restaurant {m['deployment']}/{m['provider']} not found"})
        key = m["key"] or ""
        mine = [b for b in self._bookings if b["Microsite"] == microsite]
        if key.isdigit():  # Get a booking (by its Id)
            found = [self._extracted(b) for b in mine if str(b["BookingId"]) == key]
            return Reply(200, found[0]) if found else Reply(404, {"Message": "Booking not found"})
        if not key:
            return Reply(400, {"Message": "The booking date is required."})
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", key):
            return Reply(400, {"Message": f"The value '{key}' is not valid."})
        return Reply(200, [self._blanked(self._extracted(b)) for b in mine if b["BookingDateTime"][:10] == key])

    @staticmethod
    def _extracted(b: dict[str, Any]) -> dict[str, Any]:
        return {"Id": b["BookingId"], "BookingReference": b["BookingReference"], "CustomerName": b["CustomerFullName"],
                "Comments": b["Comments"], "Covers": b["Covers"], "VisitDateTime": b["VisitDateTime"],
                "Status": b["Status"], "ArrivalStatus": b["ArrivalStatus"], "MealStatus": b["MealStatus"],
                "BookingDateTime": b["BookingDateTime"]}

    # -- EPOS API --------------------------------------------------------------------------
    def _signed(self, req: RecordedRequest, token_secret: str) -> dict[str, str] | None:
        """The request's OAuth parameters when its HMAC-SHA1 signature is right, else None."""
        header = req.header("Authorization") or ""
        if not header.startswith("OAuth "):
            return None
        query = urlencode([(k, v) for k, values in req.query.items() for v in values])
        try:
            params = oauth.collect_parameters(uri_query=query, headers={"Authorization": header},
                                              exclude_oauth_signature=False)
        except ValueError:
            return None
        given = dict(params)
        if given.get("oauth_signature_method") != "HMAC-SHA1" or given.get("oauth_consumer_key") != self.consumer_key:
            return None
        if not given.get("oauth_nonce") or not given.get("oauth_timestamp"):
            return None
        unsigned = [(k, v) for k, v in params if k != "oauth_signature"]
        base = oauth.signature_base_string(req.method, oauth.base_string_uri(self.url + req.path),
                                           oauth.normalize_parameters(unsigned))
        keys = SimpleNamespace(client_secret=self.consumer_secret, resource_owner_secret=token_secret)
        expected = oauth.sign_hmac_sha1_with_client(base, keys)
        return given if oauth.safe_string_equals(expected, given.get("oauth_signature", "")) else None

    def _oauth(self, req: RecordedRequest, _m: re.Match[str]) -> Reply:
        header = req.header("Authorization") or ""
        token = re.search(r'oauth_token="([^"]*)"', header)
        if token is None:  # step 1: a request token for the restaurant the second secret names
            given = self._signed(req, "")
            restaurant = next((r for r, s in self.second_secrets.items() if s == req.param("second_secret")), None)
            if given is None or restaurant is None or req.param("scope") != SCOPE:
                return Reply(401, body=b"oauth_problem=signature_invalid",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
            issued = secrets.token_hex(8)
            self._request_tokens[issued] = (secrets.token_hex(8), restaurant)
            return self._token_reply(issued, self._request_tokens[issued][0])
        pending = self._request_tokens.pop(token.group(1), None)  # step 2: the access token
        if pending is None or self._signed(req, pending[0]) is None:
            return Reply(401, body=b"oauth_problem=token_rejected",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        issued = secrets.token_hex(8)
        self._access_tokens[issued] = (secrets.token_hex(8), pending[1])
        return self._token_reply(issued, self._access_tokens[issued][0])

    @staticmethod
    def _token_reply(token: str, secret: str) -> Reply:
        return Reply(200, body=urlencode({"oauth_token": token, "oauth_token_secret": secret}).encode(),
                     headers={"Content-Type": "application/x-www-form-urlencoded"})

    def _epos_restaurant(self, req: RecordedRequest) -> int | None:
        token = re.search(r'oauth_token="([^"]*)"', req.header("Authorization") or "")
        access = self._access_tokens.get(token.group(1)) if token else None
        if access is None or self._signed(req, access[0]) is None:
            return None
        return access[1]

    def _diary(self, req: RecordedRequest, m: re.Match[str]) -> Reply:
        restaurant = self._epos_restaurant(req)
        if restaurant is None or str(restaurant) != m["restaurant"]:
            return Reply(401, DENIED)
        microsite = next((k for k, v in self.restaurants.items() if str(v) == m["restaurant"]), None)
        if microsite is None:
            return Reply(404, {"Message": f"Restaurant {m['restaurant']} not found"})
        day = (req.param("date") or "")[:10]
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
            return Reply(400, {"Message": "The date is required (yyyy-mm-dd)."})
        diary = []
        for booking in self._bookings:
            if booking["Microsite"] != microsite or booking["VisitDateTime"][:10] != day:
                continue
            shown = {k: v for k, v in booking.items() if k != "Microsite"}
            if self.numeric_status and shown["Status"] in EPOS_STATUSES:
                shown["Status"] = EPOS_STATUSES.index(shown["Status"])
            diary.append(self._blanked(shown))
        return Reply(200, diary)
