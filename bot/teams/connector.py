"""Talking to Teams: the Bot Connector REST API, with tokens from msal.

- Tokens (bot to connector, learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-authentication):
  OAuth client credentials for scope `https://api.botframework.com/.default`
  (`TEAMS_TOKEN_SCOPE`) from `{TEAMS_AUTHORITY_HOST}/{TEAMS_TENANT_ID or botframework.com}`,
  through msal's `ConfidentialClientApplication`, whose token cache (shared through Redis)
  answers until the token expires. `TEAMS_CA_BUNDLE` adds a CA for a private token endpoint (staging, tests).
- Activities (learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-api-reference):
  send `POST /v3/conversations/{id}/activities`, update `PUT
  /v3/conversations/{id}/activities/{activityId}`, reply (`replyToId`), through the Teams
  SDK's `ConversationActivityClient` (microsoft-teams-api) on `TEAMS_SERVICE_URL` or the
  activity's validated `serviceUrl`. A direct message first creates the 1:1 conversation,
  `POST /v3/conversations` with the bot, the user and the tenant
  (learn.microsoft.com/microsoftteams/platform/bots/how-to/conversations/send-proactive-messages).
- A 429 is retried after its `Retry-After` (learn.microsoft.com/microsoftteams/platform/bots/how-to/rate-limit);
  anything else that fails raises `TeamsApiError`, so the calling job fails and RQ retries it.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import os
import threading
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import msal
import requests
from redis import Redis
from redis.exceptions import RedisError

from workflows.core import metrics
from workflows.core.settings import Settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from microsoft_teams.api import Attachment, MessageActivityInput
    from microsoft_teams.api.clients.conversation.activity import (
        ConversationActivityClient,
    )
    from microsoft_teams.common.http import Client, ClientOptions

log = logging.getLogger(__name__)

DEFAULT_TENANT = "botframework.com"
TIMEOUT_SECONDS = 10.0
SHARED_CACHE_SECONDS = 24 * 3600  # msal itself decides when a cached token has expired
MAX_RATE_LIMIT_RETRIES = 3
T = TypeVar("T")


class TeamsApiError(RuntimeError):
    """Teams or its token endpoint refused; the message says what and why."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ActivityGone(TeamsApiError):
    """The activity to update no longer exists (deleted in Teams)."""


class BotToken:
    """An app-only access token from Entra ID via msal, cached until it expires.

    msal's token cache is kept in Redis when one is given: RQ runs each job in a forked
    child, whose memory dies with it, so without Redis every job would ask for a new token.
    The msal client itself is made in the process that uses it (after any fork), so no
    TLS connection is ever shared between processes.
    """

    def __init__(self, settings: Settings, redis: Redis | None = None) -> None:
        settings.require("teams_app_id", "teams_app_password")
        tenant = settings.teams_tenant_id or DEFAULT_TENANT
        self.app_id = settings.teams_app_id or ""
        self.authority = f"{settings.teams_authority_host.rstrip('/')}/{tenant}"
        self.scope = settings.teams_token_scope
        self.redis = redis
        self._password = settings.secret("teams_app_password")
        self._ca_bundle = settings.teams_ca_bundle
        self._cache_key = "syncdesk:teams:msal-cache:" + hashlib.sha256(
            f"{self.app_id}|{self.authority}".encode()).hexdigest()[:24]
        self._lock = threading.Lock()
        self._app: msal.ConfidentialClientApplication | None = None
        self._cache = msal.SerializableTokenCache()
        self._pid = 0

    def _client(self) -> msal.ConfidentialClientApplication:
        if self._app is None or self._pid != os.getpid():
            self._cache = msal.SerializableTokenCache()
            self._app = msal.ConfidentialClientApplication(
                self.app_id, client_credential=self._password, authority=self.authority,
                validate_authority=False, instance_discovery=False, token_cache=self._cache,
                http_client=_session(self._ca_bundle), timeout=TIMEOUT_SECONDS,
            )
            self._pid = os.getpid()
        return self._app

    def _load_shared(self) -> None:
        if self.redis is None:
            return
        try:
            shared = self.redis.get(self._cache_key)
        except RedisError as exc:
            log.warning("Teams token cache unavailable in Redis, using this process's: %s", exc)
            return
        if shared:
            self._cache.deserialize(shared.decode() if isinstance(shared, bytes) else shared)

    def _save_shared(self) -> None:
        if self.redis is None or not self._cache.has_state_changed:
            return
        try:
            self.redis.set(self._cache_key, self._cache.serialize(), ex=SHARED_CACHE_SECONDS)
        except RedisError as exc:
            log.warning("could not share the Teams token through Redis: %s", exc)

    def get(self, scope: str | None = None) -> str:
        with self._lock:
            try:
                app = self._client()
                self._load_shared()
                result = app.acquire_token_for_client(scopes=[scope or self.scope])
            except (ValueError, OSError) as exc:  # msal's discovery and transport errors
                raise TeamsApiError(f"cannot reach the token endpoint {self.authority}: {exc}") from exc
            self._save_shared()
        if "access_token" not in result:
            raise TeamsApiError(f"token endpoint {self.authority} refused: "
                                f"{result.get('error')}: {result.get('error_description')}")
        return str(result["access_token"])


