"""Which connector handles an item: configuration by system and property, validated at start.

Without `CONNECTORS_FILE` every system uses its built-in default (`DEFAULTS`): SynXis and
ResDiary their API connectors; EMS Premier, Aspenware RTP|One and Siriusware their manual
playbooks; the generic PMS nothing until configured. `CONNECTORS_FILE` names a YAML (or
JSON) file that overrides them per system and per property:

    premier:
      default: premier                # the playbook
      properties:
        MAINSPA:                      # a spa whose Premier has REST middleware
          connector: pms
          options: {name: "Premier middleware", base_url: "https://mw.example", ...}
    pms:
      properties:
        HARBOURVIEW:
          connector: pms
          options: {profile: mews, base_url: "https://api.mews.com", constants: {service_id: "…"},
                    age_categories: {adult: "…", child: "…"},
                    maps: {room_type: {SUPD: "…"}, rate_plan: {RO: "…"}}}
    resdiary:
      properties:
        TheGrillRoom: {connector: resdiary, options: {epos_restaurant_id: 4321}}
        TheBar: none                  # no connector here: book it by hand

An entry is a connector name, `none`, or `{connector, options, timezone, channel,
teams_conversation}`. Any entry's options may name its own `support` contact (who to contact
about unknown errors there); `timezone` (an IANA zone, e.g. Europe/London) is where that
property or system is: "arrives today" and the escalation's "arrives within a day" are counted
there (default: LOCAL_TIMEZONE). `channel` (a Slack channel, `#spa-alerts` or its id) and
`teams_conversation` (a Teams channel's conversation id) are where that property's or
system's alerts go (issue 14; default: SLACK_ALERT_CHANNEL, TEAMS_CONVERSATION_ID). An entry
that names only where things go keeps the connector it would have had (`{channel: "#spa"}`).
`maintenance` lists the entry's recurring maintenance windows (issue 26), each `{from: "02:00",
to: "03:00", reason: "night audit", days: [mon, …]}` in the entry's `timezone` (`days`, the
days a window starts on, default every day; `to` before `from` ends the next day):
`workflows.outage.maintenance` holds the failures in them. A property entry wins over
the system's `default`, which wins over the built-in default. Errors are `RoutingError`,
whose message names `CONNECTORS_FILE` and the bad entry; `workflows.systems.registry.check`
runs this at start and also builds every connector the file names, so missing
credentials show at start too.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from connectors.types import BookingRequest

# The connectors a route may name (`workflows.systems.registry` builds each one).
CONNECTORS = ("synxis", "resdiary", "pms", "premier", "rtp", "siriusware")
SYSTEMS = ("synxis", "premier", "resdiary", "rtp", "siriusware", "pms")  # DESIGN §3.1
DEFAULTS: dict[str, str] = {s: s for s in SYSTEMS if s != "pms"}
NONE = "none"
# The item details that name its property, in the order they are looked for.
PROPERTY_KEYS = ("hotel_id", "property_id", "property_code", "site_code", "site_id", "restaurant_id")


class RoutingError(ValueError):
    """The routing configuration is wrong; the message names the setting and the entry."""


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class MaintenanceRule:
    """A recurring maintenance window of a route (`maintenance:` in its entry), in local time."""

    starts: dt.time
    ends: dt.time  # before `starts`: the window ends the next day
    reason: str
    days: tuple[int, ...] = tuple(range(7))  # the weekdays it starts on, Monday = 0


@dataclass(frozen=True)
class Route:
    system: str
    property: str | None  # None: the system's default
    connector: str  # a key of CONNECTORS, or "none"
    options: Mapping[str, Any] = field(default_factory=dict)
    configured: bool = True  # named in CONNECTORS_FILE (False: a built-in default)
    timezone: str | None = None  # the property's or system's zone (None: LOCAL_TIMEZONE)
    channel: str | None = None  # where its alerts go in Slack (None: SLACK_ALERT_CHANNEL)
    teams_conversation: str | None = None  # ... and in Teams (None: TEAMS_CONVERSATION_ID)
    maintenance: tuple[MaintenanceRule, ...] = ()  # its recurring maintenance windows (issue 26)

    @property
    def key(self) -> str:
        return f"{self.system}@{self.property or '*'}"

    def place(self, surface: str) -> str | None:
        return {"slack": self.channel, "teams": self.teams_conversation}.get(surface)


@dataclass(frozen=True)
class Routing:
    source: str  # the file, or "built-in defaults"
    defaults: Mapping[str, Route]
    properties: Mapping[tuple[str, str], Route]

    def resolve(self, item: BookingRequest) -> Route | None:
        """The route for the item: its property's, else its system's default; None when neither."""
        prop = property_of(item)
        route = self.properties.get((item.system, prop)) if prop is not None else None
        if route is None:
            route = self.defaults.get(item.system)
        return None if route is None or route.connector == NONE else route

    def timezone_for(self, system: str, details: Mapping[str, Any]) -> str | None:
        """The zone of an item's property (else its system's), when the file names one."""
        prop = property_in(details)
        route = self.properties.get((system, prop)) if prop is not None else None
        if route is not None and route.timezone:
            return route.timezone
        route = self.defaults.get(system)
        return route.timezone if route is not None else None

    def destination(self, system: str, details: Mapping[str, Any], surface: str) -> str | None:
        """Where an item's alerts go on `surface` ("slack" | "teams"): its property's entry,
        else its system's; None when the file names no place (the surface's default)."""
        prop = property_in(details)
        for route in (self.properties.get((system, prop)) if prop is not None else None, self.defaults.get(system)):
            place = route.place(surface) if route is not None else None
            if place:
                return place
        return None

    def routes(self) -> list[Route]:
        return [*self.defaults.values(), *self.properties.values()]


def property_of(item: BookingRequest) -> str | None:
    return property_in(item.details)


def property_in(details: Mapping[str, Any]) -> str | None:
    """The property an item's details name, by the first of PROPERTY_KEYS present."""
    for key in PROPERTY_KEYS:
        value = details.get(key)
        if value not in (None, ""):
            return str(value)
    return None


