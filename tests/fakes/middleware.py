"""A fake REST middleware in front of a booking system: what a site routes to the `pms`
connector with an inline profile and `auth: oauth2`.

- `POST /oauth/token`, OAuth 2.0 client credentials (RFC 6749 §4.4, §2.3.1: form body
  `grant_type=client_credentials&client_id&client_secret`, or HTTP Basic) →
  `{"access_token", "token_type": "Bearer", "expires_in"}`; wrong credentials → 401
  `{"error": "invalid_client"}`.
- `GET /bookings?reference=` (bearer token) → `{"bookings": [{"id", "number", "status", "reference"}]}`.
"""

from __future__ import annotations

import base64
import itertools
import re
import secrets
from typing import Any

from tests.fakes.http import FakeServer, RecordedRequest, Reply


class FakeMiddleware(FakeServer):
    def __init__(self, *, client_id: str = "mw-client", client_secret: str = "mw-secret") -> None:
        super().__init__()
        self.client_id, self.client_secret = client_id, client_secret
        self._tokens: set[str] = set()
        self._bookings: list[dict[str, Any]] = []
        self._numbers = itertools.count(1)
        self.route("POST", r"/oauth/token", self._token)
        self.route("GET", r"/bookings", self._search)

    @property
    def token_url(self) -> str:
        return self.url + "/oauth/token"

    @property
    def token_requests(self) -> list[RecordedRequest]:
        return self.requests_to("POST", r"/oauth/token")

    def expire_tokens(self) -> None:
        with self.lock:
            self._tokens.clear()

    def seed(self, *, reference: str, status: str = "Confirmed") -> str:
        with self.lock:
            number = f"MW{next(self._numbers):04d}"
            self._bookings.append({"id": number.lower(), "number": number, "status": status, "reference": reference})
            return number

    def _token(self, req: RecordedRequest, _m: re.Match[str]) -> Reply:
        form = req.form
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        header = req.header("Authorization") or ""
        if header.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(header[6:]).decode().partition(":")
        if form.get("grant_type") != "client_credentials":
            return Reply(400, {"error": "unsupported_grant_type"})
        if (client_id, client_secret) != (self.client_id, self.client_secret):
            return Reply(401, {"error": "invalid_client"})
        token = secrets.token_hex(8)
        self._tokens.add(token)
        return Reply(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})

    def _search(self, req: RecordedRequest, _m: re.Match[str]) -> Reply:
        if (req.header("Authorization") or "").removeprefix("Bearer ") not in self._tokens:
            return Reply(401, {"error": "invalid_token"})
        wanted = req.param("reference")
        return Reply(200, {"bookings": [dict(b) for b in self._bookings if b["reference"] == wanted]})
