"""Order snapshots in every state an alert can show, built directly (rendering is pure)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from workflows.orders.snapshot import AttemptView, AuditView, ItemView, OrderSnapshot

TODAY = dt.date(2026, 11, 29)
T0 = dt.datetime(2026, 11, 22, 9, 58, tzinfo=dt.timezone.utc)


def attempt(number: int = 1, status: str = "failed", error_class: str | None = "timeout",
            triggered_by: str = "platform", log: str = "httpx.ReadTimeout: The read operation timed out",
            item_id: str = "ITEM-1", confirmation: str | None = None) -> AttemptView:
    at = T0 + dt.timedelta(minutes=5 * (number - 1))
    return AttemptView(item_id, number, status, error_class, "Read timed out after 30 s" if error_class else None,
                       log, triggered_by, at, at + dt.timedelta(seconds=30), confirmation)


def item(item_id: str = "ITEM-1", system: str = "synxis", status: str = "In Progress",
         sync_status: str | None = "failed", attempts: tuple[AttemptView, ...] | None = None,
         start: dt.date | None = dt.date(2026, 12, 1), **changes: Any) -> ItemView:
    view = ItemView(
        item_id=item_id, kind="room" if system in ("synxis", "pms") else "spa", system=system,
        description="Luxury Twin, BAR, 1 night", status=status, sync_status=sync_status, start=start,
        end=start + dt.timedelta(days=1) if start else None, quantity=1, guests=2,
        details={"hotel_id": 13098, "chain_id": 12723}, external_reference=None, confirmed_by=None,
        payment_method=None, attempts=attempts if attempts is not None else (attempt(item_id=item_id),),
    )
    return dataclasses.replace(view, **changes)


def audit(action: str, actor: str = "syncdesk", item_id: str | None = "ITEM-1", minutes: int = 0,
          result: str = "ok", **detail: Any) -> AuditView:
    return AuditView(T0 + dt.timedelta(minutes=minutes), actor, action, item_id, result, detail)


PAID = {"currency": "GBP", "amount_minor": 24000, "received_minor": 24000, "refunded_minor": 0,
        "expected_minor": 24000, "detail": ""}


def order(items: tuple[ItemView, ...] | None = None, audit_trail: tuple[AuditView, ...] = (),
          **changes: Any) -> OrderSnapshot:
    snap = OrderSnapshot(
        order_id="ORD-10042", status="In Progress", placed_at=T0, currency="GBP", total_minor=24000,
        guest_name="Larry Walker", guest_email="larry.walker@example.com", guest_phone="+44 5551234567",
        payment_provider="stripe", payment_reference="pi_3Qtest", payment_state="captured",
        payment_detail=dict(PAID), payment_checked_at=T0, items=items or (item(),), alerts=(), audit=audit_trail,
    )
    return dataclasses.replace(snap, **changes)
