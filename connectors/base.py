"""The shared HTTP transport of every connector: one `httpx.Client`, timeouts, auth, retries, error mapping.

A connector subclass says *what* to send and how to read the answer; this module owns
*how* it travels and what a failure means:

- one `httpx.Client` per connector, with its connect/read `Timeouts` (each connector's
  config carries them; `workflows.systems` builds the configs from Settings);
- auth: a static bearer token, or a token fetched from the system (`CachedToken`: OAuth2
  client credentials, RFC 6749 §4.4, or a system's own token call) cached until shortly
  before `expires_in`, and on a 401 refreshed once and the request replayed once; or a
  scheme that signs each request (the Auth protocol gets the method and full URL);
- retries only where they cannot duplicate an effect: GET/HEAD (and any request sent with
  an idempotency key) are retried on a transport error or a 5xx, at most twice with a
  small backoff; POST/PATCH without a key are sent exactly once, because a timed-out POST
  may well have created the booking (DESIGN §1 "check first");
- the mapping of transport errors and HTTP statuses to the typed errors of
  `connectors.errors`, with the raw evidence (status, body excerpt) in `detail`.
  Subclasses refine the mapping through `map_status` and nothing else.
"""

from __future__ import annotations

import functools
import logging
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Protocol

import httpx

from connectors.errors import (
    AuthFailure,
    ConnectionFailed,
    ConnectorError,
    DataFormat,
    MissingField,
    PermissionDenied,
    RateLimited,
    ServerError,
    Timeout,
    UnknownFailure,
)
from connectors.types import BookingRequest, ExistingBooking, Found

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
EXCERPT_CHARS = 500
_MISSING_WORDS = ("required", "missing", "must be provided", "is mandatory", "cannot be empty")


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The start of a body, for `detail`: enough to read, never a whole page."""
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "…"


def error_text(response: httpx.Response) -> str:
    """The human message inside an error body, whatever envelope the system uses."""
    try:
        body = response.json()
    except ValueError:
        return excerpt(response.text, 200)
    return _find_message(body) or excerpt(response.text, 200)


def _find_message(body: Any) -> str:
    if isinstance(body, str):
        return body
    if isinstance(body, list):
        return "; ".join(m for m in (_find_message(b) for b in body) if m)
    if not isinstance(body, dict):
        return ""
    for key in ("message", "Message", "error_description", "detail", "title"):
        if isinstance(body.get(key), str) and body[key]:
            return body[key]
    for key in ("error", "errors", "Errors", "Error"):
        if key in body:
            found = _find_message(body[key])
            if found:
                return found
    return ""


@dataclass(frozen=True)
class Timeouts:
    """How long a connector waits to connect and for an answer (`CONNECT_TIMEOUT_SECONDS`,
    `READ_TIMEOUT_SECONDS`)."""

    connect: float = 5.0
    read: float = 30.0


class Auth(Protocol):
    """How a connector proves who it is. `headers` gets the method and the full URL (with its
    query) because some schemes sign them (OAuth 1.0a, `connectors.resdiary`)."""

    refreshable: bool

    def headers(self, connector: HttpConnector, method: str, url: str) -> dict[str, str]: ...

    def invalidate(self, headers: Mapping[str, str]) -> None: ...


@dataclass
class BearerToken:
    """A fixed API key sent as `Authorization: Bearer …` (the platform's `PLATFORM_API_KEY`)."""

    token: str
    refreshable: bool = False

    def headers(self, connector: HttpConnector, method: str = "", url: str = "") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def invalidate(self, headers: Mapping[str, str]) -> None:
        return None


class CachedToken:
    """A bearer token fetched from the system, cached until shortly before it expires, and
    dropped when the system refuses it (the caller then fetches a new one and replays once).

    Subclasses say how the token is fetched (`_fetch`). Thread-safe: one token per
    connector, fetched by one thread at a time.
    """

    refreshable = True

    def __init__(self, *, what: str) -> None:
        self._what = what  # names the credentials in messages, e.g. "SYNXIS_CLIENT_ID / SYNXIS_CLIENT_SECRET"
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    def headers(self, connector: HttpConnector, method: str = "", url: str = "") -> dict[str, str]:
        with self._lock:
            if self._token is None or time.monotonic() >= self._expires_at:
                self._token, self._expires_at = self._fetch(connector)
            return {"Authorization": f"Bearer {self._token}"}

    def invalidate(self, headers: Mapping[str, str]) -> None:
        with self._lock:
            # Another thread may already have replaced the token that was refused.
            if headers.get("Authorization") == f"Bearer {self._token}":
                self._token = None

    def _fetch(self, connector: HttpConnector) -> tuple[str, float]:
        """A new token and the monotonic time it stops being used."""
        raise NotImplementedError

    def _bearer_answer(self, connector: HttpConnector, response: httpx.Response, url: str) -> tuple[str, float]:
        """Read an `{"access_token", "expires_in"}` token answer (RFC 6749 §5.1), or raise why not."""
        if response.status_code in (400, 401, 403):
            raise AuthFailure(
                f"{connector.name} refused syncdesk's API credentials ({self._what}) when asked for a token.",
                detail=connector.describe_response(response, "POST", url),
                status=response.status_code,
            )
        if not response.is_success:
            raise connector.error_for_response(response, "POST", url)
        body = connector.decode_json(response, "POST", url)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthFailure(
                f"{connector.name}'s token endpoint answered without an access_token.",
                detail=connector.describe_response(response, "POST", url),
                status=response.status_code,
            )
        try:
            lifetime = float(body.get("expires_in", 300))
        except (TypeError, ValueError):
            lifetime = 300.0
        # Renew a little early so a token never expires in flight: 10 % of its life, at most 30 s.
        return token, time.monotonic() + lifetime - min(30.0, lifetime * 0.1)


class OAuth2ClientCredentials(CachedToken):
    """OAuth2 client-credentials grant (RFC 6749 §4.4): the token request is form-encoded
    `grant_type=client_credentials&client_id=…&client_secret=…` and the answer is
    `{"access_token", "token_type", "expires_in"}` (the `pms` connector's `auth: oauth2`)."""

    def __init__(self, token_url: str, client_id: str, client_secret: str, *, what: str) -> None:
        super().__init__(what=what)
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret

    def _fetch(self, connector: HttpConnector) -> tuple[str, float]:
        response = connector.send(
            "POST",
            self.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self._client_secret,
            },
            headers={"Accept": "application/json"},
            retry_safe=True,  # asking for a token twice has no effect beyond a second token
        )
        return self._bearer_answer(connector, response, self.token_url)


