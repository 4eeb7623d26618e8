"""Configuration: every variable of DESIGN §3.3, read from the environment and `.env`.

One typed model, checked whole when a process or command starts: a bad value is refused
with one line per setting naming it, what it got (secrets masked) and what it accepts
(`problems`); `syncdesk config` shows every setting, its source and whether it is valid
(`report`). The `.env` read is the current directory's, else the project's, and a relative
SQLite path is next to that `.env` (else in the project): one database wherever a command
runs from. Secrets are `SecretStr` so they never appear in logs or reprs. `require()` is how
a component that cannot run without a secret fails at start with the variable's name.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict


class MissingSetting(RuntimeError):
    """A required variable is not set; the message names it."""


PROJECT = Path(__file__).resolve().parents[2]
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")
DATABASE_URLS = ("sqlite:///PATH (a relative PATH is next to the .env, else in the project) or "
                 "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE")
REDIS_URLS = "redis://[:PASSWORD@]HOST:PORT/DB, rediss://… (TLS) or unix:///PATH"
PACE = "RATE/AT_ONCE, e.g. 5/4 (requests per second above 0 / at least 1 booking at once)"
PACES = ("SYSTEM=RATE/AT_ONCE, comma-separated, e.g. synxis=20/8,resdiary=5/2 (requests per second above 0 / "
         "at least 1 booking at once), or nothing")
TIME_OF_DAY = "a local time HH:MM (00:00 to 23:59) or off"
_TIME_OF_DAY = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d")
_URL_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")
MASKED = "********"


def project_dir() -> Path:
    """The checkout syncdesk runs from (where its pyproject.toml is), else the current directory."""
    return PROJECT if (PROJECT / "pyproject.toml").is_file() else Path.cwd()


def env_file() -> Path | None:
    """The `.env` every command reads: the current directory's, else the project's."""
    for folder in (Path.cwd(), project_dir()):
        if (folder / ".env").is_file():
            return folder / ".env"
    return None


def mask_url(text: str) -> str:
    """`text` with a URL's password, if any, replaced by ***."""
    return _URL_PASSWORD.sub(r"\1***@", text)


def parse_pace(text: str) -> tuple[float, int]:
    """'requests per second/bookings at once' (e.g. 20/8) as numbers; ValueError if it is not one."""
    rate_text, _, concurrency_text = text.strip().partition("/")
    try:
        rate, concurrency = float(rate_text), int(concurrency_text or "1")
    except ValueError:
        raise ValueError(f"{text!r} is not 'requests per second/bookings at once', e.g. 20/8") from None
    if not (rate > 0 and math.isfinite(rate)) or concurrency < 1:
        raise ValueError(f"{text!r}: the rate must be above 0 and the concurrency at least 1")
    return rate, concurrency


def parse_paces(text: str) -> dict[str, tuple[float, int]]:
    """SYSTEM_PACE ("synxis=20/8,resdiary=5/2") by lower-cased system; ValueError names the bad entry."""
    out: dict[str, tuple[float, int]] = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        system, sep, value = entry.partition("=")
        if not sep or not system.strip():
            raise ValueError(f"SYSTEM_PACE: {entry!r} is not system=rate/concurrency, e.g. synxis=20/8")
        try:
            out[system.strip().lower()] = parse_pace(value)
        except ValueError as exc:
            raise ValueError(f"SYSTEM_PACE {system.strip()}: {exc}") from None
    return out


def _refused(accepts: str) -> PydanticCustomError:
    """A value a validator refuses; the message is what the setting accepts."""
    return PydanticCustomError("setting", "{accepts}", {"accepts": accepts})


def _resolve_sqlite(url: str, base: Path) -> str:
    """A relative SQLite path made absolute under `base`; any other URL as it is."""
    scheme, sep, path = url.partition(":///")
    if not scheme.startswith("sqlite") or not sep or not path or path.startswith(("/", ":memory:", "file:")):
        return url
    return f"{scheme}:///{base / path}"


