"""Is this request really from the Bot Connector? Validation of the inbound JWT.

Implements "Authentication with the Bot Connector API", Connector to bot
(learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-authentication):
1. the token is in `Authorization: Bearer …`;
2. the OpenID metadata document (`TEAMS_OPENID_METADATA_URL`, by default
   https://login.botframework.com/v1/.well-known/openidconfiguration) names the `jwks_uri`
   of the signing keys and the allowed algorithms; both are cached and re-read daily;
3. the token is signed with one of those keys (RS256), its issuer is
   `https://api.botframework.com` (`TEAMS_TOKEN_ISSUER`), its audience is our app id
   (`TEAMS_APP_ID`), it has not expired (5 minutes clock skew), and its `serviceUrl` claim
   equals the activity's `serviceUrl`;
4. the signing key endorses the activity's channel (`endorsements` contains `msteams`).

Steps 3's claim checks are the Teams SDK's own validator
(`microsoft_teams.apps.auth.TokenValidator`, PyJWT underneath); this module finds its keys
from the metadata document instead of the SDK's fixed Microsoft URL, so staging and tests
can run their own issuer, and adds the endorsement check the SDK leaves out.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import warnings
from typing import Any

import httpx
import jwt

from workflows.core.settings import Settings

with warnings.catch_warnings():  # the SDK's package import warns about an unrelated preview feature
    warnings.simplefilter("ignore")
    from microsoft_teams.apps.auth.token_validator import (
        JwtValidationOptions,
        TokenValidator,
    )

log = logging.getLogger(__name__)

METADATA_TTL_SECONDS = 24 * 3600  # the document itself asks for a daily refresh
KEYS_TTL_SECONDS = 3600
KEYS_REFETCH_SECONDS = 60.0


class Unauthorized(Exception):
    """The request does not carry a valid Bot Connector token; the message says why (for logs)."""


class BotConnectorAuth:
    """Validates inbound Bot Connector tokens for one app id."""

    def __init__(self, settings: Settings, http: httpx.Client | None = None) -> None:
        settings.require("teams_app_id")
        self.app_id = settings.teams_app_id or ""
        self.metadata_url = settings.teams_openid_metadata_url
        self.issuer = settings.teams_token_issuer
        self.http = http or httpx.Client(timeout=httpx.Timeout(5.0))
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = float("-inf")
        self._validator: TokenValidator | None = None
        self._keys: dict[str, dict[str, Any]] = {}
        self._keys_at = float("-inf")

    # -- the OpenID metadata and keys -----------------------------------------------------
    def _fetch_json(self, url: str) -> dict[str, Any]:
        try:
            response = self.http.get(url)
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise Unauthorized(f"cannot read {url}: {exc}") from exc
        if not isinstance(data, dict):
            raise Unauthorized(f"{url} did not answer a JSON object")
        return data

    def _current(self) -> tuple[dict[str, Any], TokenValidator]:
        with self._lock:
            if self._validator is None or time.monotonic() - self._metadata_at > METADATA_TTL_SECONDS:
                metadata = self._fetch_json(self.metadata_url)
                if not isinstance(metadata.get("jwks_uri"), str):
                    raise Unauthorized(f"{self.metadata_url} names no jwks_uri")
                self._metadata, self._metadata_at = metadata, time.monotonic()
                self._validator = TokenValidator(JwtValidationOptions(
                    valid_issuers=[self.issuer], valid_audiences=[self.app_id], jwks_uri=metadata["jwks_uri"]))
                self._keys_at = float("-inf")
            assert self._metadata is not None
            return self._metadata, self._validator

    def _key(self, jwks_uri: str, kid: str) -> dict[str, Any] | None:
        """The published key `kid`; an unknown kid re-reads the keys, at most once a minute,
        so tokens with made-up key ids cannot make us hammer the issuer."""
        with self._lock:
            age = time.monotonic() - self._keys_at
            if age > KEYS_TTL_SECONDS or (kid not in self._keys and age > KEYS_REFETCH_SECONDS):
                keys = self._fetch_json(jwks_uri).get("keys") or []
                self._keys = {k["kid"]: k for k in keys if isinstance(k, dict) and isinstance(k.get("kid"), str)}
                self._keys_at = time.monotonic()
            return self._keys.get(kid)

    # -- validation -----------------------------------------------------------------------
    def validate(self, authorization: str | None, service_url: str | None, channel_id: str | None) -> dict[str, Any]:
        """The token's claims, or Unauthorized. Blocking (it may fetch keys): call it from a thread."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("no Bearer token")
        token = token.strip()
        if not service_url:
            raise Unauthorized("the activity has no serviceUrl")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"not a JWT: {exc}") from exc
        metadata, validator = self._current()
        allowed = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        if header.get("alg") not in allowed or header.get("alg") != "RS256":
            raise Unauthorized(f"signing algorithm {header.get('alg')!r} is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise Unauthorized("the token names no signing key")
        key = self._key(metadata["jwks_uri"], kid)
        if key is None:
            raise Unauthorized(f"signing key {kid!r} is not in the OpenID keys document")
        try:
            claims = asyncio.run(validator.validate_token(token, service_url=service_url))
        except (jwt.PyJWTError, ValueError) as exc:
            raise Unauthorized(f"token rejected: {exc}") from exc
        endorsements = key.get("endorsements")
        if isinstance(endorsements, list) and channel_id not in endorsements:
            raise Unauthorized(f"signing key {kid!r} does not endorse channel {channel_id!r}")
        return claims
