"""Which connector handles an item, built from settings and the routing configuration.

`connectors.routing` says which connector serves an item (by system and property, falling
back to the system's default); this module builds it, once per route and settings per
process. An item with no connector (or one whose settings are missing) raises
`NoConnector`, which the alert shows as "book it by hand, then use Booked manually",
never an unexplained crash.
"""

from __future__ import annotations

import importlib
import os
import threading
from dataclasses import dataclass
from typing import Any

from connectors.errors import ConnectorError, NoConnector
from connectors.routing import CONNECTORS, Route, RoutingError, property_of, routing_for
from connectors.types import BookingConnector, BookingRequest, SystemDescription
from workflows.settings import MissingSetting, Settings

# One connector (one HTTP client, one cached token) per route and settings, per process.
# The settings object is kept with it: an id() can be reused once its object is gone.
_built: dict[tuple[str, int], tuple[Settings, BookingConnector]] = {}
_lock = threading.Lock()


def _where(item: BookingRequest) -> str:
    prop = property_of(item)
    return f" at property {prop}" if prop is not None else ""


def _build(route: Route, settings: Settings) -> BookingConnector:
    module_name, class_name = CONNECTORS[route.connector].split(":")
    cls: Any = getattr(importlib.import_module(module_name), class_name)
    if route.connector == "pms":
        return cls(settings, route.options, system=route.system)  # type: ignore[no-any-return]
    return cls(settings, route.options) if route.options else cls(settings)  # type: ignore[no-any-return]


def _route(item: BookingRequest, settings: Settings) -> Route:
    try:
        route = routing_for(settings.connectors_file).resolve(item)
    except RoutingError as exc:
        raise NoConnector(f"the connector routing is invalid ({exc}): book it by hand, then use Booked manually",
                          detail=str(exc)) from exc
    if route is None:
        raise NoConnector(f"no connector configured for {item.system or 'this system'}{_where(item)}: "
                          "book it by hand, then use Booked manually", detail=f"system={item.system!r}")
    return route


def connector_for(item: BookingRequest, settings: Settings) -> BookingConnector:
    """A ready connector for the item's system and property, or NoConnector saying why there is none."""
    route = _route(item, settings)
    key = (route.key, id(settings))
    with _lock:
        built = _built.get(key)
        if built is not None and built[0] is settings:
            return built[1]
        try:
            connector = _build(route, settings)
        except MissingSetting as exc:
            raise NoConnector(f"the {item.system} connector is not configured ({exc}): book it by hand, "
                              "then use Booked manually", detail=str(exc)) from exc
        _built[key] = (settings, connector)
        return connector


def description_for(item: BookingRequest, settings: Settings) -> SystemDescription:
    """How the item's system is booked: automatic, or the playbook filled in for this item.

    For the alert: a non-automatic description means "show these steps, not Reprocess".
    """
    try:
        connector = connector_for(item, settings)
    except NoConnector as exc:
        return SystemDescription(system=item.system, name=item.system, booked_means="booked by hand",
                                 automatic=False, playbook=(exc.message,))
    describe_item = getattr(connector, "describe_item", None)
    return describe_item(item) if describe_item is not None else connector.describe()


def check(settings: Settings) -> list[Route]:
    """Validate the routing at start: the file, and every connector it names can be built.

    Raises RoutingError naming CONNECTORS_FILE and the entry (and the missing setting).
    Built-in defaults are not built here: a system without credentials still gets a clear
    "not configured" alert at the time it is needed.
    """
    routing = routing_for(settings.connectors_file)
    for route in [r for r in routing.routes() if r.configured and r.connector != "none"]:
        try:
            _build(route, settings).close()  # type: ignore[attr-defined]
        except MissingSetting as exc:
            raise RoutingError(f"{routing.source}: {route.key}: connector {route.connector}: {exc}") from exc
        except ValueError as exc:
            raise RoutingError(f"{routing.source}: {route.key}: connector {route.connector}: {exc}") from exc
        if route.connector == "pms":
            _check_env(routing.source, route)
    return routing.routes()


def _check_env(source: str, route: Route) -> None:
    from connectors.pms import load_profile, required_env

    missing = [e for e in required_env(load_profile(route.options)) if not os.environ.get(e)]
    if missing:
        raise RoutingError(f"{source}: {route.key}: missing environment variable(s) {', '.join(missing)} "
                           "(the profile reads its credentials from them)")


@dataclass(frozen=True)
class ConnectorStatus:
    """One configured route and whether its credentials work (for `syncdesk connectors`)."""

    system: str
    property: str | None
    connector: str
    automatic: bool
    ok: bool
    message: str


def statuses(settings: Settings) -> list[ConnectorStatus]:
    """Every configured route, with a live credentials check against its configured URL."""
    result = []
    for route in routing_for(settings.connectors_file).routes():
        if route.connector == "none":
            result.append(ConnectorStatus(route.system, route.property, "none", False, True, "book by hand"))
            continue
        try:
            connector = _build(route, settings)
        except (MissingSetting, ValueError) as exc:
            result.append(ConnectorStatus(route.system, route.property, route.connector, False, False, str(exc)))
            continue
        automatic = connector.describe().automatic
        try:
            if not automatic:
                message = "manual playbook (no booking API)"
            elif hasattr(connector, "check_credentials"):
                connector.check_credentials()
                message = "credentials accepted"
            else:
                auth = getattr(connector, "_auth", None)  # base.HttpConnector's Auth: fetching a token proves it
                if auth is None:
                    message = "no credentials to check"
                else:
                    auth.headers(connector)
                    message = "credentials accepted"
            ok = True
        except ConnectorError as exc:
            ok, message = False, f"{exc.error_class.label}: {exc.message}"
        finally:
            connector.close()  # type: ignore[attr-defined]
        result.append(ConnectorStatus(route.system, route.property, route.connector, automatic, ok, message))
    return result
