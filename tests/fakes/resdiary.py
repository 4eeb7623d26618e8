"""A fake ResDiary speaking the wire format `connectors.resdiary` documents.

- `POST /api/Jwt/v2/Authenticate` `{"Username", "Password"}` → `{"Status": "Success", "Token",
  "TokenExpiryUtc"}`; wrong credentials → 200 `{"Status": "Fail"}` (as the real API does).
- `POST /api/ConsumerApi/v1/Restaurant/{microsite}/BookingWithStripeToken` →
  `{"Status": "Success", "Booking": {"Reference", "BookingStatus": "Booked", …}, "Errors": null}`;
  unknown microsite → 404 `{"Message"}`.
- `GET /api/ConsumerApi/v1/Restaurant/{microsite}/Booking/{reference}` → the Booking.
- `GET /WebServices/Epos/v1/Restaurant/{restaurantId}/DiaryData?date=` → the diary bookings
  of that visit date.

`fake.full = True`: creates answer 400 with a no-availability message. `fake.card_required
= True`: creates answer `Status: "CreditCardRequired"` (the booking is held).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import secrets
from typing import Any

from tests.fakes.http import FakeServer, RecordedRequest, Reply

CONSUMER = r"/api/ConsumerApi/v1/Restaurant/(?P<microsite>[^/]+)"
DIARY = r"/WebServices/Epos/v1/Restaurant/(?P<restaurant>\d+)/DiaryData"


class FakeResDiary(FakeServer):
    def __init__(self, *, username: str = "api@syncdesk", password: str = "pw",
                 restaurants: dict[str, int] | None = None) -> None:
        super().__init__()
        self.username, self.password = username, password
        self.restaurants = dict(restaurants) if restaurants is not None else {"TheGrillRoom": 4321}
        self.full = False
        self.card_required = False
        self._tokens: set[str] = set()
        self._bookings: list[dict[str, Any]] = []  # diary shape plus "Microsite"
        self._refs = itertools.count(1)
        self.route("POST", r"/api/Jwt/v2/Authenticate", self._authenticate)
        self.route("POST", CONSUMER + r"/BookingWithStripeToken", self._create)
        self.route("GET", CONSUMER + r"/Booking/(?P<reference>[^/]+)", self._get)
        self.route("GET", DIARY, self._diary)

    # -- test API --------------------------------------------------------------------------
    def expire_tokens(self) -> None:
        with self.lock:
            self._tokens.clear()

    def bookings(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(b) for b in self._bookings]

    def seed(self, *, microsite: str = "TheGrillRoom", visit: str = "2026-12-24T19:30:00", covers: int = 4,
             name: str = "Larry Walker", comments: str = "", status: str = "Booked") -> str:
        with self.lock:
            reference = f"RD{next(self._refs):05d}"
            self._bookings.append({"Microsite": microsite, "BookingReference": reference, "VisitDateTime": visit,
                                   "Covers": covers, "CustomerFullName": name, "Comments": comments,
                                   "CustomerComments": "", "Status": status})
            return reference

    # -- endpoints -------------------------------------------------------------------------
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
            return Reply(401, {"Message": "Authorization has been denied for this request."})
        if m["microsite"] not in self.restaurants:
            return Reply(404, {"Message": f"Restaurant {m['microsite']} not found"})
        body = req.json or {}
        missing = [k for k in ("VisitDate", "VisitTime", "PartySize", "ChannelCode") if body.get(k) in (None, "")]
        if missing:
            return Reply(400, {"Message": "The request is invalid.", "Errors": [f"{k} is required" for k in missing]})
        if self.full:
            return Reply(400, {"Message": "No availability for the requested time"})
        customer = body.get("Customer") or {}
        reference = self.seed(microsite=m["microsite"], visit=f"{body['VisitDate']}T{body['VisitTime']}",
                              covers=body["PartySize"], comments=body.get("SpecialRequests") or "",
                              name=f"{customer.get('FirstName', '')} {customer.get('Surname', '')}".strip())
        booking = {"Id": len(self._bookings), "Reference": reference, "VisitDate": body["VisitDate"] + "T00:00:00",
                   "VisitTime": body["VisitTime"], "PartySize": body["PartySize"], "ChannelCode": body["ChannelCode"],
                   "Customer": customer, "BookingStatus": "Booked"}
        status = "CreditCardRequired" if self.card_required else "Success"
        return Reply(200, {"Booking": booking, "Status": status, "Errors": None})

    def _get(self, req: RecordedRequest, m: re.Match[str]) -> Reply:
        if not self._authorized(req):
            return Reply(401, {"Message": "Authorization has been denied for this request."})
        found = [b for b in self._bookings if b["BookingReference"] == m["reference"]]
        if not found:
            return Reply(404, {"Message": "Booking not found"})
        return Reply(200, {"Reference": found[0]["BookingReference"], "BookingStatus": found[0]["Status"]})

    def _diary(self, req: RecordedRequest, m: re.Match[str]) -> Reply:
        if not self._authorized(req):
            return Reply(401, {"Message": "Authorization has been denied for this request."})
        microsite = next((k for k, v in self.restaurants.items() if str(v) == m["restaurant"]), None)
        if microsite is None:
            return Reply(404, {"Message": f"Restaurant {m['restaurant']} not found"})
        day = (req.param("date") or "")[:10]
        diary = [{k: v for k, v in b.items() if k != "Microsite"} for b in self._bookings
                 if b["Microsite"] == microsite and b["VisitDateTime"][:10] == day]
        return Reply(200, diary)
