"""A fake e-commerce platform speaking DESIGN §3.2.

    with FakePlatform(api_key="pk") as platform:
        platform.seed(order_dict, updated_at="2026-11-22T09:58:00Z")
        platform.refuse_completion("ORD-1", "Order has unpaid balance")  # next PATCH → 409
        ...
        platform.order("ORD-1")["status"], platform.patches

Cancel Deliveries (`POST /orders/{id}/items/{item_id}/cancel-delivery`, §3.2) needs `reason`
and `idempotency_key`; it cancels the item, refunds it — through a `FakeStripe` when one is
given, as the platform refunds through its payment provider — and answers the same key
with the same answer, refunding once. A Confirmed item is 409; so is an item already
cancelled under another key. An order whose items are all cancelled becomes Cancelled.
The refund is the item's `amount_minor` when the order carries one, else the payment's.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from typing import Any
from urllib.parse import unquote

from tests.fakes.http import FakeServer, RecordedRequest, Reply


class FakePlatform(FakeServer):
    def __init__(self, *, api_key: str = "platform-key", page_size: int = 2, stripe: Any = None) -> None:
        super().__init__()
        self.api_key = api_key
        self.page_size = page_size
        self.stripe = stripe  # a FakeStripe the refunds are made in, or None
        self.cancellations: dict[str, dict[str, Any]] = {}  # idempotency key -> the answer given
        self._orders: dict[str, dict[str, Any]] = {}
        self._updated_at: dict[str, str] = {}
        self._refusals: dict[str, str] = {}
        self.route("GET", r"/orders", self._list)
        self.route("GET", r"/orders/(?P<order>[^/]+)", self._get)
        self.route("PATCH", r"/orders/(?P<order>[^/]+)", self._patch_order)
        self.route("PATCH", r"/orders/(?P<order>[^/]+)/items/(?P<item>[^/]+)", self._patch_item)
        self.route("POST", r"/orders/(?P<order>[^/]+)/items/(?P<item>[^/]+)/cancel-delivery", self._cancel_delivery)

    # -- test API --------------------------------------------------------------------------
    def seed(self, order: dict[str, Any], *, updated_at: str | None = None) -> None:
        """Store an order (§3.1 shape). `updated_at` is ISO-8601 UTC; defaults to the order's placed_at."""
        with self.lock:
            self._orders[order["id"]] = copy.deepcopy(order)
            self._updated_at[order["id"]] = updated_at or order.get("updated_at") or order.get("placed_at") or ""

    def order(self, order_id: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self._orders[order_id])

    def refuse_completion(self, order_id: str, message: str) -> None:
        """PATCH /orders/{id} answers 409 with `message` until `allow_completion`."""
        with self.lock:
            self._refusals[order_id] = message

    def allow_completion(self, order_id: str) -> None:
        with self.lock:
            self._refusals.pop(order_id, None)

    @property
    def patches(self) -> list[RecordedRequest]:
        return self.requests_to("PATCH")

    @property
    def refunds(self) -> list[dict[str, Any]]:
        """The refunds actually made (one per cancelled item, however often it was asked)."""
        with self.lock:
            return [copy.deepcopy(a["refund"]) for a in self.cancellations.values()]

    # -- endpoints -------------------------------------------------------------------------
    def _authorized(self, req: RecordedRequest) -> bool:
        return req.header("Authorization") == f"Bearer {self.api_key}"

    def _unauthorized(self) -> Reply:
        return Reply(401, {"error": "unauthorized", "message": "Invalid API key"})

    @staticmethod
    def _not_found(what: str) -> Reply:
        return Reply(404, {"error": "not_found", "message": f"{what} not found"})

    def _list(self, req: RecordedRequest, _m: re.Match[str]) -> Reply:
        if not self._authorized(req):
            return self._unauthorized()
        status = req.param("status")
        before = req.param("updated_before")
        arriving = req.param("arriving")
        if arriving is not None:
            try:
                dt.date.fromisoformat(arriving)
            except ValueError:
                return Reply(400, {"error": "bad_request", "message": f"arriving: {arriving!r} is not YYYY-MM-DD"})
        matching = [
            o
            for oid, o in sorted(self._orders.items(), key=lambda kv: (self._updated_at[kv[0]], kv[0]))
            if (status is None or o.get("status") == status)
            and (before is None or _utc_key(self._updated_at[oid]) < _utc_key(before))
            and (arriving is None or any(i.get("start") == arriving for i in o.get("items") or []))
        ]
        start = int(req.param("cursor") or 0)
        page = matching[start : start + self.page_size]
        following = start + self.page_size
        next_cursor = str(following) if following < len(matching) else None
        return Reply(200, {"orders": copy.deepcopy(page), "next_cursor": next_cursor})

    def _get(self, req: RecordedRequest, m: re.Match[str]) -> Reply:
        if not self._authorized(req):
            return self._unauthorized()
        order = self._orders.get(unquote(m["order"]))
        return Reply(200, copy.deepcopy(order)) if order else self._not_found(f"Order {m['order']}")

    def _patch_order(self, req: RecordedRequest, m: re.Match[str]) -> Reply:
        if not self._authorized(req):
            return self._unauthorized()
        order_id = unquote(m["order"])
        order = self._orders.get(order_id)
        if order is None:
            return self._not_found(f"Order {order_id}")
        body = req.json if isinstance(req.json, dict) else {}
        if "status" not in body:
            return Reply(400, {"error": "invalid", "message": "status is required"})
        if order_id in self._refusals:
            return Reply(409, {"error": "conflict", "message": self._refusals[order_id]})
        if body["status"] == "Closed" and order.get("status") not in ("Complete", "Closed"):
            return Reply(409, {"error": "conflict",
                               "message": f"Order {order_id} is {order.get('status')}: only a Complete order can be Closed"})
        order["status"] = body["status"]
        return Reply(200, copy.deepcopy(order))

    def _patch_item(self, req: RecordedRequest, m: re.Match[str]) -> Reply:
        if not self._authorized(req):
            return self._unauthorized()
        found = self._order_item(m)
        if isinstance(found, Reply):
            return found
        _, item = found
        body = req.json if isinstance(req.json, dict) else {}
        if "status" not in body:
            return Reply(400, {"error": "invalid", "message": "status is required"})
        item["status"] = body["status"]
        if "external_reference" in body:
            item["external_reference"] = body["external_reference"]
        return Reply(200, copy.deepcopy(item))


    def _order_item(self, m: re.Match[str]) -> tuple[dict[str, Any], dict[str, Any]] | Reply:
        """(order, item) the path names, or the 404 to answer."""
        order = self._orders.get(unquote(m["order"]))
        if order is None:
            return self._not_found(f"Order {m['order']}")
        item = next((i for i in order.get("items", []) if i.get("id") == unquote(m["item"])), None)
        if item is None:
            return self._not_found(f"Item {m['item']}")
        return order, item

    def _cancel_delivery(self, req: RecordedRequest, m: re.Match[str]) -> Reply:
        if not self._authorized(req):
            return self._unauthorized()
        body = req.json if isinstance(req.json, dict) else {}
        key, reason = body.get("idempotency_key"), body.get("reason")
        if not isinstance(key, str) or not key or not isinstance(reason, str) or not reason.strip():
            return Reply(400, {"error": "invalid", "message": "reason and idempotency_key are required"})
        with self.lock:
            if key in self.cancellations:
                return Reply(200, copy.deepcopy(self.cancellations[key]))
            found = self._order_item(m)
            if isinstance(found, Reply):
                return found
            order, item = found
            if item.get("status") in ("Confirmed", "Cancelled"):
                return Reply(409, {"error": "conflict",
                                   "message": f"Item {item['id']} is {item['status']}: it cannot be cancelled"})
            payment = order.get("payment") or {}
            amount = int(item.get("amount_minor") or payment.get("amount_minor") or order.get("total_minor") or 0)
            reference = f"re_platform{len(self.cancellations) + 1:04d}"
            if self.stripe is not None and payment.get("reference"):
                reference = self.stripe.add_refund(payment["reference"], amount)
            item["status"] = "Cancelled"
            if all(i.get("status") == "Cancelled" for i in order.get("items", [])):
                order["status"] = "Cancelled"
            answer = {"item": copy.deepcopy(item), "refund": {"reference": reference, "amount_minor": amount}}
            self.cancellations[key] = answer
            return Reply(200, copy.deepcopy(answer))


def _utc_key(value: str) -> str:
    """ISO timestamps compare as strings once normalised to the same UTC spelling."""
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc).isoformat()
