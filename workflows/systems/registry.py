"""Which connector handles an item, built from settings and the routing configuration.

`connectors.routing` says which connector serves an item (by system and property, falling
back to the system's default); this module builds it from `Settings` and the route's
options, once per route and settings per process, and paces its requests at the system's
pace (`workflows.systems.pace`). Connectors never see `Settings`: each
gets its own small config (`SynxisConfig`, `ResDiaryConfig`, …), made here. An item with no connector (or one whose settings are missing) raises
`NoConnector`, which the alert shows as "book it by hand, then use Booked manually",
never an unexplained crash.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from connectors.base import HttpConnector
from connectors.errors import ConnectorError, NoConnector
from connectors.playbook import PlaybookConnector
from connectors.pms import PmsConnector, load_profile, required_env
from connectors.premier import PremierPlaybook
from connectors.resdiary import EposConfig, ResDiaryConfig, ResDiaryConnector
from connectors.routing import Route, RoutingError, property_of, routing_for
from connectors.rtp import RtpPlaybook
from connectors.siriusware import SiriuswarePlaybook
from connectors.synxis import SynxisConfig, SynxisConnector, payments_from
from connectors.types import BookingConnector, BookingRequest, SystemDescription
from workflows.core.settings import MissingSetting, Settings
from workflows.systems import pace
from workflows.systems.clients import timeouts
from workflows.systems.names import system_name

# One connector (one HTTP client, one cached token) per route and settings, per process.
# The settings object is kept with it: an id() can be reused once its object is gone.
_built: dict[tuple[str, int], tuple[Settings, BookingConnector]] = {}
_lock = threading.Lock()


def _where(item: BookingRequest) -> str:
    prop = property_of(item)
    return f" at property {prop}" if prop is not None else ""


def support_contact(settings: Settings, system: str, options: Mapping[str, Any] | None = None) -> str:
    """Who to contact about `system` when an error is unknown: the route's `support` option, else
    the system's `<SYSTEM>_SUPPORT_CONTACT`, else PMS_SUPPORT_CONTACT."""
    configured = (options or {}).get("support")
    if isinstance(configured, str) and configured.strip():
        return configured.strip()
    value = getattr(settings, f"{system}_support_contact", None)
    return str(value) if value else settings.pms_support_contact


def premier_payment_methods(settings: Settings) -> tuple[str, ...]:
    """The e-commerce payment methods a manual Premier deposit may go to (PREMIER_PAYMENT_METHODS)."""
    return tuple(m.strip() for m in settings.premier_payment_methods.split(",") if m.strip())


def _synxis(settings: Settings, route: Route) -> SynxisConnector:
    settings.require("synxis_api_url", "synxis_token_url", "synxis_client_id", "synxis_client_secret")
    return SynxisConnector(SynxisConfig(
        api_url=settings.secret("synxis_api_url"), token_url=settings.secret("synxis_token_url"),
        client_id=settings.secret("synxis_client_id"), client_secret=settings.secret("synxis_client_secret"),
        primary_channel=settings.synxis_primary_channel, secondary_channel=settings.synxis_secondary_channel,
        context=settings.synxis_context, support=support_contact(settings, route.system, route.options),
        payments=payments_from(route.options), timeouts=timeouts(settings)))


def _epos(settings: Settings, route: Route) -> EposConfig | None:
    """ResDiary's EPOS API for the route's restaurant; None when not configured (check-first then
    reads Data Extraction "Get Bookings", `connectors.resdiary`). A restaurant's own consumer secret and
    second secret may come from the variables its routing options name."""
    options = route.options

    def secret(option: str, setting: str) -> str:
        env = options.get(option)
        if isinstance(env, str) and env:
            return os.environ.get(env, "")
        value = getattr(settings, setting)
        return value.get_secret_value() if value is not None else ""

    consumer_secret = secret("epos_consumer_secret_env", "resdiary_epos_consumer_secret")
    second_secret = secret("epos_second_secret_env", "resdiary_epos_second_secret")
    url, oauth_url = settings.resdiary_epos_url, settings.resdiary_epos_oauth_url
    key = settings.resdiary_epos_consumer_key
    if not (url and oauth_url and key and consumer_secret and second_secret):
        return None
    return EposConfig(api_url=url, oauth_url=oauth_url, consumer_key=key, consumer_secret=consumer_secret,
                      second_secret=second_secret, scope=settings.resdiary_epos_scope)


