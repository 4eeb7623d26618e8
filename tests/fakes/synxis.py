"""A fake Sabre SynXis CRS speaking the REST Reservation Services wire format
(the pages `connectors.synxis` cites), and refusing what SynXis does not take.

- `POST {token_path}`: `Authorization: Basic base64(base64(user) + ":" + base64(password))`
  (Sabre Hospitality's "How to Get a Token for REST APIs") with a JSON body
  `{"GrantType": "CLIENT_CREDENTIALS", …}` → `{"access_token", "token_type": "bearer",
  "expires_in"}`. Anything else → 401 `{"error": "invalid_client", …}`: a single-base64
  `Basic base64(user:password)`, a form body (`grant_type=client_credentials&client_id=…`),
  wrong credentials.
- `POST /v1/api/reservation` → `{"reservations": [{"CrsConfirmationNumber": ...}]}`.
  `RoomStay.GuestCount` is required (Room Stay): a list of `{"AgeQualifyingCode": Adult |
  Child | Senior, "NumGuests" ≥ 1}`; `expected_party = {"Adult": 2, "Child": 1}` also refuses
  any other party (a count that dropped the children).
- `PATCH /v1/api/reservation` (by `CrsConfirmationNumber`): `Guests`, `Packages` (merged by
  Code and Date; each needs Code, Date, Quantity), `status` → same shape.
- Payments (`Guests[].Payments[]`, Payment Methods / Cash / Check / Direct Bill / Credit Card
  pages): any sent must be of a request type (Cash, Check, DirectBill with `DirectBill.
  AccountNumber`, CreditCard with `PaymentCard`), with a listed Role. `payment_required = True`
  (the rate's booking policy wants one) refuses a Confirmed create or PATCH that carries none,
  unless the reservation is OnHold ("can be confirmed without a payment method").
- `GET /v1/api/reservation?hotel&chain&view&crsConfirmationNumber&externalReferenceNumber
  &guestLastName&guestFirstName&startDate&status[&pageStart&pageSize]` →
  `{"reservations": [...], "paging": {"Start", "Size", "Total"}}` (Start counts from 1);
  `startDate` alone (with hotel and chain) lists the day's arrivals (the arrival check's "other
  direction"); a `startDate` that is not YYYY-MM-DD → 400. `page_size` caps how many a page holds;
  `answers_paging = False` leaves the `paging` node
  out (Sabre documents paging for the Hotel List only), so a page just stops at its size.
- `GET /v1/api/reservation/hotel/{hotelId}/{id}` → `{"reservations": [reservation]}`.

Modes (`fake.mode = ...`): "timeout_before_create" (sleep `stall_seconds`, create nothing),
"timeout_after_create" (create, then sleep — the ambiguous outcome), "waitlist" (no
availability: created reservations come back Waitlisted). `broad_search = True` makes GET
ignore every filter except hotel, like a CRS that does not understand a parameter;
`ignore_paging = True` answers the first page whatever `pageStart` asks for. `ignore_key =
"reference"` (or `"guest"`) answers nothing to a search by `externalReferenceNumber` (or by
`guestLastName`), like a CRS that matches nothing on a parameter it does not know: one of
check-first's two keys fails (issue 24). A PATCH with `status: Cancelled` cancels.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import re
import secrets
import time
from typing import Any
from urllib.parse import unquote

from tests.fakes.http import FakeServer, RecordedRequest, Reply

RESERVATION = "/v1/api/reservation"
AGE_CODES = ("Adult", "Child", "Senior")  # Room Stay: GuestCount/@AgeQualifyingCode
PAYMENT_TYPES = ("CreditCard", "Cash", "Check", "DirectBill")  # request types, Payment Methods page
PAYMENT_ROLES = ("Alternate", "Business", "Personal", "Primary", "Secondary")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class FakeSynxis(FakeServer):
    def __init__(
        self,
        *,
        client_id: str = "syncdesk",
        client_secret: str = "s3cret",
        token_ttl: float = 3600,
        token_path: str = "/v1/auth/token",
        hotels: dict[int, int] | None = None,
        stall_seconds: float = 2.0,
    ) -> None:
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl = token_ttl
        self.token_path = token_path
        self.hotels = dict(hotels) if hotels is not None else {13098: 12723}  # hotel id -> chain id
        self.stall_seconds = stall_seconds
        self.mode: str | None = None
        self.broad_search = False
        self.page_size = 50  # Sabre: "0 = return maximum size of 50"
        self.ignore_paging = False
        self.answers_paging = True
        self.ignore_key: str | None = None  # "reference" | "guest": that search key finds nothing
        self.payment_required = False
        self.expected_party: dict[str, int] | None = None
        self._tokens: dict[str, float] = {}  # token -> monotonic expiry
        self._reservations: dict[str, dict[str, Any]] = {}  # by number (or an internal key when it has none)
        self._numbers = itertools.count(1)
        self.route("POST", re.escape(token_path), self._token)
        self.route("POST", RESERVATION, self._create)
        self.route("PATCH", RESERVATION, self._modify)
        self.route("GET", RESERVATION, self._search)
        self.route("GET", RESERVATION + r"/hotel/(?P<hotel>[^/]+)/(?P<id>[^/]+)", self._read_one)

    # -- test API --------------------------------------------------------------------------
    @property
    def token_url(self) -> str:
        return self.url + self.token_path

    @property
    def token_requests(self) -> list[RecordedRequest]:
        return self.requests_to("POST", re.escape(self.token_path))

    @property
    def reservation_requests(self) -> list[RecordedRequest]:
        return self.requests_to(None, RESERVATION + r"(/.*)?")

    def expire_tokens(self) -> None:
        """Every token issued so far is now refused with 401 (revoked or expired early)."""
        with self.lock:
            self._tokens.clear()

    def reservations(self) -> dict[str, dict[str, Any]]:
        with self.lock:
            return {k: dict(v) for k, v in self._reservations.items()}

    def reservation(self, number: str) -> dict[str, Any]:
        with self.lock:
            return dict(self._reservations[number])

    def seed_reservation(
        self,
        *,
        status: str = "Confirmed",
        hotel_id: int = 13098,
        chain_id: int = 12723,
        reference: str | None = None,
        surname: str = "Walker",
        given_name: str = "Larry",
        start: str | dt.date = "2026-12-01",
        end: str | dt.date = "2026-12-02",
        room_code: str = "LUXT",
        rate_code: str = "BAR",
        number: str | None = None,
        numbered: bool = True,
        packages: list[dict[str, Any]] | None = None,
        adults: int = 1,
        children: int = 0,
        hold_release: str | None = None,
    ) -> str:
        """Store an existing reservation (full view) and return its CrsConfirmationNumber
        (`numbered=False`: a Stored one without a number; the key it is kept under is returned)."""
        with self.lock:
            number = number or self._next_number(hotel_id)
            reservation: dict[str, Any] = {
                "Status": status,
                "Chain": {"Id": chain_id},
                "Hotel": {"Id": hotel_id},
                "RoomStay": {
                    "StartDate": str(start),
                    "EndDate": str(end),
                    "GuestCount": [{"AgeQualifyingCode": code, "NumGuests": n}
                                   for code, n in (("Adult", adults), ("Child", children)) if n],
                    "NumRooms": 1,
                    "Products": [{"Primary": True, "Product": {"RateCode": rate_code, "RoomCode": room_code}}],
                },
                "Guests": [{"PersonName": {"GivenName": given_name, "Surname": surname}, "Role": "Primary"}],
            }
            if numbered:
                reservation["CrsConfirmationNumber"] = number
            if reference is not None:
                reservation["ExternalReferenceNumber"] = reference
            if packages:
                reservation["Packages"] = [dict(p) for p in packages]
            if hold_release is not None:
                reservation["OnHoldReleaseTime"] = hold_release
            self._reservations[number] = reservation
            return number

    # -- endpoints -------------------------------------------------------------------------
    def _next_number(self, hotel_id: Any) -> str:
        return f"{hotel_id}CU{next(self._numbers):06d}"

    @staticmethod
    def _refused(description: str) -> Reply:
        return Reply(401, {"error": "invalid_client", "error_description": description})

    def _token(self, req: RecordedRequest, _m: re.Match[str]) -> Reply:
        header = req.header("Authorization") or ""
        if "json" not in (req.header("Content-Type") or "") or not isinstance(req.json, dict):
            return self._refused("the token request must be JSON (GrantType), not a form")
        if not header.startswith("Basic "):
            return self._refused("Basic authorization is required")
        if header[6:] != _b64(f"{_b64(self.client_id)}:{_b64(self.client_secret)}"):
            # Wrong credentials, or a single-base64 base64(user:password): Sabre Hospitality
            # encodes user name and password each, then the pair.
            return self._refused("Client authentication failed")
        if req.json.get("GrantType") != "CLIENT_CREDENTIALS":
            return Reply(400, {"error": "unsupported_grant_type", "error_description": "GrantType must be "
                                                                                       "CLIENT_CREDENTIALS"})
        token = "tok-" + secrets.token_hex(8)
        self._tokens[token] = time.monotonic() + self.token_ttl
        return Reply(200, {"access_token": token, "token_type": "bearer", "expires_in": self.token_ttl})

    def _authorized(self, req: RecordedRequest) -> bool:
        header = req.header("Authorization") or ""
        token = header[7:] if header.startswith("Bearer ") else ""
        expiry = self._tokens.get(token)
        return expiry is not None and time.monotonic() < expiry

    @staticmethod
    def _unauthorized() -> Reply:
        return Reply(401, {"errors": [{"code": "401", "message": "Invalid or expired token"}]})

    @staticmethod
    def _bad_request(message: str, status: int = 400) -> Reply:
        return Reply(status, {"errors": [{"code": str(status), "message": message}]})

    def _known_hotel(self, hotel_id: Any, chain_id: Any) -> bool:
        try:
            return self.hotels.get(int(hotel_id)) == int(chain_id)
        except (TypeError, ValueError):
            return False

    @staticmethod
    def _bad_guest_count(counts: Any, where: str) -> str | None:
        """Why a GuestCount list is not Room Stay's form; None when it is."""
        if not isinstance(counts, list) or not counts:
            return f"{where}.GuestCount is required"
        for count in counts:
            if not isinstance(count, dict) or count.get("AgeQualifyingCode") not in AGE_CODES:
                return f"{where}.GuestCount.AgeQualifyingCode must be one of {', '.join(AGE_CODES)}"
            n = count.get("NumGuests")
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                return f"{where}.GuestCount.NumGuests must be a positive integer"
        return None

    @staticmethod
    def _payments(guests: Any) -> list[Any]:
        return [p for g in guests or [] if isinstance(g, dict) for p in g.get("Payments") or []]

    @staticmethod
    def _bad_payment(payments: list[Any]) -> str | None:
        """Why a Payments entry is not a request form of the Payment Methods pages; None when all are."""
        for payment in payments:
            kind = payment.get("Type") if isinstance(payment, dict) else None
            if kind not in PAYMENT_TYPES:
                return f"Payments.Type {kind!r} cannot be sent (one of {', '.join(PAYMENT_TYPES)})"
            if payment.get("Role") not in (None, *PAYMENT_ROLES):
                return f"Payments.Role {payment.get('Role')!r} is not one of {', '.join(PAYMENT_ROLES)}"
            if kind == "DirectBill" and not (payment.get("DirectBill") or {}).get("AccountNumber"):
                return "Payments.DirectBill.AccountNumber is required for a DirectBill payment"
            if kind == "CreditCard" and not payment.get("PaymentCard"):
                return "Payments.PaymentCard is required for a CreditCard payment"
        return None

    def _create(self, req: RecordedRequest, _m: re.Match[str]) -> Reply:
        if not self._authorized(req):
            return self._unauthorized()
        body = req.json
        if not isinstance(body, dict):
            return self._bad_request("Request body is not valid JSON")
        hotel_id = (body.get("Hotel") or {}).get("Id")
        chain_id = (body.get("Chain") or {}).get("Id")
        stay = body.get("RoomStay") or {}
        product = ((stay.get("Products") or [{}])[0] or {}).get("Product") or {}
        for name, value in (
            ("Hotel.Id", hotel_id),
            ("Chain.Id", chain_id),
            ("RoomStay.StartDate", stay.get("StartDate")),
            ("RoomStay.EndDate", stay.get("EndDate")),
            ("RoomStay.Products.Product.RoomCode", product.get("RoomCode")),
            ("RoomStay.Products.Product.RateCode", product.get("RateCode")),
            ("status", body.get("status")),
        ):
            if value in (None, ""):
                return self._bad_request(f"{name} is required")
        if not self._known_hotel(hotel_id, chain_id):
            return self._bad_request(f"Hotel {hotel_id} not found in chain {chain_id}", 404)
        wrong = self._bad_guest_count(stay.get("GuestCount"), "RoomStay") or self._bad_payment(
            self._payments(body.get("Guests")))
        if wrong:
            return self._bad_request(wrong)
        if self.expected_party is not None:
            party: dict[str, int] = {}
            for count in stay["GuestCount"]:
                party[count["AgeQualifyingCode"]] = party.get(count["AgeQualifyingCode"], 0) + count["NumGuests"]
            if party != self.expected_party:
                return self._bad_request(f"RoomStay.GuestCount {party} is not the party booked ({self.expected_party})")
        wanted = str(body["status"])
        if wanted in ("Confirmed", "Waitlisted") and not body.get("Guests"):
            return self._bad_request("A guest is required for status " + wanted)
        if wanted == "Confirmed" and self.payment_required and not self._payments(body.get("Guests")):
            return self._bad_request("A payment method is required to confirm this reservation (the rate's "
                                     "guarantee policy)")
        if self.mode == "timeout_before_create":
            return Reply(504, {"errors": [{"message": "gateway timeout"}]}, delay=self.stall_seconds)
        number = self._next_number(hotel_id)
        stored = {k: v for k, v in body.items() if k != "status"}
        stored["CrsConfirmationNumber"] = number
        stored["Status"] = "Waitlisted" if self.mode == "waitlist" and wanted == "Confirmed" else wanted
        self._reservations[number] = stored
        reply = Reply(200, {"reservations": [{"CrsConfirmationNumber": number}]})
        if self.mode == "timeout_after_create":
            reply.delay = self.stall_seconds
        return reply

    def _modify(self, req: RecordedRequest, _m: re.Match[str]) -> Reply:
        if not self._authorized(req):
            return self._unauthorized()
        body = req.json if isinstance(req.json, dict) else {}
        number = body.get("CrsConfirmationNumber")
        stored = self._reservations.get(str(number))
        if stored is None or "CrsConfirmationNumber" not in stored:
            return self._bad_request(f"Reservation {number} not found", 404)
        if stored["Status"] in ("Cancelled", "Ignored"):
            return self._bad_request(f"Reservation {number} is {stored['Status']} and cannot be modified")
        wrong = self._bad_payment(self._payments(body.get("Guests")))
        if wrong:
            return self._bad_request(wrong)
        wanted = body.get("status")
        if (wanted == "Confirmed" and self.payment_required and stored["Status"] != "OnHold"
                and not self._payments(body.get("Guests")) and not self._payments(stored.get("Guests"))):
            return self._bad_request("A payment method is required to confirm this reservation (the rate's "
                                     "guarantee policy)")
        if "Packages" in body:
            packages = body["Packages"]
            if not isinstance(packages, list):
                return self._bad_request("Packages must be a list")
            for package in packages:
                for name in ("Code", "Date", "Quantity"):
                    if not isinstance(package, dict) or package.get(name) in (None, ""):
                        return self._bad_request(f"Packages.{name} is required")
                if "GuestCount" in package:
                    wrong = self._bad_guest_count(package["GuestCount"], "Packages")
                    if wrong:
                        return self._bad_request(wrong)
            merged = {(p["Code"], str(p["Date"])[:10]): p for p in stored.get("Packages") or []}
            merged.update({(p["Code"], str(p["Date"])[:10]): dict(p) for p in packages})
            stored["Packages"] = list(merged.values())
        if body.get("Guests"):
            stored["Guests"] = body["Guests"]
        if wanted:
            if wanted == "Confirmed" and not stored.get("Guests"):
                return self._bad_request("A guest is required to confirm a reservation")
            stored["Status"] = wanted
        return Reply(200, {"reservations": [{"CrsConfirmationNumber": number}]})

    def _search(self, req: RecordedRequest, _m: re.Match[str]) -> Reply:
        if not self._authorized(req):
            return self._unauthorized()
        hotel, chain = req.param("hotel"), req.param("chain")
        if not hotel and not chain:
            return self._bad_request("hotel or chain is required")
        if hotel and chain and not self._known_hotel(hotel, chain):
            return self._bad_request(f"Hotel {hotel} not found in chain {chain}", 404)
        if req.param("startDate") is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", req.param("startDate") or ""):
            return self._bad_request("startDate must be a date, YYYY-MM-DD")
        ignored = {"reference": "externalReferenceNumber", "guest": "guestLastName"}.get(self.ignore_key or "")
        results = []
        for res in self._reservations.values():
            if ignored and req.param(ignored) is not None:
                break
            if hotel and str(res["Hotel"]["Id"]) != hotel:
                continue
            if not self.broad_search and not self._matches(res, req):
                continue
            results.append(dict(res))
        try:
            start = 1 if self.ignore_paging else max(int(req.param("pageStart") or 1), 1)
            size = int(req.param("pageSize") or 0) or self.page_size
        except ValueError:
            return self._bad_request("pageStart and pageSize must be numbers")
        size = min(size, self.page_size)
        page = results[start - 1:start - 1 + size]
        if not self.answers_paging:
            return Reply(200, {"reservations": page})
        return Reply(200, {"reservations": page, "paging": {"Start": start, "Size": len(page), "Total": len(results)}})

    @staticmethod
    def _matches(res: dict[str, Any], req: RecordedRequest) -> bool:
        guest = (res.get("Guests") or [{}])[0].get("PersonName") or {}
        checks = {
            "chain": str(res["Chain"]["Id"]),
            "crsConfirmationNumber": res.get("CrsConfirmationNumber"),
            "externalReferenceNumber": res.get("ExternalReferenceNumber"),
            "guestLastName": guest.get("Surname"),
            "guestFirstName": guest.get("GivenName"),
            "startDate": str(res["RoomStay"]["StartDate"])[:10],
            "status": res["Status"],
        }
        for name, actual in checks.items():
            wanted = req.param(name)
            if wanted is None:
                continue
            if actual is None:
                return False
            if name.startswith("guest"):
                pattern = "^" + re.escape(wanted.lower()).replace("%", ".*") + "$"  # % is SynXis' wildcard
                if not re.match(pattern, str(actual).lower()):
                    return False
            elif str(actual) != wanted:
                return False
        return True

    def _read_one(self, req: RecordedRequest, m: re.Match[str]) -> Reply:
        if not self._authorized(req):
            return self._unauthorized()
        res = self._reservations.get(unquote(m["id"]))
        if res is None or "CrsConfirmationNumber" not in res or str(res["Hotel"]["Id"]) != unquote(m["hotel"]):
            return self._bad_request(f"Reservation {m['id']} not found", 404)
        return Reply(200, {"reservations": [dict(res)]})
