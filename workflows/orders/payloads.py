"""The intake webhook's body (DESIGN §3.1) as pydantic models, validated strictly.

The same order shape is what the platform's `GET /orders/{id}` answers (DESIGN §3.2),
so the poller parses platform orders with `PlatformOrder` too.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)

from workflows.core.lifecycle import OnStatus, rule_for
from workflows.core.statuses import ItemStatus

KINDS = ("room", "spa", "table", "retail", "ticket")
SYSTEMS = ("synxis", "premier", "resdiary", "rtp", "siriusware", "pms")


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def Text(max_length: int, min_length: int = 0) -> Any:  # noqa: N802 - reads as a type
    return Annotated[str, Field(min_length=min_length, max_length=max_length), AfterValidator(_no_nul)]


Id = Text(64, 1)
MinorAmount = Annotated[int, Field(ge=0, le=10**15)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class GuestIn(_Model):
    first_name: Text(200) = ""  # type: ignore[valid-type]
    last_name: Text(200) = ""  # type: ignore[valid-type]
    email: Text(320) = ""  # type: ignore[valid-type]
    phone: Text(64) = ""  # type: ignore[valid-type]


class PaymentIn(_Model):
    provider: Text(32, 1)  # type: ignore[valid-type]
    reference: Text(128)  # type: ignore[valid-type]
    amount_minor: MinorAmount | None = None


Count = Annotated[int, Field(ge=0, le=10_000)]


class PartyIn(BaseModel):
    """An item's `guests` as an object (DESIGN §3.1): `{"adults": 2, "children": 1}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    adults: Count
    children: Count = 0


def _party_size(value: Any, handler: ValidatorFunctionWrapHandler) -> int:
    """`guests` is a count, or a PartyIn whose total it becomes (a bad object names its own field)."""
    if isinstance(value, dict):
        party = PartyIn.model_validate(value, strict=True)
        return int(handler(party.adults + party.children))
    return int(handler(value))


