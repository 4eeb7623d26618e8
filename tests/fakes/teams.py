"""The Microsoft side of Teams, on loopback: a Bot Framework OpenID issuer with its own RSA
keys (it signs the tokens the "Bot Connector" sends us), an Entra ID token endpoint over
TLS (msal insists on https; `trustme` makes the certificate), and a Bot Connector that
records the activities syncdesk sends, plus the one Graph call the member gate makes.

    with FakeBotIdentity(APP_ID) as identity, FakeTokenEndpoint(APP_ID, SECRET, TENANT, ca) as tokens, \\
            FakeBotConnector(tokens) as connector:
        token = identity.token(service_url=connector.url)
        ...
        connector.posted("19:alerts@thread.tacv2")  # the activities created in that conversation
"""

from __future__ import annotations

import base64
import json
import ssl
import time
import uuid
from typing import Any
from urllib.parse import unquote

import jwt
import trustme
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.fakes.http import FakeServer, RecordedRequest, Reply

BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
BOT_SCOPE = "https://api.botframework.com/.default"


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeBotIdentity(FakeServer):
    """`login.botframework.com`: the OpenID metadata document and the signing keys."""

    def __init__(self, app_id: str, channel: str = "msteams") -> None:
        super().__init__()
        self.app_id = app_id
        self.kid = "syncdesk-test-key"
        self.key = _rsa_key()
        self.stranger_key = _rsa_key()  # never published: a forger's key
        self.endorsements = [channel]
        self.route("GET", r"/v1/\.well-known/openidconfiguration", self._metadata)
        self.route("GET", r"/v1/keys", self._keys)

    @property
    def metadata_url(self) -> str:
        return f"{self.url}/v1/.well-known/openidconfiguration"

    def _metadata(self, req: RecordedRequest, _m: Any) -> Reply:
        return Reply(200, {"issuer": BOT_FRAMEWORK_ISSUER, "authorization_endpoint": "https://invalid.botframework.com",
                           "jwks_uri": f"{self.url}/v1/keys", "id_token_signing_alg_values_supported": ["RS256"],
                           "token_endpoint_auth_methods_supported": ["private_key_jwt"]})

    def _keys(self, req: RecordedRequest, _m: Any) -> Reply:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256", "endorsements": list(self.endorsements)})
        return Reply(200, {"keys": [jwk]})

    def token(self, service_url: str, *, audience: str | None = None, issuer: str = BOT_FRAMEWORK_ISSUER,
              expires_in: int = 3600, key: rsa.RSAPrivateKey | None = None, kid: str | None = None,
              **claims: Any) -> str:
        """A Bot Connector token as the real service signs it (override a part to forge one)."""
        now = int(time.time())
        payload = {"iss": issuer, "aud": audience or self.app_id, "serviceurl": service_url,
                   "nbf": now - 60, "iat": now - 60, "exp": now + expires_in, **claims}
        return jwt.encode(payload, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})

    def unsigned_token(self, service_url: str) -> str:
        """`alg: none`: the claims are right, there is no signature at all."""
        def part(data: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

        now = int(time.time())
        header = {"alg": "none", "typ": "JWT", "kid": self.kid}
        payload = {"iss": BOT_FRAMEWORK_ISSUER, "aud": self.app_id, "serviceurl": service_url,
                   "iat": now, "exp": now + 3600}
        return f"{part(header)}.{part(payload)}."


class FakeTokenEndpoint(FakeServer):
    """`login.microsoftonline.com/{tenant}`: OpenID discovery and client-credentials tokens, over TLS."""

    def __init__(self, client_id: str, client_secret: str, tenant: str, ca: trustme.CA,
                 expires_in: int = 3600) -> None:
        super().__init__()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        self.ssl_context = context
        self.client_id, self.client_secret, self.tenant = client_id, client_secret, tenant
        self.expires_in = expires_in
        self.issued: dict[str, str] = {}  # access token -> scope
        self.route("GET", rf"/{tenant}/v2\.0/\.well-known/openid-configuration", self._discovery)
        self.route("POST", rf"/{tenant}/oauth2/v2\.0/token", self._token)

    @property
    def authority_host(self) -> str:
        return self.url

    def _discovery(self, req: RecordedRequest, _m: Any) -> Reply:
        base = f"{self.url}/{self.tenant}"
        return Reply(200, {"token_endpoint": f"{base}/oauth2/v2.0/token",
                           "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                           "issuer": f"{base}/v2.0", "jwks_uri": f"{base}/discovery/v2.0/keys",
                           "response_types_supported": ["code", "token"]})

    def _token(self, req: RecordedRequest, _m: Any) -> Reply:
        form = req.form
        if form.get("grant_type") != "client_credentials":
            return Reply(400, {"error": "unsupported_grant_type"})
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return Reply(401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret"})
        token = f"fake-token-{uuid.uuid4().hex}"
        self.issued[token] = form.get("scope", "")
        return Reply(200, {"token_type": "Bearer", "expires_in": self.expires_in, "ext_expires_in": self.expires_in,
                           "access_token": token})

    def token_requests(self) -> list[RecordedRequest]:
        return self.requests_to("POST", rf"/{self.tenant}/oauth2/v2\.0/token")

    def valid(self, authorization: str | None, scope: str) -> bool:
        scheme, _, token = (authorization or "").partition(" ")
        with self.lock:
            return scheme == "Bearer" and scope in self.issued.get(token, "").split()


class FakeBotConnector(FakeServer):
    """`smba.trafficmanager.net/...`: create conversations (1:1, for direct messages), create,
    update and reply to activities; and Graph's group members.

    Posts are placed the way Teams places them in a channel: a post to
    `/v3/conversations/<id>;messageid=<root>/activities` lands in the thread under `root`; a
    post to the bare `<id>` lands at the top level of the channel, `replyToId` or not
    (microsoft/botframework-sdk#6626). `thread_of(activity)` says where each one landed.
    """

    def __init__(self, tokens: FakeTokenEndpoint, groups: dict[str, list[str]] | None = None) -> None:
        super().__init__()
        self.tokens = tokens
        self.groups = groups or {}
        self.activities: dict[str, dict[str, Any]] = {}  # id -> current activity
        self.deleted: set[str] = set()
        self.conversations: dict[str, dict[str, Any]] = {}  # id -> the create request's body
        self.threads: dict[str, str | None] = {}  # activity id -> the thread root it landed under (None: top level)
        self._next = 0
        self.route("POST", r"/v3/conversations", self._create_conversation)
        self.route("POST", r"/v3/conversations/(?P<conv>[^/]+)/activities", self._create)
        self.route("PUT", r"/v3/conversations/(?P<conv>[^/]+)/activities/(?P<aid>[^/]+)", self._update)
        self.route("GET", r"/v1\.0/groups/(?P<gid>[^/]+)/members", self._members)

    def _authorized(self, req: RecordedRequest, scope: str) -> bool:
        return self.tokens.valid(req.header("Authorization"), scope)

    def _create_conversation(self, req: RecordedRequest, m: Any) -> Reply:
        """`POST /v3/conversations`: a 1:1 with one member; the same member gets the same conversation."""
        if not self._authorized(req, BOT_SCOPE):
            return Reply(401, {"error": {"code": "Unauthorized"}})
        body = req.json or {}
        members = body.get("members") or []
        if len(members) != 1 or not (members[0] or {}).get("id") or not (body.get("bot") or {}).get("id"):
            return Reply(400, {"error": {"code": "BadArgument", "message": "bot and one member are required"}})
        conversation_id = f"a:1on1-{members[0]['id'].replace(':', '-')}"
        self.conversations[conversation_id] = body
        return Reply(201, {"id": conversation_id})

    def _create(self, req: RecordedRequest, m: Any) -> Reply:
        if not self._authorized(req, BOT_SCOPE):
            return Reply(401, {"error": {"code": "Unauthorized"}})
        self._next += 1
        aid = f"1700000000{self._next:03d}"
        conversation, thread = _placement(m.group("conv"))
        self.activities[aid] = {"conversation": conversation, **(req.json or {})}
        self.threads[aid] = thread
        return Reply(201, {"id": aid})

    def _update(self, req: RecordedRequest, m: Any) -> Reply:
        if not self._authorized(req, BOT_SCOPE):
            return Reply(401, {"error": {"code": "Unauthorized"}})
        aid = m.group("aid")
        if aid not in self.activities or aid in self.deleted:
            return Reply(404, {"error": {"code": "ActivityNotFoundInConversation"}})
        self.activities[aid] = {"conversation": _placement(m.group("conv"))[0], **(req.json or {})}
        return Reply(200, {"id": aid})

    def _members(self, req: RecordedRequest, m: Any) -> Reply:
        if not self._authorized(req, f"{self.url}/.default"):
            return Reply(401, {"error": {"code": "InvalidAuthenticationToken"}})
        members = self.groups.get(m.group("gid"))
        if members is None:
            return Reply(404, {"error": {"code": "Request_ResourceNotFound"}})
        return Reply(200, {"value": [{"@odata.type": "#microsoft.graph.user", "id": u} for u in members]})

    # -- what the tests look at ---------------------------------------------------------------
    def _placed(self) -> list[tuple[str, str | None, dict[str, Any]]]:
        """(conversation, thread root or None, activity) of every post, oldest first."""
        placed = []
        for r in self.requests_to("POST", r"/v3/conversations/[^/]+/activities"):
            if r.json is None:
                continue
            conv = r.path.split("/v3/conversations/", 1)[1].rsplit("/activities", 1)[0]
            placed.append((*_placement(unquote(conv)), r.json))
        return placed

    def posted(self, conversation: str | None = None) -> list[dict[str, Any]]:
        """Activities created (new posts and replies), oldest first."""
        return [a for conv, _, a in self._placed() if conversation is None or conv == conversation]

    def top_level(self, conversation: str | None = None) -> list[dict[str, Any]]:
        """Activities that landed at the top level of the channel (not in a thread)."""
        return [a for conv, thread, a in self._placed() if thread is None
                and (conversation is None or conv == conversation)]

    def cards(self, conversation: str | None = None) -> list[dict[str, Any]]:
        """Top-level activities that carry an Adaptive Card (what people see in the channel)."""
        return [a for a in self.top_level(conversation) if a.get("attachments")]

    def replies(self, activity_id: str | None = None) -> list[dict[str, Any]]:
        """Activities that landed in a thread: under `activity_id` (its root), or answering it there."""
        return [a for _, thread, a in self._placed() if thread is not None and (
            activity_id is None or activity_id in (thread, a.get("replyToId")))]

    def updates(self, activity_id: str | None = None) -> list[dict[str, Any]]:
        return [r.json for r in self.requests_to("PUT", r"/v3/conversations/[^/]+/activities/[^/]+")
                if r.json is not None and (activity_id is None or r.path.endswith(f"/{activity_id}"))]


def _placement(conversation: str) -> tuple[str, str | None]:
    """(the channel's conversation id, the thread root) of a conversation path segment."""
    base, _, rest = unquote(conversation).partition(";")
    root = rest.removeprefix("messageid=") if rest.startswith("messageid=") else None
    return base, root or None
