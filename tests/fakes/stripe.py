"""A fake Stripe API: PaymentIntents and Refunds in Stripe's JSON object shapes.

- `GET /v1/payment_intents/{id}` → `{"object": "payment_intent", ...}`
- `GET /v1/refunds?payment_intent=&limit=&starting_after=` → `{"object": "list", "data", "has_more", "url"}`
- errors in Stripe's envelope `{"error": {"type", "code", "message", ...}}`: 401 for a wrong
  key, 404 `resource_missing` for an unknown id.

    with FakeStripe(api_key="sk_test_fake") as stripe_fake:
        pi = stripe_fake.add_payment_intent(amount=24000, currency="gbp")
        stripe_fake.add_refund(pi, 4000)
"""

from __future__ import annotations

import itertools
import re
from typing import Any
from urllib.parse import unquote

from tests.fakes.http import FakeServer, RecordedRequest, Reply

CREATED = 1764000000  # a fixed epoch second keeps objects deterministic


class FakeStripe(FakeServer):
    def __init__(self, *, api_key: str = "sk_test_fake") -> None:
        super().__init__()
        self.api_key = api_key
        self._intents: dict[str, dict[str, Any]] = {}
        self._refunds: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self.route("GET", r"/v1/payment_intents/(?P<id>[^/]+)", self._get_intent)
        self.route("GET", r"/v1/refunds", self._list_refunds)

    # -- test API --------------------------------------------------------------------------
    def add_payment_intent(
        self,
        *,
        amount: int,
        currency: str = "gbp",
        status: str = "succeeded",
        amount_received: int | None = None,
        intent_id: str | None = None,
    ) -> str:
        with self.lock:
            n = next(self._ids)
            intent_id = intent_id or f"pi_fake{n:06d}"
            if amount_received is None:
                amount_received = amount if status == "succeeded" else 0
            self._intents[intent_id] = {
                "id": intent_id,
                "object": "payment_intent",
                "amount": amount,
                "amount_capturable": amount if status == "requires_capture" else 0,
                "amount_received": amount_received,
                "capture_method": "automatic",
                "created": CREATED,
                "currency": currency.lower(),
                "customer": None,
                "description": None,
                "latest_charge": f"ch_fake{n:06d}" if status in ("succeeded", "requires_capture") else None,
                "livemode": False,
                "metadata": {},
                "payment_method": f"pm_fake{n:06d}",
                "payment_method_types": ["card"],
                "status": status,
            }
            return intent_id

    def add_refund(self, payment_intent: str, amount: int, *, status: str = "succeeded") -> str:
        with self.lock:
            intent = self._intents[payment_intent]
            refund_id = f"re_fake{next(self._ids):06d}"
            self._refunds.append(
                {
                    "id": refund_id,
                    "object": "refund",
                    "amount": amount,
                    "charge": intent["latest_charge"],
                    "created": CREATED,
                    "currency": intent["currency"],
                    "metadata": {},
                    "payment_intent": payment_intent,
                    "reason": "requested_by_customer",
                    "status": status,
                }
            )
            return refund_id

    # -- endpoints -------------------------------------------------------------------------
    def _auth_error(self, req: RecordedRequest) -> Reply | None:
        header = req.header("Authorization") or ""
        if header == f"Bearer {self.api_key}":
            return None
        shown = header[7:][:8] + "****" if header.startswith("Bearer ") else ""
        return Reply(
            401,
            {
                "error": {
                    "type": "invalid_request_error",
                    "code": "api_key_invalid",
                    "message": f"Invalid API Key provided: {shown}",
                }
            },
        )

    def _get_intent(self, req: RecordedRequest, m: re.Match[str]) -> Reply:
        if (denied := self._auth_error(req)) is not None:
            return denied
        intent_id = unquote(m["id"])
        intent = self._intents.get(intent_id)
        if intent is None:
            return Reply(
                404,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "resource_missing",
                        "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
                        "message": f"No such payment_intent: '{intent_id}'",
                        "param": "intent",
                    }
                },
            )
        return Reply(200, dict(intent))

    def _list_refunds(self, req: RecordedRequest, _m: re.Match[str]) -> Reply:
        if (denied := self._auth_error(req)) is not None:
            return denied
        intent = req.param("payment_intent")
        limit = int(req.param("limit") or 10)
        after = req.param("starting_after")
        # Stripe lists newest first; ids grow with creation, so reverse insertion order.
        rows = [r for r in reversed(self._refunds) if intent is None or r["payment_intent"] == intent]
        if after:
            ids = [r["id"] for r in rows]
            rows = rows[ids.index(after) + 1 :] if after in ids else []
        page = rows[:limit]
        return Reply(
            200,
            {"object": "list", "data": [dict(r) for r in page], "has_more": len(rows) > limit, "url": "/v1/refunds"},
        )
