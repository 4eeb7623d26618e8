"""A fake Mews Connector API: the reference shape of `connectors.pms`' `profile: mews`
(the pages `connectors.pms` cites), refusing what Mews refuses.

Every call is a POST whose JSON body carries `ClientToken`, `AccessToken`, `Client`; wrong
tokens → 401 `{"Message"}`. Every answer carries a `Request-Id` header. Implemented:
- `reservations/getAll/2023-06-06` filtered by `ChannelNumbers`, `Numbers` (confirmation
  numbers), `ReservationIds` and/or `AccountIds` (the customer, `AccountId`), and by
  `ScheduledStartUtc` `{StartUtc, EndUtc}` (all given must match; the interval alone lists a day's
  arrivals, the arrival check's other direction; neither an id filter nor an interval → 400, an
  interval without both UTC ends → 400, with `ActualStartUtc` too → 400, as Mews says it cannot be),
  `Limitation: {Count, Cursor}` required → `{"Reservations", "Cursor"}` (`broad_search = True`
  ignores the filters, like a PMS that does not know them);
- `customers/getAll` by `Emails` or `LastNames` → `{"Customers", "Cursor"}`;
- `reservations/cancel` `{ReservationIds}` → `{"ReservationIds"}`, the reservations Canceled;
- `ignore_key = "reference"` (or `"guest"`): a search by `ChannelNumbers` (or by `AccountIds`)
  finds nothing, as if Mews kept no channel number (issue 24's unknown) or no guest account;
- `customers/add` → the customer `{"Id", …}`; an e-mail that already exists with
  `OverwriteExisting: false` → 403 `{"Message"}` ("an error response is returned");
- `reservations/add` → `{"Reservations": [{"Identifier", "Reservation": {...}}]}`;
  `StartUtc`/`EndUtc` must be UTC instants (`…Z`, the serialization guideline) at the enterprise's
  check-in/check-out time in its time zone (`timezone`, `check_in`, `check_out`): a stay whose
  local start is another time, or another day, is refused 400 (the exact rule Mews applies is
  unverified; what matters here is that the night is the guest's); `PersonCounts` required (`[{"AgeCategoryId", "Count"}]`, known categories, positive
  counts; `expected_people = {"age-adult": 2, "age-child": 1}` also refuses any other party);
  `full = True` answers 403 with a business-logic message (no availability);
- `reservations/confirm` `{ReservationIds}` → `{"ReservationIds": [...]}`, Optional only;
- `configuration/get` → `{"Enterprise": {...}}`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from tests.fakes.http import FakeServer, RecordedRequest, Reply

API = "/api/connector/v1"


class FakeMews(FakeServer):
    def __init__(self, *, client_token: str = "client-tok", access_token: str = "access-tok") -> None:
        super().__init__()
        self.client_token, self.access_token = client_token, access_token
        self.full = False
        self.broad_search = False
        self.ignore_key: str | None = None  # "reference" | "guest": that check-first key finds nothing
        self.state_on_add = "Confirmed"
        self.age_categories = {"adult": "age-adult", "child": "age-child"}
        self.expected_people: dict[str, int] | None = None  # {age category id: count} the booking is for
        self.timezone, self.check_in, self.check_out = "UTC", "14:00", "10:00"  # the enterprise's
        self.customers: dict[str, dict[str, Any]] = {}
        self._reservations: dict[str, dict[str, Any]] = {}
        self._numbers = itertools.count(870)
        for path, handler in (("/reservations/getAll/2023-06-06", self._get_all),
                              ("/customers/getAll", self._get_customers), ("/customers/add", self._add_customer),
                              ("/reservations/add", self._add), ("/reservations/confirm", self._confirm),
                              ("/reservations/cancel", self._cancel),
                              ("/configuration/get", self._configuration)):
            self.route("POST", re.escape(API + path), self._guarded(handler))

    # -- test API --------------------------------------------------------------------------
    def reservations(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(r) for r in self._reservations.values()]

    def seed(self, *, channel_number: str | None, state: str = "Confirmed", start_utc: str | None = None,
             end_utc: str | None = None, person_counts: list[dict[str, Any]] | None = None,
             account_id: str | None = None) -> str:
        with self.lock:
            number = str(next(self._numbers))
            reservation: dict[str, Any] = {"Id": str(uuid.uuid4()), "Number": number, "State": state,
                                           "ChannelNumber": channel_number}
            for name, value in (("StartUtc", start_utc), ("EndUtc", end_utc), ("PersonCounts", person_counts),
                                ("AccountId", account_id)):
                if value is not None:
                    reservation[name] = value
            self._reservations[number] = reservation
            return number

    def seed_customer(self, *, email: str, last_name: str = "Walker", first_name: str = "Larry") -> str:
        with self.lock:
            customer = {"Id": str(uuid.uuid4()), "FirstName": first_name, "LastName": last_name, "Email": email}
            self.customers[customer["Id"]] = customer
            return customer["Id"]

    # -- endpoints -------------------------------------------------------------------------
    def _guarded(self, handler):  # type: ignore[no-untyped-def]
        def serve(req: RecordedRequest, m: re.Match[str]) -> Reply:
            body = req.json if isinstance(req.json, dict) else {}
            if body.get("ClientToken") != self.client_token or body.get("AccessToken") != self.access_token:
                reply = Reply(401, {"Message": "Invalid ClientToken or AccessToken."})
            elif not body.get("Client"):
                reply = Reply(400, {"Message": "Invalid Client."})
            else:
                reply = handler(body)
            reply.headers.setdefault("Request-Id", str(uuid.uuid4()))
            return reply
        return serve

    @staticmethod
    def _page(items: list[dict[str, Any]], body: dict[str, Any], key: str) -> Reply:
        limitation = body.get("Limitation")
        if not isinstance(limitation, dict) or not isinstance(limitation.get("Count"), int):
            return Reply(400, {"Message": "Invalid Limitation."})
        count, cursor = limitation["Count"], limitation.get("Cursor")
        start = next((n + 1 for n, i in enumerate(items) if i["Id"] == cursor), 0) if cursor else 0
        page = items[start:start + count]
        return Reply(200, {key: page, "Cursor": page[-1]["Id"] if page else cursor})

    _FILTERS = {"ChannelNumbers": "ChannelNumber", "Numbers": "Number", "ReservationIds": "Id",
                "AccountIds": "AccountId"}

    def _get_all(self, body: dict[str, Any]) -> Reply:
        filters = {field: set(body[name]) for name, field in self._FILTERS.items() if body.get(name)}
        window = body.get("ScheduledStartUtc") if isinstance(body.get("ScheduledStartUtc"), dict) else None
        if window is not None and not (isinstance(window.get("StartUtc"), str) and isinstance(window.get("EndUtc"), str)
                                       and window["StartUtc"].endswith("Z") and window["EndUtc"].endswith("Z")):
            return Reply(400, {"Message": "Invalid ScheduledStartUtc: StartUtc and EndUtc (UTC) are required."})
        if window is not None and body.get("ActualStartUtc") is not None:
            return Reply(400, {"Message": "Invalid request: ScheduledStartUtc cannot be used with ActualStartUtc."})
        if not filters and window is None:
            return Reply(400, {"Message": "Invalid request: give ReservationIds, Numbers, ChannelNumbers, "
                                          "AccountIds or a ScheduledStartUtc interval."})
        ignored = {"reference": "ChannelNumber", "guest": "AccountId"}.get(self.ignore_key or "")
        if ignored in filters:
            return self._page([], body, "Reservations")
        found = [dict(r) for r in self._reservations.values()
                 if self.broad_search or (all(r.get(field) in values for field, values in filters.items())
                                          and (window is None or window["StartUtc"] <= str(r.get("StartUtc"))
                                               < window["EndUtc"]))]
        return self._page(found, body, "Reservations")

    def _get_customers(self, body: dict[str, Any]) -> Reply:
        emails = {e.casefold() for e in body.get("Emails") or []}
        names = {n.casefold() for n in body.get("LastNames") or []}
        found = [dict(c) for c in self.customers.values() if str(c.get("Email") or "").casefold() in emails
                 or str(c.get("LastName") or "").casefold() in names]
        return self._page(found, body, "Customers")

    def _cancel(self, body: dict[str, Any]) -> Reply:
        ids = body.get("ReservationIds") or []
        known = {r["Id"]: r for r in self._reservations.values()}
        if not ids or not set(ids) <= set(known):
            return Reply(400, {"Message": "Invalid ReservationIds."})
        for reservation_id in ids:
            known[reservation_id]["State"] = "Canceled"
        return Reply(200, {"ReservationIds": list(ids)})

    def _add_customer(self, body: dict[str, Any]) -> Reply:
        if not body.get("LastName"):
            return Reply(400, {"Message": "Invalid LastName."})
        email = str(body.get("Email") or "")
        existing = next((c for c in self.customers.values()
                         if email and str(c.get("Email") or "").casefold() == email.casefold()), None)
        if existing is not None:
            if not body.get("OverwriteExisting"):
                return Reply(403, {"Message": f"Customer with email {email} already exists."})
            existing.update({"FirstName": body.get("FirstName"), "LastName": body["LastName"]})
            return Reply(200, dict(existing))
        customer = {"Id": str(uuid.uuid4()), "FirstName": body.get("FirstName"), "LastName": body["LastName"],
                    "Email": email or None}
        self.customers[customer["Id"]] = customer
        return Reply(200, customer)

    def local_time(self, instant: Any) -> str | None:
        """A UTC instant (`YYYY-MM-DDThh:mm:ssZ`) as "hh:mm" in the enterprise's zone; None if it is not one."""
        try:
            moment = dt.datetime.strptime(str(instant), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
        except ValueError:
            return None
        return moment.astimezone(ZoneInfo(self.timezone)).strftime("%H:%M")

    def local_date(self, instant: str) -> dt.date:
        moment = dt.datetime.strptime(instant, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
        return moment.astimezone(ZoneInfo(self.timezone)).date()

    def _valid_person_counts(self, counts: Any) -> bool:
        known = set(self.age_categories.values())
        return isinstance(counts, list) and len(counts) >= 1 and all(
            isinstance(c, dict) and c.get("AgeCategoryId") in known and isinstance(c.get("Count"), int)
            and c["Count"] > 0 for c in counts)

    def _add(self, body: dict[str, Any]) -> Reply:
        if self.full:
            return Reply(403, {"Message": "The reservation cannot be created: there is no availability."})
        added = []
        for params in body.get("Reservations") or []:
            for name in ("StartUtc", "EndUtc", "CustomerId", "RequestedCategoryId", "RateId"):
                if params.get(name) in (None, ""):
                    return Reply(400, {"Message": f"Invalid {name}."})
            for name, at in (("StartUtc", self.check_in), ("EndUtc", self.check_out)):
                if self.local_time(params[name]) != at:
                    return Reply(400, {"Message": f"Invalid {name}: the enterprise's stays start at {self.check_in} "
                                                  f"and end at {self.check_out} ({self.timezone})."})
            if not self._valid_person_counts(params.get("PersonCounts")):
                return Reply(400, {"Message": "Invalid PersonCounts."})
            people = {c["AgeCategoryId"]: c["Count"] for c in params["PersonCounts"]}
            if self.expected_people is not None and people != self.expected_people:
                return Reply(400, {"Message": f"Invalid PersonCounts: {people} is not the party ({self.expected_people})."})
            if params["CustomerId"] not in self.customers:
                return Reply(400, {"Message": "Invalid CustomerId."})
            number = str(next(self._numbers))
            reservation = {"Id": str(uuid.uuid4()), "Number": number, "State": params.get("State") or "Confirmed",
                           "ServiceId": body.get("ServiceId"), "AccountId": params["CustomerId"],
                           **{k: v for k, v in params.items() if k != "State"}}
            if self.state_on_add != "Confirmed":
                reservation["State"] = self.state_on_add
            self._reservations[number] = reservation
            added.append({"Identifier": params.get("Identifier"), "Reservation": dict(reservation)})
        return Reply(200, {"Reservations": added})

    def _confirm(self, body: dict[str, Any]) -> Reply:
        ids = body.get("ReservationIds") or []
        known = {r["Id"]: r for r in self._reservations.values()}
        if not ids or not set(ids) <= set(known):
            return Reply(400, {"Message": "Invalid ReservationIds."})
        for reservation_id in ids:
            if known[reservation_id]["State"] != "Optional":
                return Reply(403, {"Message": f"Reservation {known[reservation_id]['Number']} is not Optional."})
        for reservation_id in ids:
            known[reservation_id]["State"] = "Confirmed"
        return Reply(200, {"ReservationIds": list(ids)})

    def _configuration(self, body: dict[str, Any]) -> Reply:
        return Reply(200, {"Enterprise": {"Id": "ent-1", "Name": "Harbourview Hotel"}})