def _session(ca_bundle: str | None) -> requests.Session | None:
    """msal's HTTP client; with `TEAMS_CA_BUNDLE`, one that trusts that CA. The CA is given
    per request because requests lets REQUESTS_CA_BUNDLE override a session's own `verify`."""
    if not ca_bundle:
        return None
    session = requests.Session()
    session.request = functools.partial(session.request, verify=ca_bundle, timeout=TIMEOUT_SECONDS)  # type: ignore[method-assign]
    return session


def message(text: str, card: dict[str, Any] | None = None) -> MessageActivityInput:
    """A message activity: text, and the Adaptive Card attachment when there is one."""
    activity = MessageActivityInput(text=text)
    if card is not None:
        activity = activity.add_attachments(Attachment(content_type=card["contentType"], content=card["content"]))
    return activity


def in_thread(conversation_id: str, root_id: str) -> str:
    """The conversation id that places a post in the thread under `root_id`.

    In a Teams channel `replyToId` alone does not thread: a post lands under a message only
    when sent to `<conversation id>;messageid=<root activity id>` (the channel's own thread
    id form, as incoming replies carry it; microsoft/botframework-sdk#6626).
    """
    return f"{conversation_id.split(';', 1)[0]};messageid={root_id}"


class BotConnector:
    """Send, update and reply to activities in Teams conversations."""

    def __init__(self, settings: Settings, token: BotToken | None = None) -> None:
        self.service_url = settings.teams_service_url
        self.token = token or BotToken(settings)

    def _run(self, service_url: str | None, call: Callable[[ConversationActivityClient], Awaitable[T]],
             what: str) -> T:
        url = service_url or self.service_url
        if not url:
            raise TeamsApiError("TEAMS_SERVICE_URL is not set")
        for attempt in range(MAX_RATE_LIMIT_RETRIES + 1):
            try:
                return asyncio.run(self._once(url, call))
            except httpx.HTTPStatusError as exc:
                status = exc.response.status_code
                if status == 429:
                    metrics.CHAT_API_RATE_LIMITED.labels("teams", what).inc()
                else:
                    metrics.CHAT_API_ERRORS.labels("teams", what, f"http_{status}").inc()
                if status == 429 and attempt < MAX_RATE_LIMIT_RETRIES:
                    wait = _retry_after(exc.response)
                    log.warning("Teams throttled %s; retrying in %.1f s", what, wait)
                    time.sleep(wait)
                    continue
                kind = ActivityGone if status == 404 else TeamsApiError
                raise kind(f"{what} failed: HTTP {status} {exc.response.text[:300]}", status) from exc
            except httpx.HTTPError as exc:
                metrics.CHAT_API_ERRORS.labels("teams", what, exc.__class__.__name__).inc()
                raise TeamsApiError(f"{what} failed: {exc.__class__.__name__}: {exc}") from exc
        raise AssertionError("unreachable")

    async def _once(self, url: str, call: Callable[[ConversationActivityClient], Awaitable[T]]) -> T:
        http = Client(ClientOptions(token=self.token.get, timeout=TIMEOUT_SECONDS))
        try:
            return await call(ConversationActivityClient(url, http))
        finally:
            await http.http.aclose()

    def post(self, conversation_id: str, activity: MessageActivityInput, service_url: str | None = None) -> str:
        """Send a new activity; its id."""
        sent = self._run(service_url, lambda c: c.create(conversation_id, activity), "sending the message")
        return sent.id

    def update(self, conversation_id: str, activity_id: str, activity: MessageActivityInput,
               service_url: str | None = None) -> str:
        """Replace an activity in place (the alert card after every job)."""
        sent = self._run(service_url, lambda c: c.update(conversation_id, activity_id, activity),
                         "updating the message")
        return sent.id

    def create_conversation(self, member_id: str, tenant_id: str | None, bot_id: str,
                            service_url: str | None = None) -> str:
        """The id of the 1:1 conversation between the bot and `member_id` (Teams returns the
        existing one when there is one)."""
        body: dict[str, Any] = {"bot": {"id": bot_id}, "members": [{"id": member_id}], "isGroup": False}
        if tenant_id:
            body |= {"tenantId": tenant_id, "channelData": {"tenant": {"id": tenant_id}}}

        async def create(client: ConversationActivityClient) -> str:
            response = await client.http.post(f"{client.service_url.rstrip('/')}/v3/conversations", json=body)
            return str(response.json()["id"])

        return self._run(service_url, create, "opening a direct conversation")

    def reply(self, conversation_id: str, activity_id: str, activity: MessageActivityInput,
              service_url: str | None = None) -> str:
        """Reply to an activity. In a channel it lands in the thread `conversation_id` names
        (`in_thread`); `replyToId` only says which message it answers."""
        sent = self._run(service_url, lambda c: c.reply(conversation_id, activity_id, activity), "replying")
        return sent.id


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(max(float(response.headers.get("Retry-After", "1")), 0.1), 30.0)
    except ValueError:
        return 1.0