class ItemIn(_Model):
    id: Id  # type: ignore[valid-type]
    kind: Literal["room", "spa", "table", "retail", "ticket"]
    system: Literal["synxis", "premier", "resdiary", "rtp", "siriusware", "pms"] | None = None
    status: Text(32, 1)  # type: ignore[valid-type]
    description: Text(500) = ""  # type: ignore[valid-type]
    start: dt.date | None = None
    end: dt.date | None = None
    quantity: Annotated[int, Field(ge=1, le=10_000)] = 1
    # The party: a count (all adults), or {"adults", "children"}, kept as its total with the
    # children in details.children (where BookingRequest.children reads them). `guests_given` is
    # the same input as sent, read only to carry the children over (never stored).
    guests: Annotated[int, Field(ge=0, le=10_000), WrapValidator(_party_size)] = 1
    guests_given: Annotated[Any, Field(default=None, validation_alias="guests", exclude=True, repr=False)]
    details: dict[str, Any] = Field(default_factory=dict, validate_default=True)
    # Set by the platform once the item is Confirmed (`PATCH /orders/{id}/items/{item_id}`, DESIGN §3.2)
    external_reference: Text(128) | None = None  # type: ignore[valid-type]

    @field_validator("details")
    @classmethod
    def _children_in_details(cls, details: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        given = info.data.get("guests_given")
        if isinstance(given, dict) and "guests" in info.data:  # the object form, and it was valid
            return {**details, "children": given.get("children", 0)}
        return details

    @model_validator(mode="after")
    def _dates_in_order(self) -> ItemIn:
        if self.start and self.end and self.end < self.start:
            raise ValueError("end is before start")
        if self.kind != "retail" and self.system is None:
            raise ValueError("system is required for a non-retail item")
        return self


class PlatformOrder(_Model):
    id: Id  # type: ignore[valid-type]
    status: Text(32, 1)  # type: ignore[valid-type]
    placed_at: AwareDatetime | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    total_minor: MinorAmount
    guest: GuestIn = GuestIn()
    payment: PaymentIn | None = None
    items: Annotated[list[ItemIn], Field(min_length=1, max_length=200)]

    @model_validator(mode="after")
    def _unique_items(self) -> PlatformOrder:
        ids = [i.id for i in self.items]
        if len(ids) != len(set(ids)):
            raise ValueError("item ids must be unique")
        return self

    def item(self, item_id: str) -> ItemIn | None:
        return next((i for i in self.items if i.id == item_id), None)


class FailureIn(_Model):
    item_id: Id  # type: ignore[valid-type]
    system: Literal["synxis", "premier", "resdiary", "rtp", "siriusware", "pms"] | None = None
    message: Text(4000, 1)  # type: ignore[valid-type]
    code: Text(64) | None = None  # type: ignore[valid-type]
    log: Text(100_000) = ""  # type: ignore[valid-type]
    http_status: Annotated[int, Field(ge=100, le=599)] | None = None


class SyncFailure(_Model):
    event_id: Text(200, 1)  # type: ignore[valid-type]
    occurred_at: AwareDatetime
    order: PlatformOrder
    failure: FailureIn

    @model_validator(mode="after")
    def _failure_names_an_item(self) -> SyncFailure:
        if self.order.item(self.failure.item_id) is None:
            raise ValueError(f"failure.item_id {self.failure.item_id!r} is not one of order.items")
        return self


class PayloadError(ValueError):
    """The body is not a valid sync failure; `field` names the first offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _field_name(loc: tuple[Any, ...], model_fields: str = "") -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif part in ("function-after[_dates_in_order()]",) or str(part).startswith(("function-", "literal[")):
            continue
        else:
            parts.append(("." if parts else "") + str(part))
    return "".join(parts) or model_fields or "body"


def parse_sync_failure(raw: bytes) -> SyncFailure:
    """Parse and validate a webhook body; raise PayloadError naming the field."""
    try:
        return SyncFailure.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        if first["type"] == "json_invalid":
            raise PayloadError("body", f"malformed JSON ({first['msg']})") from None
        if first["type"] == "model_type" and not first["loc"]:
            raise PayloadError("body", "must be a JSON object") from None
        field = _field_name(tuple(first["loc"]))
        if field == "body" and first["type"] == "value_error":
            message = str(first["msg"]).removeprefix("Value error, ")
            # model-level rules name their own field in the message
            named = message.split(" ", 1)[0] if message.startswith("failure.") else "body"
            raise PayloadError(named, message) from None
        raise PayloadError(field, str(first["msg"]).removeprefix("Value error, ")) from None


def parse_platform_order(data: dict[str, Any]) -> PlatformOrder:
    """Validate an order object from the platform API (lax: it is already decoded JSON)."""
    try:
        return PlatformOrder.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise PayloadError(_field_name(tuple(first["loc"])), str(first["msg"])) from None


def poller_failures(data: dict[str, Any], stuck_before: dt.datetime) -> list[SyncFailure]:
    """Failures for every item of a platform order stuck in an alerting status (In Progress,
    Booked): intake alerts the bookable ones and records retail ones as awaiting dispatch.

    The event id is deterministic per order and item, so polling again changes nothing.
    """
    order = parse_platform_order(data)
    if rule_for(order.status).on is not OnStatus.ALERT:
        return []
    return [
        SyncFailure(
            event_id=f"poll:{order.id}:{item.id}",
            occurred_at=dt.datetime.now(dt.timezone.utc),
            order=order,
            failure=FailureIn(
                item_id=item.id, system=item.system, code="stuck",
                message=f"Still In Progress after {stuck_before:%H:%M} UTC and no failure was reported "
                        "(the platform's webhook may have been lost)",
            ),
        )
        for item in order.items
        if item.status == ItemStatus.IN_PROGRESS
    ]