def builtin() -> Routing:
    return Routing("built-in defaults", {s: Route(s, None, c, configured=False) for s, c in DEFAULTS.items()}, {})


_KEYS = ("connector", "options", "timezone", "channel", "teams_conversation", "maintenance")


def _clock_time(value: Any, where: str) -> dt.time:
    if isinstance(value, int) and 0 <= value < 24 * 60:
        return dt.time(value // 60, value % 60)  # YAML 1.1 reads an unquoted 02:00 as 120 (base 60)
    try:
        return dt.time.fromisoformat(str(value).strip().zfill(5))
    except ValueError:
        raise RoutingError(f"{where}: expected a local time HH:MM, e.g. \"02:00\", got {value!r}") from None


def _maintenance(source: str, where: str, value: Any) -> tuple[MaintenanceRule, ...]:
    """An entry's `maintenance:` list, validated."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise RoutingError(f"{source}: {where}.maintenance: expected a list of {{from, to, reason, days}}")
    rules = []
    for n, entry in enumerate(value):
        at = f"{source}: {where}.maintenance[{n}]"
        if not isinstance(entry, dict) or not {"from", "to"} <= set(entry) or set(entry) - {"from", "to", "reason",
                                                                                              "days"}:
            raise RoutingError(f"{at}: expected {{from: HH:MM, to: HH:MM, reason: TEXT, days: [mon, …]}}")
        starts, ends = _clock_time(entry["from"], f"{at}.from"), _clock_time(entry["to"], f"{at}.to")
        if starts == ends:
            raise RoutingError(f"{at}: from and to are the same time")
        days = entry.get("days") or list(WEEKDAYS)
        names = [str(d).strip().lower()[:3] for d in days] if isinstance(days, list) else None
        if not names or any(d not in WEEKDAYS for d in names):
            raise RoutingError(f"{at}.days: expected a list of weekdays ({', '.join(WEEKDAYS)}), got {days!r}")
        rules.append(MaintenanceRule(starts, ends, str(entry.get("reason") or "maintenance").strip(),
                                     tuple(sorted({WEEKDAYS.index(d) for d in names}))))
    return tuple(rules)


def _route(source: str, where: str, system: str, prop: str | None, entry: Any, inherit: Route | None = None) -> Route:
    if isinstance(entry, str):
        entry = {"connector": entry}
    if entry is None:
        entry = {"connector": NONE}
    if not isinstance(entry, dict):
        raise RoutingError(f"{source}: {where}: expected a connector name or {{connector, options}}, got {entry!r}")
    unknown = set(entry) - set(_KEYS)
    if unknown:
        raise RoutingError(f"{source}: {where}: unknown key(s) {', '.join(sorted(unknown))} "
                           f"(an entry has {', '.join(_KEYS)})")
    for key in ("channel", "teams_conversation"):
        if key in entry and (not isinstance(entry[key], str) or not entry[key].strip()):
            raise RoutingError(f"{source}: {where}.{key}: expected a channel name or id, got {entry[key]!r}")
    # An entry naming only where things go keeps the connector it would have had, checked at
    # start only if that one was named in the file.
    configured = "connector" in entry or (inherit is not None and inherit.configured)
    if "connector" not in entry:
        entry = {**entry, "connector": inherit.connector if inherit else DEFAULTS.get(system, NONE),
                 "options": entry.get("options", dict(inherit.options) if inherit else {})}
    timezone = entry.get("timezone")
    if timezone is not None:
        try:
            ZoneInfo(str(timezone))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise RoutingError(f"{source}: {where}.timezone: unknown timezone {timezone!r} "
                               "(an IANA name such as Europe/London)") from exc
    name = entry.get("connector")
    if name != NONE and name not in CONNECTORS:
        raise RoutingError(f"{source}: {where}.connector: unknown connector {name!r} "
                           f"(known: {', '.join([*sorted(CONNECTORS), NONE])})")
    options = entry.get("options") or {}
    if not isinstance(options, dict):
        raise RoutingError(f"{source}: {where}.options: expected a mapping, got {options!r}")
    if name == "pms":
        from connectors.pms import load_profile

        try:
            load_profile(options)
        except ValueError as exc:
            raise RoutingError(f"{source}: {where}.options: {exc}") from exc
    return Route(system, prop, name, options, configured=configured,
                 timezone=str(timezone) if timezone is not None else None,
                 channel=entry.get("channel"), teams_conversation=entry.get("teams_conversation"),
                 maintenance=_maintenance(source, where, entry.get("maintenance")))


def parse(data: Any, source: str) -> Routing:
    """The routing a decoded file describes, over the built-in defaults."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RoutingError(f"{source}: expected a mapping of system -> entry at the top level")
    defaults = dict(builtin().defaults)
    properties: dict[tuple[str, str], Route] = {}
    for system, entry in data.items():
        if system not in SYSTEMS:
            raise RoutingError(f"{source}: {system}: unknown system (known: {', '.join(SYSTEMS)})")
        if not isinstance(entry, dict) or not set(entry) <= {"default", "properties"}:
            raise RoutingError(f"{source}: {system}: expected 'default' and/or 'properties'")
        if "default" in entry:
            defaults[system] = _route(source, f"{system}.default", system, None, entry["default"])
        props = entry.get("properties") or {}
        if not isinstance(props, dict):
            raise RoutingError(f"{source}: {system}.properties: expected a mapping of property -> entry")
        for prop, prop_entry in props.items():
            where = f"{system}.properties.{prop}"
            properties[(system, str(prop))] = _route(source, where, system, str(prop), prop_entry,
                                                     inherit=defaults.get(system))
    kept = {s: r for s, r in defaults.items()
            if r.connector != NONE or r.channel or r.teams_conversation or r.maintenance}
    return Routing(source, kept, properties)


@lru_cache(maxsize=8)
def load(path: str) -> Routing:
    """Read and validate a routing file (YAML, or JSON by its .json suffix)."""
    source = f"CONNECTORS_FILE {path}"
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise RoutingError(f"{source}: cannot read it ({exc.strerror or exc})") from exc
    try:
        data = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise RoutingError(f"{source}: not valid {'JSON' if file.suffix == '.json' else 'YAML'}: {exc}") from exc
    return parse(data, source)


def routing_for(connectors_file: str | None) -> Routing:
    return load(connectors_file) if connectors_file else builtin()
