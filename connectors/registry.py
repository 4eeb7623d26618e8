"""Which connector handles an item: by its system, built from settings.

A system without a connector (or without its settings) raises `NoConnector`, which the
alert shows as "book it by hand, then use Booked manually", never an unexplained crash.
"""

from __future__ import annotations

import importlib

from connectors.errors import NoConnector
from connectors.types import BookingConnector, BookingRequest
from workflows.settings import MissingSetting, Settings

# system -> "module:Class"; add one line per new booking system.
CONNECTORS: dict[str, str] = {
    "synxis": "connectors.synxis:SynxisConnector",
}

# One connector (one HTTP client, one cached token) per system and settings, per process.
_built: dict[tuple[str, int], BookingConnector] = {}


def _where(item: BookingRequest) -> str:
    prop = item.details.get("hotel_id") or item.details.get("property_id") or item.details.get("site_id")
    return f" at property {prop}" if prop is not None else ""


def connector_for(item: BookingRequest, settings: Settings) -> BookingConnector:
    """A ready connector for the item's system, or NoConnector saying why there is none."""
    key = (item.system, id(settings))
    if key in _built:
        return _built[key]
    target = CONNECTORS.get(item.system)
    if target is None:
        raise NoConnector(f"no connector configured for {item.system or 'this system'}{_where(item)}: "
                          "book it by hand, then use Booked manually", detail=f"system={item.system!r}")
    module_name, class_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    try:
        connector: BookingConnector = cls(settings)
    except MissingSetting as exc:
        raise NoConnector(f"the {item.system} connector is not configured ({exc}): book it by hand, "
                          "then use Booked manually", detail=str(exc)) from exc
    _built[key] = connector
    return connector
