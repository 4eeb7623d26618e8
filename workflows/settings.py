"""Configuration: every variable of DESIGN §3.3, read from the environment and `.env`.

Secrets are `SecretStr` so they never appear in logs or reprs. `require()` is how a
component that cannot run without a secret fails at start with the variable's name.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import SecretStr
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

    ingest_secret: SecretStr | None = None
    ingest_max_bytes: int = 256 * 1024
    signature_tolerance_seconds: int = 300

    auto_retry_after_seconds: int = 120
    stuck_after_minutes: int = 15
    poll_interval_seconds: int = 60

    platform_api_url: str | None = None
    platform_api_key: SecretStr | None = None

    stripe_api_key: SecretStr | None = None
    stripe_api_base: str = "https://api.stripe.com"

    synxis_api_url: str | None = None
    synxis_token_url: str | None = None
    synxis_client_id: str | None = None
    synxis_client_secret: SecretStr | None = None
    synxis_primary_channel: str = "SYNXISWS_BE"
    synxis_secondary_channel: str = "WEB"

    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 30.0

    teams_app_id: str | None = None
    teams_app_password: SecretStr | None = None
    teams_tenant_id: str | None = None
    teams_service_url: str | None = None
    teams_conversation_id: str | None = None

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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