class RequestPace(Protocol):
    """Who decides when a request may go (`HttpConnector.pace_with`)."""

    def before_request(self) -> None:
        """Return when the request may be sent; raise a ConnectorError to not send it."""

    def after_response(self, status: int, retry_after: str | None) -> None:
        """Learn from the answer (its status and its raw `Retry-After` header)."""


@functools.lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """One TLS context per process, shared by every connector's client: loading the CA
    bundle costs ~20 ms of CPU, too much to pay per job. Built before the worker forks, a
    job's process inherits it."""
    return httpx.create_ssl_context()


class HttpConnector:
    """Base of every HTTP connector. Subclasses set `name` and may override `map_status`."""

    name: ClassVar[str] = "the external system"
    max_retries: ClassVar[int] = 2
    backoff_seconds: ClassVar[float] = 0.1

    def __init__(
        self,
        base_url: str,
        *,
        timeouts: Timeouts,
        auth: Auth | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url
        self.connect_timeout = timeouts.connect
        self.read_timeout = timeouts.read
        self._auth = auth
        self._client = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(
                connect=self.connect_timeout,
                read=self.read_timeout,
                write=self.read_timeout,
                pool=self.connect_timeout,
            ),
            headers={"Accept": "application/json", "User-Agent": "syncdesk", **(headers or {})},
            follow_redirects=False,
            verify=tls_context(),
        )

    def pace_with(self, pace: RequestPace) -> None:
        """Ask `pace` before every request this connector sends (token requests and retries
        included) and tell it every answer: how the workflows' per-system rate limiter
        (`workflows.systems.pace`) reaches the wire without the connector knowing about it."""
        self._client.event_hooks = {
            "request": [lambda request: pace.before_request()],
            "response": [lambda response: pace.after_response(response.status_code,
                                                              response.headers.get("Retry-After"))],
        }

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests --------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """Send an authenticated request and return its decoded JSON body (None when empty).

        Raises a `ConnectorError` subclass for every failure.
        """
        method = method.upper()
        extra = dict(headers or {})
        if idempotency_key:
            extra["Idempotency-Key"] = idempotency_key
        retry_safe = method in SAFE_METHODS or idempotency_key is not None
        # The full URL, query included, is built once: a signing scheme signs exactly what is sent.
        url = str(self._client.build_request(method, path, params=params).url)
        refreshed = False
        while True:
            auth_headers = self._auth.headers(self, method, url) if self._auth else {}
            response = self.send(method, url, json=json, headers={**extra, **auth_headers}, retry_safe=retry_safe)
            if response.status_code == 401 and self._auth and self._auth.refreshable and not refreshed:
                # The token was revoked or expired early: fetch a new one and replay once.
                # Replaying is safe even for a POST: a 401 means the request was not processed.
                log.info("%s answered 401 to %s %s; refreshing the token once", self.name, method, path)
                self._auth.invalidate(auth_headers)
                refreshed = True
                continue
            break
        if not response.is_success:
            raise self.error_for_response(response, method, path)
        return self.decode_json(response, method, path)

    def send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        retry_safe: bool = False,
    ) -> httpx.Response:
        """One request with the retry policy; transport failures become typed errors.

        Returns any HTTP response (including 4xx/5xx) for the caller to classify.
        """
        attempts = 1 + (self.max_retries if retry_safe else 0)
        for attempt in range(1, attempts + 1):
            try:
                response = self._client.request(method, url, params=params, json=json, data=data, headers=headers)
            except httpx.TransportError as exc:
                if attempt < attempts:
                    log.warning("%s %s %s failed (%s); retry %d", self.name, method, url, type(exc).__name__, attempt)
                    time.sleep(self.backoff_seconds * 2 ** (attempt - 1))
                    continue
                raise self.error_for_transport(exc, method, url) from exc
            if response.status_code >= 500 and attempt < attempts:
                log.warning("%s %s %s answered %d; retry %d", self.name, method, url, response.status_code, attempt)
                time.sleep(self.backoff_seconds * 2 ** (attempt - 1))
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    # -- decoding --------------------------------------------------------------------------
    def decode_json(self, response: httpx.Response, method: str, path: str) -> Any:
        if response.status_code == 204 or not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise UnknownFailure(
                f"{self.name} answered {method} {path} with a response that is not JSON; "
                "syncdesk cannot tell what happened.",
                detail=self.describe_response(response, method, path),
                status=response.status_code,
            ) from exc

    def describe_response(self, response: httpx.Response, method: str, path: str) -> str:
        # A Request-Id (Mews, …) is what the vendor's support asks for: keep it with the evidence.
        request_id = response.headers.get("Request-Id")
        said = f" (Request-Id {request_id})" if request_id else ""
        return f"{method} {path} -> HTTP {response.status_code}{said}: {excerpt(response.text)}"

    # -- classification --------------------------------------------------------------------
    def map_status(self, response: httpx.Response, method: str, path: str) -> ConnectorError | None:
        """Subclass hook: a system-specific error for this response, or None for the default."""
        return None

    def error_for_response(self, response: httpx.Response, method: str, path: str) -> ConnectorError:
        specific = self.map_status(response, method, path)
        if specific is not None:
            return specific
        status = response.status_code
        detail = self.describe_response(response, method, path)
        said = error_text(response)
        if status == 401:
            return AuthFailure(f"{self.name} rejected syncdesk's credentials (HTTP 401).", detail=detail, status=status)
        if status == 403:
            return PermissionDenied(
                f"{self.name} refused the request: the integration user lacks permission (HTTP 403). {said}".strip(),
                detail=detail,
                status=status,
            )
        if status == 408:
            # The server gave up on the request (Mews: too heavy to finish in time, to be sent
            # again smaller): nothing was done, so it is a timeout, retried like one.
            return Timeout(f"{self.name} could not finish the request in time (HTTP 408). {said}".strip(),
                           detail=detail, status=status)
        if status in (400, 422):
            cls = MissingField if any(w in said.lower() for w in _MISSING_WORDS) else DataFormat
            return cls(f"{self.name} rejected the request: {said}", detail=detail, status=status)
        if status == 429:
            wait = response.headers.get("Retry-After")
            hint = f" (it asks to wait {wait} s)" if wait else ""
            return RateLimited(f"{self.name} is rate limiting syncdesk{hint}.", detail=detail, status=status)
        if status >= 500:
            return ServerError(f"{self.name} answered with a server error (HTTP {status}).", detail=detail, status=status)
        return UnknownFailure(
            f"{self.name} answered {method} {path} with HTTP {status}: {said}", detail=detail, status=status
        )

    def error_for_transport(self, exc: httpx.TransportError, method: str, url: str) -> ConnectorError:
        detail = f"{method} {url}: {type(exc).__name__}: {exc}"
        if isinstance(exc, httpx.ConnectTimeout):
            return Timeout(
                f"{self.name} did not accept a connection within {self.connect_timeout:g} s.", detail=detail
            )
        if isinstance(exc, httpx.TimeoutException):
            return Timeout(
                f"{self.name} did not answer within {self.read_timeout:g} s; "
                "the request may or may not have been carried out.",
                detail=detail,
            )
        if isinstance(exc, httpx.ConnectError):
            return ConnectionFailed(f"syncdesk could not connect to {self.name} ({exc}).", detail=detail)
        # ReadError / RemoteProtocolError / WriteError: the connection dropped mid-request.
        return ConnectionFailed(
            f"The connection to {self.name} dropped before it answered; "
            "the request may or may not have been carried out.",
            detail=detail,
        )


class TwoKeyCheckFirst:
    """Check first by two independent keys (issue 24), for every booking connector: a subclass
    says what each key finds (`find_by_keys`: our reference, and the guest + arrival + property);
    `find_existing` (the `BookingConnector` call) is the booking that counts among them, and a
    booking found by one key only is logged and carried on it as `ExistingBooking.warning`."""

    name: ClassVar[str]

    def find_by_keys(self, item: BookingRequest) -> Found:
        """What each key found; a search that fails raises, it never counts as "nothing found"."""
        raise NotImplementedError

    def find_existing(self, item: BookingRequest) -> ExistingBooking | None:
        existing = self.find_by_keys(item).existing(self.name, item)
        if existing is not None and existing.warning:
            log.warning("check-first of %s in %s: %s", item.reference, self.name, existing.warning)
        return existing
