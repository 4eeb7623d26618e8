"""The e-commerce platform's REST API (DESIGN §3.2): read orders, find stuck ones, close them.

Bearer `PLATFORM_API_KEY` on `PLATFORM_API_URL`:
- `GET /orders/{id}` → the order object;
- `GET /orders?status=In%20Progress&updated_before=<ISO>&cursor=<c>` → `{"orders", "next_cursor"}`;
- `GET /orders?arriving=<YYYY-MM-DD>&cursor=<c>` → the same shape: every order, in any status,
  with an item starting that day (the arrival check, issue 25);
- `PATCH /orders/{id}/items/{item_id}` `{"status", "external_reference"}`;
- `PATCH /orders/{id}` `{"status": "Complete"}`; 409 when the platform refuses, with its message;
- `POST /orders/{id}/items/{item_id}/cancel-delivery` `{"reason", "idempotency_key"}` →
  `{"item": {…, "status": "Cancelled"}, "refund": {"reference", "amount_minor"}}`: the
  platform's *Cancel Deliveries* (refund plus reporting correction, source 003); the same key
  twice gets the same answer and no second refund; 409 when the item is Confirmed.

Status PATCHes set a value, so sending one twice changes nothing: they carry a
deterministic idempotency key, which lets the shared base retry them on a 5xx.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Iterator
from urllib.parse import quote

import httpx

from connectors.base import BearerToken, HttpConnector, Timeouts, error_text
from connectors.errors import ConnectorError, PlatformRefused, UnknownFailure

IN_PROGRESS = "In Progress"


def _segment(value: str) -> str:
    return quote(str(value), safe="")


@dataclass(frozen=True)
class CancelledDelivery:
    """The platform's answer to Cancel Deliveries: the item's status now and the refund it made."""

    item_status: str
    refund_reference: str | None
    refund_minor: int


@dataclass(frozen=True)
class PlatformConfig:
    api_url: str  # PLATFORM_API_URL
    api_key: str = field(repr=False)  # PLATFORM_API_KEY, sent as a bearer token
    timeouts: Timeouts = Timeouts()


class PlatformClient(HttpConnector):
    """The platform adapter. Returns plain order dicts in the §3.1 shape."""

    name = "The platform"

    def __init__(self, config: PlatformConfig) -> None:
        super().__init__(config.api_url, timeouts=config.timeouts, auth=BearerToken(config.api_key))

    def get_order(self, order_id: str) -> dict[str, Any]:
        order = self.request("GET", f"/orders/{_segment(order_id)}")
        if not isinstance(order, dict):
            raise UnknownFailure(f"The platform answered GET /orders/{order_id} without an order.", detail=repr(order)[:500])
        return order

    def list_stuck(self, updated_before: dt.datetime, status: str = IN_PROGRESS) -> Iterator[dict[str, Any]]:
        """Every order in `status` last updated before `updated_before`, page by page."""
        if updated_before.tzinfo is None:
            updated_before = updated_before.replace(tzinfo=dt.timezone.utc)
        params: dict[str, str] = {
            "status": status,
            "updated_before": updated_before.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z"),
        }
        return self._pages(params)

    def list_arriving(self, day: dt.date) -> Iterator[dict[str, Any]]:
        """Every order, in any status, with an item whose `start` is `day` (the arrival check)."""
        return self._pages({"arriving": day.isoformat()})

    def _pages(self, params: dict[str, str]) -> Iterator[dict[str, Any]]:
        """GET /orders with `params`, following `next_cursor` page by page."""
        seen: set[str] = set()
        while True:
            page = self.request("GET", "/orders", params=params)
            if not isinstance(page, dict) or not isinstance(page.get("orders"), list):
                raise UnknownFailure("The platform answered GET /orders without an orders list.", detail=repr(page)[:500])
            yield from page["orders"]
            cursor = page.get("next_cursor")
            if not cursor or cursor in seen:  # a repeated cursor would loop forever
                return
            seen.add(cursor)
            params = {**params, "cursor": str(cursor)}

    def set_item_status(
        self, order_id: str, item_id: str, status: str, external_reference: str | None = None
    ) -> dict[str, Any] | None:
        body: dict[str, Any] = {"status": status}
        if external_reference is not None:
            body["external_reference"] = external_reference
        return self.request(
            "PATCH",
            f"/orders/{_segment(order_id)}/items/{_segment(item_id)}",
            json=body,
            idempotency_key=f"syncdesk:{order_id}:{item_id}:{status}:{external_reference or ''}",
        )

    def confirm_item(self, order_id: str, item_id: str, external_reference: str) -> dict[str, Any] | None:
        return self.set_item_status(order_id, item_id, "Confirmed", external_reference)

    def revert_item(self, order_id: str, item_id: str, status: str, undone: str) -> dict[str, Any] | None:
        """Put an item back to `status` and clear its external reference (Undo Booked manually:
        `undone` was typed wrongly). Its idempotency key names the undone reference, so it
        never matches an earlier PATCH of the same status."""
        return self.request(
            "PATCH",
            f"/orders/{_segment(order_id)}/items/{_segment(item_id)}",
            json={"status": status, "external_reference": None},
            idempotency_key=f"syncdesk:{order_id}:{item_id}:{status}:undo:{undone}",
        )

    def set_order_status(self, order_id: str, status: str) -> dict[str, Any] | None:
        return self.request(
            "PATCH",
            f"/orders/{_segment(order_id)}",
            json={"status": status},
            idempotency_key=f"syncdesk:{order_id}:{status}",
        )

    def complete_order(self, order_id: str) -> dict[str, Any] | None:
        """Set the order Complete (sends the guest's confirmation); 409 → PlatformRefused."""
        return self.set_order_status(order_id, "Complete")

    def close_order(self, order_id: str) -> dict[str, Any] | None:
        """Set a Complete order Closed: nothing more is owed (source 003); 409 → PlatformRefused."""
        return self.set_order_status(order_id, "Closed")

    def cancel_delivery(self, order_id: str, item_id: str, reason: str, idempotency_key: str) -> CancelledDelivery:
        """Cancel an item that cannot be delivered and refund it; 409 (Confirmed) → PlatformRefused.

        The key goes in the body (§3.2) and as the Idempotency-Key header, which also lets the
        shared base retry the POST on a 5xx: the platform answers a repeated key as it did first.
        """
        answer = self.request(
            "POST",
            f"/orders/{_segment(order_id)}/items/{_segment(item_id)}/cancel-delivery",
            json={"reason": reason, "idempotency_key": idempotency_key},
            idempotency_key=idempotency_key,
        )
        item = answer.get("item") if isinstance(answer, dict) else None
        refund = answer.get("refund") if isinstance(answer, dict) else None
        if not isinstance(item, dict) or not isinstance(refund, (dict, type(None))):
            raise UnknownFailure(f"The platform answered cancel-delivery of {order_id}/{item_id} without an item.",
                                 detail=repr(answer)[:500])
        refund = refund or {}
        amount = refund.get("amount_minor")
        return CancelledDelivery(str(item.get("status") or ""), str(refund.get("reference") or "") or None,
                                 int(amount) if isinstance(amount, int) else 0)

    def map_status(self, response: httpx.Response, method: str, path: str) -> ConnectorError | None:
        if response.status_code == 409:
            return PlatformRefused(
                f"The platform refused: {error_text(response)}",
                detail=self.describe_response(response, method, path),
                status=409,
            )
        if response.status_code == 404:
            return UnknownFailure(
                f"The platform has no such order or item ({method} {path}).",
                detail=self.describe_response(response, method, path),
                status=404,
            )
        return None