class Settings(BaseSettings):
    # The `.env` read is chosen when the settings are made (`__init__`, `env_file`), not here.
    model_config = SettingsConfigDict(env_file=None, env_file_encoding="utf-8", extra="ignore")

    database_url: str = "sqlite:///syncdesk.db"
    redis_url: str = "redis://localhost:6379/0"
    queue_name: str = "syncdesk"

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_alert_channel: str = "#reservations-alerts"
    slack_api_url: str = "https://slack.com/api/"
    slack_allowed_usergroup: str | None = None
    # Who may act when no group is configured (SLACK_ALLOWED_USERGROUP, TEAMS_ALLOWED_USERS/GROUP):
    # nobody (fail closed), unless this says everyone in the workspace or tenant may.
    allow_any_member: bool = False

    # Logs: LOG_LEVEL (DEBUG shows the clock's routine), LOG_FORMAT text or json (one object per line)
    log_level: str = "INFO"
    log_format: str = "text"
    # Where `syncdesk serve` listens (HOST=0.0.0.0: every address), how many web and worker
    # processes the commands start by default, and where `syncdesk ingest` posts
    host: str = "127.0.0.1"
    port: int = Field(8000, gt=0, le=65535)
    web_concurrency: int = Field(1, gt=0)
    worker_processes: int = Field(1, gt=0)
    syncdesk_url: str | None = None  # default http://127.0.0.1:PORT

    ingest_secret: SecretStr | None = None
    ingest_max_bytes: int = Field(256 * 1024, gt=0)
    signature_tolerance_seconds: int = Field(300, gt=0)

    auto_retry_after_seconds: int = Field(120, ge=0)
    stuck_after_minutes: int = Field(15, gt=0)
    poll_interval_seconds: int = Field(60, gt=0)
    recheck_open_minutes: float = Field(10, gt=0)  # how often orders with an open alert are read again from the platform
    recheck_batch: int = Field(100, gt=0)  # ... at most this many per run, least recently checked first

    platform_api_url: str | None = None
    platform_api_key: SecretStr | None = None

    stripe_api_key: SecretStr | None = None
    stripe_api_base: str = "https://api.stripe.com"

    # SynXis (connectors/synxis.py). Sabre Hospitality's token credentials are an API user name
    # and password: SYNXIS_CLIENT_ID holds the user name, SYNXIS_CLIENT_SECRET the password.
    synxis_api_url: str | None = None
    synxis_token_url: str | None = None  # e.g. https://{host}/v1/auth/token
    synxis_client_id: str | None = None
    synxis_client_secret: SecretStr | None = None
    synxis_primary_channel: str = "SYNXISWS_BE"
    synxis_secondary_channel: str = "WEB"
    synxis_context: str = ""  # the `Context` header value SynXis gave the integration, if any

    # Which connector handles an item, by system and property (connectors/routing.py);
    # unset: each system's built-in default.
    connectors_file: str | None = None
    resdiary_api_url: str | None = None
    resdiary_username: str | None = None
    resdiary_password: SecretStr | None = None
    resdiary_channel_code: str = "ONLINE"
    # ResDiary's EPOS API (the diary the check-first reads), OAuth 1.0a as in ResDiary's own
    # examples (github.com/ResDiary/ResDiary-OAuth-Examples): consumer key and secret, the
    # restaurant's second secret. A routing entry may name other variables for one restaurant
    # (options epos_consumer_secret_env / epos_second_secret_env).
    resdiary_epos_url: str | None = None  # e.g. https://app.resdiary.com (sandbox http://app.rdbranch.com)
    resdiary_epos_oauth_url: str | None = None  # e.g. https://app.resdiary.com/OAuth/V10a
    resdiary_epos_consumer_key: str | None = None
    resdiary_epos_consumer_secret: SecretStr | None = None
    resdiary_epos_second_secret: SecretStr | None = None
    resdiary_epos_scope: str = "http://app.restaurantdiary.com/WebServices/Epos/v1"
    # Base URLs the operator marks as vendors' test environments (comma-separated, e.g. a SynXis
    # UAT SYNXIS_API_URL): `syncdesk connectors verify --sandbox` books and cancels only there.
    sandbox_urls: str = ""
    # Who to contact about each system when an error is unknown (shown as the alert's next step).
    # Aspenware's is published (shared/sources/001: "contact Aspenware at support@aspenware.com");
    # the others publish no support address: set the one your contract names.
    synxis_support_contact: str = "Sabre Hospitality (SynXis) support, through your Sabre account manager"
    resdiary_support_contact: str = "ResDiary support (The Access Group)"
    premier_support_contact: str = "EMS Premier support"
    rtp_support_contact: str = "Aspenware support (support@aspenware.com)"
    siriusware_support_contact: str = "Siriusware (accesso) support"
    pms_support_contact: str = "the PMS vendor's support"  # a routing entry's `support` option wins
    # EMS Premier: the e-commerce payment methods a manual booking's deposit may go to (comma-separated)
    premier_payment_methods: str = "onejourney,ecommerce,revspa"
    # Retail items awaiting dispatch longer than this are listed in one reminder (workflows/retail/service.py)
    retail_remind_after_hours: int = Field(24, gt=0)

    # Each booking system's pace (workflows/systems/pace.py), shared by every worker: requests per
    # second / bookings at once, e.g. "synxis=20/8,resdiary=5/2"; the others use the default. A
    # 429, 5xx or timeout halves the rate (Retry-After honoured); successes grow it back over
    # PACE_RAMP_SECONDS. A request waits at most PACE_MAX_WAIT_SECONDS for its turn.
    system_pace: str = ""
    system_pace_default: str = "5/4"
    pace_ramp_seconds: float = Field(60.0, gt=0)
    pace_max_wait_seconds: float = Field(60.0, gt=0)

    # Production waits, settings so a test can shorten them (issue 22):
    alert_refresh_seconds: float = Field(3.0, gt=0)  # an order's alert is re-rendered at most once per this, per surface
    outage_refresh_seconds: float = Field(5.0, gt=0)  # an outage message is rewritten at most once per this
    chat_pace_seconds: float = Field(1.0, gt=0)  # Slack: one message per second per channel (Slack's rate limits page)
    scheduler_poll_seconds: float = Field(0.5, gt=0)  # how often RQ's scheduled jobs (delayed retries) are moved when due
    # An idle `worker --clock` blocks on Redis at least this long at a time (a new job wakes it at
    # once): how late its clock may look at what is due
    worker_min_wait_seconds: float = Field(1.0, gt=0)
    cli_wait_report_seconds: float = Field(5.0, gt=0)  # how often a CLI action waiting for its outcome says it still waits

    connect_timeout_seconds: float = Field(5.0, gt=0)
    read_timeout_seconds: float = Field(30.0, gt=0)

    teams_app_id: str | None = None
    teams_app_password: SecretStr | None = None
    teams_tenant_id: str | None = None
    teams_service_url: str | None = None
    teams_conversation_id: str | None = None
    # Inbound Bot Connector tokens (learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-authentication)
    teams_openid_metadata_url: str = "https://login.botframework.com/v1/.well-known/openidconfiguration"
    teams_token_issuer: str = "https://api.botframework.com"
    # Outbound tokens: msal client credentials against {authority host}/{tenant}
    teams_authority_host: str = "https://login.microsoftonline.com"
    teams_token_scope: str = "https://api.botframework.com/.default"
    teams_ca_bundle: str | None = None  # extra CA file for the token endpoint (staging, tests)
    teams_graph_url: str = "https://graph.microsoft.com"
    # Who may act: Entra ID object ids (comma-separated) and/or members of one Entra ID group
    teams_allowed_users: str | None = None
    teams_allowed_group: str | None = None

    # On-call and alert workflows (issue 6): rotation, escalation, outages, digest, reconciliation
    oncall_file: str | None = None  # YAML rotation (examples/oncall.yml)
    local_timezone: str = "UTC"  # the resort's zone: arrival days, the digest's day, daily job times
    escalation_dm_after_minutes: float = Field(15, ge=0)
    escalation_dm_after_minutes_soon: float = Field(5, ge=0)  # when the guest arrives within ESCALATION_SOON_WITHIN_HOURS
    escalation_soon_within_hours: float = Field(24, ge=0)
    escalation_channel_after_minutes: float = Field(15, ge=0)  # after the direct message
    escalation_mention: str = "@here"  # or a user group, e.g. <!subteam^S0123|reservations>
    escalation_check_seconds: int = Field(30, gt=0)
    # An acknowledgement pauses escalation this long; still unresolved then, it resumes
    ack_timeout_minutes: float = Field(60, gt=0)
    ack_timeout_minutes_soon: float = Field(15, gt=0)  # when the guest arrives within ESCALATION_SOON_WITHIN_HOURS
    pagerduty_routing_key: SecretStr | None = None
    pagerduty_events_url: str = "https://events.pagerduty.com"
    outage_threshold: int = Field(5, gt=0)  # failures for one system ...
    outage_window_minutes: float = Field(10, gt=0)  # ... within this window open an incident; quiet this long closes it
    outage_reprocess_pace_seconds: int = Field(10, ge=0)  # between the Reprocess jobs of "Reprocess all"
    # Maintenance windows (issue 26, workflows.outage.maintenance): how often the clock starts and
    # ends them (a window's failures get the outage's view and Reprocess all within this of its end)
    maintenance_check_seconds: float = Field(30, gt=0)
    digest_time: str = "08:00"  # local time the daily digest (of yesterday) is posted; "off": never
    digest_channel: str | None = None  # defaults to SLACK_ALERT_CHANNEL
    digest_theme_days: int = Field(3, gt=0)  # the same class at the same system on this many days is a theme
    digest_lookback_days: int = Field(7, gt=0)
    # The digest's chart of failures per day by system over 14 days (issue 26.7): a Slack file
    # beside the digest, an image in the Teams card. Needs the charts extra (matplotlib).
    digest_chart: Literal["on", "off"] = "on"
    reconcile_time: str = "07:00"  # local time of the daily reconciliation; "off": never
    reconcile_in_progress_after_minutes: int = Field(60, ge=0)  # paid but still In Progress after this is a mismatch
    reconcile_lookback_days: int = Field(14, gt=0)
    # The arrival check (issue 25): at this local time in each property's zone ("off": never),
    # for today and this many days ahead, using at most this share of each system's pace;
    # items it could not check are tried again after ARRIVALS_RETRY_MINUTES.
    arrivals_check_at: str = "06:00"
    # The dead man's switch (issue 26, workflows.oncall.deadman): the web process checks every
    # HEARTBEAT_CHECK_SECONDS that the clock ticked and a worker was alive within
    # HEARTBEAT_MINUTES, and that the poller has not failed POLLER_FAILURES_ALERT times in a row.
    # "Message guest" (issue 26.6): the per-kind texts of the guest message drafts (YAML), else the built-in ones
    guest_message_file: str | None = None
    heartbeat_minutes: float = Field(5, gt=0)
    heartbeat_check_seconds: float = Field(30, gt=0)
    poller_failures_alert: int = Field(3, ge=1)
    arrivals_days_ahead: int = Field(1, ge=0, le=14)
    arrivals_share: float = Field(0.5, gt=0, le=1)
    arrivals_retry_minutes: float = Field(30, gt=0)
    platform_order_url: str | None = None  # the admin page of an order, e.g. https://admin.example.com/orders/{order_id}
    # Guest data (issue 28, workflows/guests): a done order's guest name, e-mail and phone are
    # erased this many days after its last activity, by a daily job at GUEST_RETENTION_TIME
    # (local time; "off": never); chat shows them in full or masked (a permitted person reveals).
    guest_data_days: int = Field(90, ge=1)
    guest_retention_time: str = "03:00"
    chat_guest_details: Literal["full", "masked"] = "full"

    def __init__(self, **values: Any) -> None:
        """Read the environment and `.env` (the current directory's, else the project's; a test
        passes `_env_file=None`), then place a relative SQLite path next to that `.env`."""
        values.setdefault("_env_file", env_file())
        super().__init__(**values)
        read = values["_env_file"]
        self.database_url = _resolve_sqlite(
            self.database_url, Path(read).parent if isinstance(read, (str, Path)) else project_dir())

    def require(self, *names: str) -> None:
        """Raise MissingSetting naming every variable in `names` that is unset."""
        missing = [n.upper() for n in names if getattr(self, n) in (None, "")]
        if missing:
            raise MissingSetting(
                f"missing required setting{'s' if len(missing) > 1 else ''}: {', '.join(missing)} "
                f"(set {'them' if len(missing) > 1 else 'it'} in the environment or in .env)"
            )

    def secret(self, name: str) -> str:
        """The plain value of a secret, after `require` has checked it is set."""
        self.require(name)
        value = getattr(self, name)
        return value.get_secret_value() if isinstance(value, SecretStr) else str(value)

    # What each setting accepts beyond its type (bounds are in its Field): a refusal says it.
    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        scheme, sep, rest = value.partition("://")
        if sep and scheme in ("postgresql", "postgres"):  # no driver named: the one syncdesk installs
            value = f"postgresql+psycopg://{rest}"
        try:
            driver = make_url(value).drivername
        except (ArgumentError, ValueError):
            raise _refused(DATABASE_URLS) from None
        if driver not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
            raise _refused(DATABASE_URLS)
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        from redis.connection import parse_url

        try:
            parse_url(value)
        except ValueError:
            raise _refused(REDIS_URLS) from None
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.strip().upper() not in LOG_LEVELS:
            raise _refused(", ".join(LOG_LEVELS[:-1]) + f" or {LOG_LEVELS[-1]}")
        return value.strip().upper()

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        if value.strip().lower() not in LOG_FORMATS:
            raise _refused("text or json")
        return value.strip().lower()

    @field_validator("digest_time", "reconcile_time", "arrivals_check_at", "guest_retention_time", check_fields=False)
    @classmethod
    def _time_of_day(cls, value: str) -> str:
        text = value.strip().lower()
        if text == "off":
            return text
        if not _TIME_OF_DAY.fullmatch(text.zfill(5)):
            raise _refused(TIME_OF_DAY)
        return text.zfill(5)  # 7:30 is 07:30

    @field_validator("local_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise _refused("an IANA time zone, e.g. UTC or Europe/London") from None
        return value

    @field_validator("system_pace")
    @classmethod
    def _system_pace(cls, value: str) -> str:
        try:
            parse_paces(value)
        except ValueError:
            raise _refused(PACES) from None
        return value

    @field_validator("system_pace_default")
    @classmethod
    def _system_pace_default(cls, value: str) -> str:
        try:
            parse_pace(value)
        except ValueError:
            raise _refused(PACE) from None
        return value


_installed: Settings | None = None


def install(settings: Settings | None) -> None:
    """Make `settings` what `get_settings()` answers in this process from now on: a worker's
    jobs then run with exactly the settings it started with and checked. None goes back to
    reading the environment."""
    global _installed
    _installed = settings
    _from_environment.cache_clear()


def installed() -> Settings | None:
    """The settings `install` made this process's, if any."""
    return _installed


def get_settings() -> Settings:
    """This process's settings: the installed ones, else the environment's (read once)."""
    return _installed if _installed is not None else _from_environment()


@lru_cache(maxsize=1)
def _from_environment() -> Settings:
    return Settings()


@dataclass(frozen=True)
class SettingLine:
    """One setting as `syncdesk config` shows it."""

    name: str  # the variable, e.g. DATABASE_URL
    value: str  # what it is (secrets masked; "(unset)")
    source: str  # environment, .env or default
    problem: str  # "" when valid, else what the setting accepts


def accepts(name: str) -> str:
    """What setting `name` (a field name) accepts, from its type and bounds."""
    field = Settings.model_fields[name]
    kind: Any = field.annotation
    if get_origin(kind) is Literal:
        return " or ".join(map(str, get_args(kind)))
    kind = next((a for a in get_args(kind) if a is not type(None)), kind)  # X | None: X
    words = {int: "a whole number", float: "a number", bool: "true or false"}.get(kind, "text")
    bounds = [f"{word} {getattr(m, attr)}" for m in field.metadata for cls_, word, attr in (
        (Gt, "above", "gt"), (Ge, "at least", "ge"), (Lt, "below", "lt"), (Le, "at most", "le")) if isinstance(m, cls_)]
    return " ".join([words, " and ".join(bounds)]).strip()


def _read_from(path: Path | None) -> tuple[dict[str, str], dict[str, str]]:
    """The environment's and the `.env`'s variables, by lower-cased name (as pydantic-settings reads them)."""
    from dotenv import dotenv_values

    dotenv = {k.lower(): v for k, v in dotenv_values(path).items() if v is not None} if path else {}
    return {k.lower(): v for k, v in os.environ.items()}, dotenv


def _shown(name: str, value: Any) -> str:
    if value is None or value == "":
        return "(unset)"
    annotation = Settings.model_fields[name].annotation
    if isinstance(value, SecretStr) or SecretStr in (annotation, *get_args(annotation)):
        return MASKED
    if isinstance(value, bool):
        return str(value).lower()
    return mask_url(str(value))


def problems(exc: ValidationError) -> list[str]:
    """One line per bad setting of a failed `Settings()`: its name, what it got (secrets
    masked), where from, and what it accepts."""
    path = env_file()
    environ, dotenv = _read_from(path)
    lines: list[str] = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        if name not in Settings.model_fields:
            lines.append(f"bad setting: {error['msg']}")
            continue
        origin = ("the environment" if name in environ else str(path) if name in dotenv else "the code")
        got = _shown(name, error["input"])
        got = got if got in (MASKED, "(unset)") else repr(got)
        wanted = error["msg"] if error["type"] == "setting" else accepts(name)
        lines.append(f"bad setting {name.upper()}={got} (from {origin}): accepts {wanted}")
    return lines


def report() -> tuple[Path | None, list[SettingLine]]:
    """Every setting with its value (secrets masked), its source and whether it is valid; and
    the `.env` read, if any. Bad values are reported, not raised."""
    path = env_file()
    environ, dotenv = _read_from(path)
    try:
        settings, bad = Settings(), {}
    except ValidationError as exc:
        bad = {str(e["loc"][0]): e for e in exc.errors() if e["loc"]}
        settings = Settings(**{n: Settings.model_fields[n].default for n in bad if n in Settings.model_fields})
    lines = []
    for name in Settings.model_fields:
        source = "environment" if name in environ else ".env" if name in dotenv else "default"
        if name in bad:
            error = bad[name]
            lines.append(SettingLine(name.upper(), _shown(name, error["input"]), source,
                                     error["msg"] if error["type"] == "setting" else accepts(name)))
        else:
            lines.append(SettingLine(name.upper(), _shown(name, getattr(settings, name)), source, ""))
    return path, lines