def _resdiary(settings: Settings, route: Route) -> ResDiaryConnector:
    settings.require("resdiary_api_url", "resdiary_username", "resdiary_password")
    return ResDiaryConnector(ResDiaryConfig(
        api_url=settings.secret("resdiary_api_url"), username=settings.secret("resdiary_username"),
        password=settings.secret("resdiary_password"), channel_code=settings.resdiary_channel_code,
        epos=_epos(settings, route), support=support_contact(settings, route.system, route.options),
        timeouts=timeouts(settings)), route.options)


# Systems booked by a person, following the steps: a playbook is built without I/O.
PLAYBOOKS: dict[str, Callable[[Settings, Route], PlaybookConnector]] = {
    "premier": lambda settings, route: PremierPlaybook(premier_payment_methods(settings),
                                                       support_contact(settings, route.system, route.options)),
    "rtp": lambda settings, route: RtpPlaybook(support_contact(settings, route.system, route.options)),
    "siriusware": lambda settings, route: SiriuswarePlaybook(support_contact(settings, route.system, route.options)),
}

# connector name (connectors.routing.CONNECTORS) -> how to build it for a route
BUILDERS: dict[str, Callable[[Settings, Route], BookingConnector]] = {
    "synxis": _synxis,
    "resdiary": _resdiary,
    "pms": lambda settings, route: PmsConnector(route.options, system=route.system, timeouts=timeouts(settings),
                                                support=support_contact(settings, route.system),
                                                timezone=route.timezone or settings.local_timezone),
    **PLAYBOOKS,
}


def _describe_synxis(settings: Settings, route: Route, support: str) -> SystemDescription:
    settings.require("synxis_api_url", "synxis_token_url", "synxis_client_id", "synxis_client_secret")
    return SynxisConnector.description(support)


def _describe_resdiary(settings: Settings, route: Route, support: str) -> SystemDescription:
    settings.require("resdiary_api_url", "resdiary_username", "resdiary_password")
    return ResDiaryConnector.description(support)


def _describe_pms(settings: Settings, route: Route, support: str) -> SystemDescription:
    return PmsConnector.description(load_profile(route.options), route.system, support_contact(settings, route.system))


# How an HTTP connector's system is described for an alert: from the settings its builder
# requires (a missing one raises MissingSetting, as building it would), never by building it.
DESCRIPTIONS: dict[str, Callable[[Settings, Route, str], SystemDescription]] = {
    "synxis": _describe_synxis,
    "resdiary": _describe_resdiary,
    "pms": _describe_pms,
}


def _build(route: Route, settings: Settings) -> BookingConnector:
    return BUILDERS[route.connector](settings, route)


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


def connector_for(item: BookingRequest, settings: Settings, *, share: tuple[str, float] | None = None) -> BookingConnector:
    """A ready connector for the item's system and property, or NoConnector saying why there is none.

    With `share` ("arrivals", 0.5), a connector of its own whose requests use at most that
    share of the system's pace (`pace.share`): background work that leaves the rest to people.
    """
    try:
        route = _route(item, settings)
    except NoConnector as exc:
        exc.support = support_contact(settings, item.system)
        raise
    key = (route.key if share is None else f"{route.key}:{share[0]}:{share[1]}", id(settings))
    with _lock:
        built = _built.get(key)
        if built is not None and built[0] is settings:
            return built[1]
        try:
            connector = _build(route, settings)
        except MissingSetting as exc:
            raise NoConnector(f"the {item.system} connector is not configured ({exc}): book it by hand, "
                              "then use Booked manually", detail=str(exc),
                              support=support_contact(settings, item.system, route.options)) from exc
        if isinstance(connector, HttpConnector):  # every request at the system's pace, or a share of it
            connector.pace_with(pace.limiter(settings, route.system) if share is None
                                else pace.share(settings, route.system, share[1], share[0]))
        _built[key] = (settings, connector)
        return connector


def connector_once(item: BookingRequest, settings: Settings) -> BookingConnector:
    """A connector of its own for the item's system and property, neither shared nor paced, for a
    one-off command (`syncdesk connectors verify`); the caller closes it. NoConnector when the
    item has none or its settings are missing."""
    route = _route(item, settings)
    try:
        return _build(route, settings)
    except MissingSetting as exc:
        raise NoConnector(f"the {item.system} connector is not configured ({exc})", detail=str(exc),
                          support=support_contact(settings, item.system, route.options)) from exc


