"""A fake Mews Connector API: the reference shape of `connectors.pms`' `profile: mews`.

Every call is a POST whose JSON body carries `ClientToken`, `AccessToken`, `Client`; wrong
tokens → 401 `{"Message"}`. Implemented:
- `reservations/getAll/2023-06-06` filtered by `ChannelNumbers` → `{"Reservations", "Cursor"}`
  (`broad_search = True` ignores the filter, like a PMS that does not know it);
- `customers/add` → the customer `{"Id", …}`;
- `reservations/add` → `{"Reservations": [{"Identifier", "Reservation": {...}}]}`; `full = True`
  answers 403 with a business-logic message (no availability);
- `reservations/confirm` `{ReservationIds}` → `{}` (Optional → Confirmed);
- `configuration/get` → `{"Enterprise": {...}}`.
"""

from __future__ import annotations

import itertools
import re
import uuid
from typing import Any

from tests.fakes.http import FakeServer, RecordedRequest, Reply

API = "/api/connector/v1"


class FakeMews(FakeServer):
    def __init__(self, *, client_token: str = "client-tok", access_token: str = "access-tok") -> None:
        super().__init__()
        self.client_token, self.access_token = client_token, access_token
        self.full = False
        self.broad_search = False
        self.state_on_add = "Confirmed"
        self.customers: dict[str, dict[str, Any]] = {}
        self._reservations: dict[str, dict[str, Any]] = {}
        self._numbers = itertools.count(870)
        for path, handler in (("/reservations/getAll/2023-06-06", self._get_all), ("/customers/add", self._add_customer),
                              ("/reservations/add", self._add), ("/reservations/confirm", self._confirm),
                              ("/configuration/get", self._configuration)):
            self.route("POST", re.escape(API + path), self._guarded(handler))

    # -- test API --------------------------------------------------------------------------
    def reservations(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(r) for r in self._reservations.values()]

    def seed(self, *, channel_number: str | None, state: str = "Confirmed") -> str:
        with self.lock:
            number = str(next(self._numbers))
            self._reservations[number] = {"Id": str(uuid.uuid4()), "Number": number, "State": state,
                                          "ChannelNumber": channel_number}
            return number

    # -- endpoints -------------------------------------------------------------------------
    def _guarded(self, handler):  # type: ignore[no-untyped-def]
        def serve(req: RecordedRequest, m: re.Match[str]) -> Reply:
            body = req.json if isinstance(req.json, dict) else {}
            if body.get("ClientToken") != self.client_token or body.get("AccessToken") != self.access_token:
                return Reply(401, {"Message": "Invalid ClientToken or AccessToken."})
            if not body.get("Client"):
                return Reply(400, {"Message": "Invalid Client."})
            return handler(body)
        return serve

    def _get_all(self, body: dict[str, Any]) -> Reply:
        wanted = set(body.get("ChannelNumbers") or [])
        found = [dict(r) for r in self._reservations.values() if self.broad_search or r["ChannelNumber"] in wanted]
        return Reply(200, {"Reservations": found, "Cursor": None})

    def _add_customer(self, body: dict[str, Any]) -> Reply:
        if not body.get("LastName"):
            return Reply(400, {"Message": "Invalid LastName."})
        customer = {"Id": str(uuid.uuid4()), "FirstName": body.get("FirstName"), "LastName": body["LastName"]}
        self.customers[customer["Id"]] = customer
        return Reply(200, customer)

    def _add(self, body: dict[str, Any]) -> Reply:
        if self.full:
            return Reply(403, {"Message": "The reservation cannot be created: there is no availability."})
        added = []
        for params in body.get("Reservations") or []:
            for name in ("StartUtc", "EndUtc", "CustomerId", "RequestedCategoryId", "RateId", "AdultCount"):
                if params.get(name) in (None, ""):
                    return Reply(400, {"Message": f"Invalid {name}."})
            if params["CustomerId"] not in self.customers:
                return Reply(400, {"Message": "Invalid CustomerId."})
            number = str(next(self._numbers))
            reservation = {"Id": str(uuid.uuid4()), "Number": number, "State": params.get("State") or "Confirmed",
                           "ServiceId": body.get("ServiceId"), **{k: v for k, v in params.items() if k != "State"}}
            if self.state_on_add != "Confirmed":
                reservation["State"] = self.state_on_add
            self._reservations[number] = reservation
            added.append({"Identifier": params.get("Identifier"), "Reservation": dict(reservation)})
        return Reply(200, {"Reservations": added})

    def _confirm(self, body: dict[str, Any]) -> Reply:
        known = {r["Id"] for r in self._reservations.values()}
        if not set(body.get("ReservationIds") or []) <= known:
            return Reply(400, {"Message": "Invalid ReservationIds."})
        for reservation in self._reservations.values():
            if reservation["Id"] in (body.get("ReservationIds") or []):
                if reservation["State"] != "Optional":
                    return Reply(403, {"Message": f"Reservation {reservation['Number']} is not Optional."})
                reservation["State"] = "Confirmed"
        return Reply(200, {})

    def _configuration(self, body: dict[str, Any]) -> Reply:
        return Reply(200, {"Enterprise": {"Id": "ent-1", "Name": "Harbourview Hotel"}})
