"""`POST /api/teams/messages`: the activities Teams sends syncdesk.

Every request is validate the Bot Connector JWT (`bot.teams.auth`, before anything else
is looked at) → parse the activity → authorize (`bot.teams.gate`) → call
`workflows.actions` → answer. Nothing slow happens before the answer: card actions are
enqueued, and anything that talks to Teams (a reply, a lookup's card) runs after the
response has left, as a background task.

Activities (learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-activities):
- `invoke` named `adaptiveCard/action`: an `Action.Execute` click; answered in the HTTP
  response with an Adaptive Card action response (`statusCode` 200, type
  `application/vnd.microsoft.activity.message`, the acknowledgement as `value`), as
  Universal Actions require (learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/universal-actions-for-adaptive-cards/work-with-universal-actions-for-adaptive-cards).
- `message` with a `value`: an `Action.Submit` click; acknowledged with a reply.
- `message` with text: `order ORD-10042` answers with the order's card, `oncall` with who
  is on call; @mentions of the bot (`<at>…</at>`) are ignored.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.teams import announce_cards, cards
from bot.teams.auth import BotConnectorAuth, Unauthorized
from bot.teams.connector import BotConnector, BotToken, message
from bot.teams.gate import MemberGate
from workflows import actions, oncall_actions, outage, states
from workflows.actions import Ack
from workflows.db import transaction
from workflows.queue import get_redis
from workflows.settings import Settings
from workflows.snapshot import load

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
INVOKE_ACTION = "adaptiveCard/action"
INVOKE_MESSAGE = "application/vnd.microsoft.activity.message"
REFUSAL = "🚫 Sorry, you are not on the reservations team, so syncdesk cannot do that for you."
USAGE = "Send **order ORD-10042** to see an order's alert, or **oncall** to see who is on call."
_MENTION = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Turn:
    """The parts of an activity syncdesk uses, read defensively (it comes from outside)."""

    kind: str
    name: str
    text: str
    value: Any
    activity_id: str | None
    conversation_id: str | None
    service_url: str | None
    user_id: str | None
    user_name: str
    tenant_id: str | None

    @classmethod
    def read(cls, activity: dict[str, Any]) -> Turn:
        def obj(value: Any) -> dict[str, Any]:
            return value if isinstance(value, dict) else {}

        def opt(value: Any) -> str | None:
            return value if isinstance(value, str) and value else None

        sender, conversation = obj(activity.get("from")), obj(activity.get("conversation"))
        tenant = opt(conversation.get("tenantId")) or opt(obj(obj(activity.get("channelData")).get("tenant")).get("id"))
        return cls(
            kind=str(activity.get("type") or ""), name=str(activity.get("name") or ""),
            text=str(activity.get("text") or ""), value=activity.get("value"),
            activity_id=opt(activity.get("id")), conversation_id=opt(conversation.get("id")),
            service_url=opt(activity.get("serviceUrl")),
            user_id=opt(sender.get("aadObjectId")) or opt(sender.get("id")),
            user_name=str(sender.get("name") or "someone"), tenant_id=tenant,
        )

    @property
    def actor(self) -> str:
        """Who clicked, as the audit trail and the replies name them."""
        return f"teams:{self.user_id or 'unknown'} ({self.user_name})"


@dataclass
class Answer:
    status: int = 200
    body: dict[str, Any] | None = None
    later: list[Callable[[], None]] = field(default_factory=list)


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def invoke_message(text: str) -> dict[str, Any]:
    return {"statusCode": 200, "type": INVOKE_MESSAGE, "value": text}


class TeamsSurface:
    """What the endpoint shares: settings, token validation, the gate and the connector."""

    def __init__(self, settings: Settings, auth: BotConnectorAuth | None = None,
                 connector: BotConnector | None = None, gate: MemberGate | None = None) -> None:
        self.settings = settings
        self.auth = auth or BotConnectorAuth(settings)
        self.connector = connector or BotConnector(settings, BotToken(settings, get_redis(settings.redis_url)))
        self.gate = gate or MemberGate(settings, self.connector.token)

    # -- HTTP -----------------------------------------------------------------------------
    async def endpoint(self, request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return JSONResponse({"error": "body too large"}, status_code=413)
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return JSONResponse({"error": "body too large"}, status_code=413)
        try:
            activity = json.loads(raw)
        except ValueError:
            activity = None
        fields = activity if isinstance(activity, dict) else {}
        try:
            await run_in_threadpool(self.auth.validate, request.headers.get("authorization"),
                                    _string(fields.get("serviceUrl")), _string(fields.get("channelId")))
        except Unauthorized as exc:
            log.warning("Teams request refused: %s", exc)
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        if not isinstance(activity, dict):
            return JSONResponse({"error": "the body is not an activity"}, status_code=400)
        answer = await run_in_threadpool(self.handle, Turn.read(activity))
        task = BackgroundTask(self._run_later, answer.later) if answer.later else None
        if answer.body is None:
            return Response(status_code=answer.status, background=task)
        return JSONResponse(answer.body, status_code=answer.status, background=task)

    @staticmethod
    def _run_later(calls: list[Callable[[], None]]) -> None:
        for call in calls:
            try:
                call()
            except Exception:  # outermost boundary of a follow-up: log it, the person can ask again
                log.exception("Teams follow-up %s failed", getattr(call, "__name__", call))

    # -- activities -----------------------------------------------------------------------
    def handle(self, turn: Turn) -> Answer:
        if turn.kind == "invoke" and turn.name == INVOKE_ACTION:
            action_value = turn.value.get("action") if isinstance(turn.value, dict) else None
            action_value = action_value if isinstance(action_value, dict) else {}
            if action_value.get("verb") == announce_cards.REPROCESS_ALL:
                return Answer(200, invoke_message(cards.plain(self.reprocess_all(turn, action_value.get("data")))))
            action = cards.parse_action(action_value.get("verb"), action_value.get("data"))
            if action is None:
                return Answer(200, invoke_message("syncdesk does not know that action."))
            return Answer(200, invoke_message(cards.plain(self.act(turn, action).message)))
        if turn.kind == "message" and isinstance(turn.value, dict):
            action = cards.parse_action(None, turn.value)
            if action is not None:
                ack = self.act(turn, action)
                return Answer(200, None, [lambda: self.reply(turn, cards.plain(ack.message))])
        if turn.kind == "message" and turn.text.strip():
            return Answer(200, None, [lambda: self.lookup(turn)])
        return Answer(200, None)

    def act(self, turn: Turn, action: cards.CardAction) -> Ack:
        """Authorize the click, then ask `workflows.actions` for it."""
        decision = self.gate.check(turn.user_id, turn.tenant_id)
        if not decision.allowed:
            self._audit_refusal(turn, f"click.{action.verb}", action.order_id, action.item_id, decision.reason)
            return Ack(False, REFUSAL)
        if action.verb == cards.REPROCESS:
            return actions.request_reprocess(self.settings, action.order_id, action.item_id or "", turn.actor)
        if action.verb == cards.IM_ON_IT:
            return oncall_actions.im_on_it(self.settings, action.order_id, turn.actor)
        if action.verb == cards.BOOKED_MANUALLY:
            return actions.request_booked_manually(self.settings, action.order_id, action.item_id or "", turn.actor,
                                                   action.reference, action.payment_method, action.notes)
        return actions.request_complete(self.settings, action.order_id, turn.actor)

    def reprocess_all(self, turn: Turn, data: Any) -> str:
        """The outage card's "Reprocess all N": authorize, then `workflows.outage.reprocess_all`."""
        incident_id = data.get("incident_id") if isinstance(data, dict) else None
        if not isinstance(incident_id, int):
            return "syncdesk does not know that action."
        decision = self.gate.check(turn.user_id, turn.tenant_id)
        if not decision.allowed:
            self._audit_refusal(turn, "click.reprocess_all", None, None, decision.reason)
            return REFUSAL
        return outage.reprocess_all(self.settings, incident_id, turn.actor).message

    def _audit_refusal(self, turn: Turn, what: str, order_id: str | None, item_id: str | None, reason: str) -> None:
        with transaction(self.settings.database_url) as session:
            states.audit(session, actor=turn.actor, action=what, order_id=order_id, item_id=item_id,
                         result="refused", reason=reason, surface="teams")

    # -- follow-ups (after the response) --------------------------------------------------
    def reply(self, turn: Turn, text: str, card: dict[str, Any] | None = None) -> None:
        if turn.conversation_id is None:
            return
        activity = message(text, card)
        if turn.activity_id:
            self.connector.reply(turn.conversation_id, turn.activity_id, activity, service_url=turn.service_url)
        else:
            self.connector.post(turn.conversation_id, activity, service_url=turn.service_url)

    def lookup(self, turn: Turn) -> None:
        # what an admin needs for TEAMS_CONVERSATION_ID and TEAMS_SERVICE_URL (teams/README.md)
        log.info("Teams message in conversation %s via service URL %s",
                 (turn.conversation_id or "").split(";")[0], turn.service_url)
        words = " ".join(_MENTION.sub(" ", turn.text).split()).split(" ")
        command = words[0].lower() if words and words[0] else ""
        if command not in ("order", "oncall"):
            return self.reply(turn, USAGE)
        decision = self.gate.check(turn.user_id, turn.tenant_id)
        if not decision.allowed:
            self._audit_refusal(turn, f"lookup.{command}", None, None, decision.reason)
            return self.reply(turn, REFUSAL)
        if command == "oncall":
            return self.reply(turn, self.oncall())
        if len(words) != 2:
            return self.reply(turn, USAGE)
        with transaction(self.settings.database_url) as session:
            snapshot = load(session, words[1], settings=self.settings)
        if snapshot is None:
            return self.reply(turn, f"Order {words[1]} is not known to syncdesk.")
        self.reply(turn, cards.summary(snapshot), cards.attachment(cards.alert_card(snapshot)))


    def oncall(self) -> str:
        """Who is on call now and next, as `syncdesk oncall` says it."""
        from workflows import oncall

        try:
            rotation = oncall.rotation_for(self.settings)
        except oncall.RotationError as exc:
            return f"The on-call rotation cannot be read: {exc}"
        zone = rotation.zone if rotation else ZoneInfo(self.settings.local_timezone)
        with transaction(self.settings.database_url) as session:
            current, following = oncall.who(session, rotation=rotation)
        return oncall.describe(current, following, zone)


def create_endpoint(settings: Settings) -> Callable[[Request], Any]:
    """The Starlette endpoint `workflows.web` mounts at `POST /api/teams/messages`."""
    surface = TeamsSurface(settings)

    async def teams_messages(request: Request) -> Response:
        return await surface.endpoint(request)

    teams_messages.surface = surface  # type: ignore[attr-defined]  # tests reach the gate and connector
    return teams_messages
