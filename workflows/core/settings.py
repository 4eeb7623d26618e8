"""Configuration: every variable of DESIGN §3.3, read from the environment and `.env`.

Secrets are `SecretStr` so they never appear in logs or reprs. `require()` is how a
component that cannot run without a secret fails at start with the variable's name.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class MissingSetting(RuntimeError):
    """A required variable is not set; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

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

    ingest_secret: SecretStr | None = None
    ingest_max_bytes: int = 256 * 1024
    signature_tolerance_seconds: int = 300

    auto_retry_after_seconds: int = 120
    stuck_after_minutes: int = 15
    poll_interval_seconds: int = 60
    recheck_open_minutes: float = 10  # how often orders with an open alert are read again from the platform
    recheck_batch: int = 100  # ... at most this many per run, least recently checked first

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
    retail_remind_after_hours: int = 24

    # Each booking system's pace (workflows/systems/pace.py), shared by every worker: requests per
    # second / bookings at once, e.g. "synxis=20/8,resdiary=5/2"; the others use the default. A
    # 429, 5xx or timeout halves the rate (Retry-After honoured); successes grow it back over
    # PACE_RAMP_SECONDS. A request waits at most PACE_MAX_WAIT_SECONDS for its turn.
    system_pace: str = ""
    system_pace_default: str = "5/4"
    pace_ramp_seconds: float = 60.0
    pace_max_wait_seconds: float = 60.0

    # Production waits, settings so a test can shorten them (issue 22):
    alert_refresh_seconds: float = 3.0  # an order's alert is re-rendered at most once per this, per surface
    outage_refresh_seconds: float = 5.0  # an outage message is rewritten at most once per this
    chat_pace_seconds: float = 1.0  # Slack: one message per second per channel (Slack's rate limits page)
    scheduler_poll_seconds: float = 0.5  # how often RQ's scheduled jobs (delayed retries) are moved when due
    # An idle `worker --clock` blocks on Redis at least this long at a time (a new job wakes it at
    # once): how late its clock may look at what is due
    worker_min_wait_seconds: float = 1.0
    cli_wait_report_seconds: float = 5.0  # how often a CLI action waiting for its outcome says it still waits

    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 30.0

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
    escalation_dm_after_minutes: float = 15
    escalation_dm_after_minutes_soon: float = 5  # when the guest arrives within ESCALATION_SOON_WITHIN_HOURS
    escalation_soon_within_hours: float = 24
    escalation_channel_after_minutes: float = 15  # after the direct message
    escalation_mention: str = "@here"  # or a user group, e.g. <!subteam^S0123|reservations>
    escalation_check_seconds: int = 30
    # An acknowledgement pauses escalation this long; still unresolved then, it resumes
    ack_timeout_minutes: float = 60
    ack_timeout_minutes_soon: float = 15  # when the guest arrives within ESCALATION_SOON_WITHIN_HOURS
    pagerduty_routing_key: SecretStr | None = None
    pagerduty_events_url: str = "https://events.pagerduty.com"
    outage_threshold: int = 5  # failures for one system ...
    outage_window_minutes: float = 10  # ... within this window open an incident; quiet this long closes it
    outage_reprocess_pace_seconds: int = 10  # between the Reprocess jobs of "Reprocess all"
    digest_time: str = "08:00"  # local time the daily digest (of yesterday) is posted; "off": never
    digest_channel: str | None = None  # defaults to SLACK_ALERT_CHANNEL
    digest_theme_days: int = 3  # the same class at the same system on this many days is a theme
    digest_lookback_days: int = 7
    reconcile_time: str = "07:00"  # local time of the daily reconciliation; "off": never
    reconcile_in_progress_after_minutes: int = 60  # paid but still In Progress after this is a mismatch
    reconcile_lookback_days: int = 14
    # The arrival check (issue 25): at this local time in each property's zone ("off": never),
    # for today and this many days ahead, using at most this share of each system's pace;
    # items it could not check are tried again after ARRIVALS_RETRY_MINUTES.
    arrivals_check_at: str = "06:00"
    arrivals_days_ahead: int = Field(1, ge=0, le=14)
    arrivals_share: float = Field(0.5, gt=0, le=1)
    arrivals_retry_minutes: float = Field(30, gt=0)
    platform_order_url: str | None = None  # the admin page of an order, e.g. https://admin.example.com/orders/{order_id}

    def require(self, *names: str) -> None:
        """Raise MissingSetting naming every variable in `names` that is unset."""
        missing = [n.upper() for n in names if getattr(self, n) in (None, "")]
        if missing:
            raise MissingSetting(
                f"missing required setting{'s' if len(missing) > 1 else ''}: {', '.join(missing)} "
                "(set it in the environment or in .env)"
            )

    def secret(self, name: str) -> str:
        """The plain value of a secret, after `require` has checked it is set."""
        self.require(name)
        value = getattr(self, name)
        return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


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
