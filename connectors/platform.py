"""The e-commerce platform's REST API (DESIGN §3.2): read orders, find stuck ones, close them.

Bearer `PLATFORM_API_KEY` on `PLATFORM_API_URL`:
- `GET /orders/{id}` → the order object;
- `GET /orders?status=In%20Progress&updated_before=<ISO>&cursor=<c>` → `{"orders", "next_cursor"}`;
- `PATCH /orders/{id}/items/{item_id}` `{"status", "external_reference"}`;
- `PATCH /orders/{id}` `{"status": "Complete"}`; 409 when the platform refuses, with its message.

Status PATCHes set a value, so sending one twice changes nothing: they carry a
deterministic idempotency key, which lets the shared base retry them on a 5xx.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterator
from urllib.parse import quote

import httpx

from connectors.base import BearerToken, HttpConnector, error_text
from connectors.errors import ConnectorError, PlatformRefused, UnknownFailure
from workflows.settings import Settings

IN_PROGRESS = "In Progress"


def _segment(value: str) -> str:
    return quote(str(value), safe="")


class PlatformClient(HttpConnector):
    """The platform adapter. Returns plain order dicts in the §3.1 shape."""

    name = "The platform"

    def __init__(self, settings: Settings) -> None:
        settings.require("platform_api_url", "platform_api_key")
        super().__init__(
            settings.secret("platform_api_url"),
            settings=settings,
            auth=BearerToken(settings.secret("platform_api_key")),
        )

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