def description_for(item: BookingRequest, settings: Settings) -> SystemDescription:
    """How the item's system is booked: automatic, or the playbook filled in for this item.

    For the alert: a non-automatic description means "show these steps, not Reprocess".
    It reads the routing file and the settings only: an HTTP connector is never built to
    describe an item (rendering does no I/O beyond this), a playbook is (it has no client).
    """
    try:
        route = _route(item, settings)
        support = support_contact(settings, route.system, route.options)
        if route.connector in DESCRIPTIONS:
            return DESCRIPTIONS[route.connector](settings, route, support)
        return PLAYBOOKS[route.connector](settings, route).describe_item(item)
    except MissingSetting as exc:
        problem = (f"the {item.system} connector is not configured ({exc}): book it by hand, "
                   "then use Booked manually")
    except (NoConnector, ValueError) as exc:  # no route, or a PMS profile that does not load
        problem = exc.message if isinstance(exc, NoConnector) else str(exc)
    return SystemDescription(system=item.system, name=item.system, booked_means="booked by hand",
                             automatic=False, playbook=(problem,), support=support_contact(settings, item.system))


def timezone_for(item: BookingRequest, settings: Settings) -> str:
    """Where the item's property is: its routing entry's timezone, else LOCAL_TIMEZONE (UTC by default)."""
    return timezone_at(item.system, item.details, settings)


def timezone_at(system: str, details: Mapping[str, Any], settings: Settings) -> str:
    """`timezone_for` from an item's system and details."""
    try:
        return routing_for(settings.connectors_file).timezone_for(system, details) or settings.local_timezone
    except RoutingError:  # a bad file stops the start; `syncdesk connectors` says why
        return settings.local_timezone


def zones_in_routing(settings: Settings) -> set[str]:
    """Every time zone the routing file gives a system or property."""
    try:
        return {route.timezone for route in routing_for(settings.connectors_file).routes() if route.timezone}
    except RoutingError:  # a bad file stops the start; `syncdesk connectors` says why
        return set()


def books_automatically(item: BookingRequest, settings: Settings) -> bool:
    """False when the item's connector is a manual playbook (no booking API: premier, rtp,
    siriusware by default): Reprocess and the automatic retry cannot book it. True when a
    booking connector serves it, or when one would but its settings are missing (the job then
    records which setting)."""
    try:
        return connector_for(item, settings).describe().automatic
    except NoConnector:
        return True


def not_bookable(item: BookingRequest, settings: Settings) -> str | None:
    """Why no job can book the item now (no connector routed to it, or its settings missing: the
    message names them), or None when one can. An automatic retry is pointless then."""
    try:
        connector_for(item, settings)
    except NoConnector as exc:
        return exc.message
    return None


def destination_at(system: str, details: Mapping[str, Any], settings: Settings, surface: str) -> str | None:
    """Where an item's alerts go on `surface` ("slack" | "teams") by the routing file: its
    property's `channel` / `teams_conversation`, else its system's; None: the surface's default."""
    try:
        return routing_for(settings.connectors_file).destination(system, details, surface)
    except RoutingError:  # a bad file stops the start; `syncdesk connectors` says why
        return None


def channel_for_system(system: str, settings: Settings, surface: str = "slack") -> str:
    """Where a system's alerts go as a whole (its `default` entry), else the surface's default:
    the outage message of that system belongs there too."""
    default = settings.slack_alert_channel if surface == "slack" else (settings.teams_conversation_id or "")
    return destination_at(system, {}, settings, surface) or default


def coverage(settings: Settings, surface: str = "slack") -> list[tuple[str, str]]:
    """(channel, what it covers) for every channel the routing file names, then the default one
    with "everything else": what the digest says per channel."""
    try:
        routing = routing_for(settings.connectors_file)
    except RoutingError:
        return []
    covers: dict[str, list[str]] = {}
    for route in routing.routes():
        place = route.place(surface)
        if place:
            what = system_name(route.system) + (f" at {route.property}" if route.property else "")
            covers.setdefault(place, []).append(what)
    default = settings.slack_alert_channel if surface == "slack" else (settings.teams_conversation_id or "")
    rows = [(place, ", ".join(sorted(what))) for place, what in sorted(covers.items())]
    return rows + ([(default, "everything else")] if default and rows else [])


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
