"""`POST /api/teams/messages`: the activities Teams sends syncdesk.

Every request is validate the Bot Connector JWT (`bot.teams.auth`, before anything else
is looked at) → parse the activity → authorize (`bot.teams.gate`) → call
`workflows.actions.catalogue.perform` → answer. Nothing slow happens before the answer: card actions are
enqueued, and anything that talks to Teams (a reply, a lookup's card) runs after the
response has left, as a background task.

Activities (learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-activities):
- `invoke` named `adaptiveCard/action`: an `Action.Execute` click; answered in the HTTP
  response with an Adaptive Card action response (`statusCode` 200, type
  `application/vnd.microsoft.activity.message`, the acknowledgement as `value`), as
  Universal Actions require (learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/universal-actions-for-adaptive-cards/work-with-universal-actions-for-adaptive-cards).
- `message` with a `value`: an `Action.Submit` click; acknowledged with a reply. The outage
  card's "Show all" (and its list's "Previous"/"Next") is answered with a page of the list.
- `message` with text: `order ORD-10042` answers with the order's card, `oncall` with who
  is on call, `find <text>`, `orders [status]`, `reconcile` and `maintenance …` as Slack's
  `/syncdesk` does (issues 14, 26); @mentions of the bot (`<at>…</at>`) are ignored.
- `report ORDER-ID note`: the front desk's report (issue 26.3, `workflows.arrivals.report`),
  answered with its outcome: the order's urgent alert, the note in its thread, on-call told.
- `invoke` named `composeExtension/submitAction` with `commandId` `reportToSyncdesk`: the same
  report from a message's "…" menu ("Report to syncdesk", a message extension action command in
  message context, teams/manifest.json `composeExtensions`). The order id is the form's, else the
  first one in the message; the note is the form's, else the message. Answered at once in the
  invoke response (`{"task": {"type": "message", "value": …}}`, Teams' pop-up), the report filed
  after it has left (Teams waits 5 seconds) and its outcome replied under the message.
- a `message` in an alert card's thread that is none of those commands, its `messageUpdate` and
  its `messageDelete`: a note in the order's history (`bot.teams.notes`, issue 26.4). Other
  channel messages that name no command and do not @mention syncdesk are people talking to
  each other (the app's `ChannelMessage.Read.Group` consent delivers them all): no answer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.teams import announce_cards, arrivals_cards, cards, notes, reads, retail_cards
from bot.wording import cut, revealed
from bot.teams.auth import BotConnectorAuth, Unauthorized
from bot.teams.connector import BotConnector, BotToken, in_thread, message
from bot.teams.gate import MemberGate
from workflows.actions.catalogue import perform, refuse
from workflows.actions.moves import REFUSAL, Answers, Move
from workflows.arrivals import report as front_desk
from workflows.arrivals.check import mark_checked
from workflows.core import states
from workflows.core.answers import Ack
from workflows.core.queue import get_redis
from workflows.core.settings import Settings
from workflows.guests.reveal import reveal
from workflows.orders import guest_message
from workflows.orders import reads as orders
from workflows.orders import search
from workflows.outage import maintenance
from workflows.outage import requests as outage
from workflows.outage import support
from workflows.outage.views import incident_page
from workflows.retail import requests as retail_actions

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
INVOKE_ACTION = "adaptiveCard/action"
INVOKE_MESSAGE = "application/vnd.microsoft.activity.message"
INVOKE_SUBMIT_ACTION = "composeExtension/submitAction"  # a message extension's action command
REPORT_COMMAND = "reportToSyncdesk"  # teams/manifest.json composeExtensions[0].commands[0].id
USAGE = ("Send **order ORD-10042** to see an order's alert, **find walker** to find orders by guest name, e-mail, "
         "phone, confirmation number or payment reference, **orders [failed]** for the order queue, **reconcile** "
         "to compare syncdesk, the platform and Stripe, **oncall** to see who is on call, or **maintenance** "
         "for the maintenance windows (**maintenance SYSTEM [PROPERTY] FROM-TO \"reason\"** sets one, "
         "**maintenance end ID** ends it). At the front desk with no booking for the guest: **report ORD-10042 "
         "guest at the desk, no booking** opens an urgent alert.")
_MENTION = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
# The first words `lookup` answers; a reply in an alert's thread that starts with none of them is a note.
COMMANDS = ("order", "oncall", "find", "orders", "reconcile", "maintenance", "report")


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
    # a reply's thread root, the Teams event of a messageUpdate/messageDelete, the bot's own name (issue 26.4)
    reply_to_id: str | None = None
    event_type: str = ""
    bot_name: str = ""
    conversation_type: str = ""

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
            reply_to_id=opt(activity.get("replyToId")),
            event_type=str(obj(activity.get("channelData")).get("eventType") or ""),
            bot_name=str(obj(activity.get("recipient")).get("name") or ""),
            conversation_type=str(conversation.get("conversationType") or ""),
        )

    @property
    def actor(self) -> str:
        """Who clicked, as the audit trail and the replies name them."""
        return f"teams:{self.user_id or 'unknown'} ({self.user_name})"

    @property
    def chatter(self) -> bool:
        """A channel message that does not @mention syncdesk: people talking to each other, which
        Teams sends the bot once the team granted it ChannelMessage.Read.Group (teams/manifest.json)."""
        mention = f"<at>{self.bot_name}</at>".lower() if self.bot_name else "<at>"
        return self.conversation_type == "channel" and mention not in self.text.lower()


@dataclass
class Answer:
    status: int = 200
    body: dict[str, Any] | None = None
    later: list[Callable[[], None]] = field(default_factory=list)


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def invoke_message(text: str) -> dict[str, Any]:
    return {"statusCode": 200, "type": INVOKE_MESSAGE, "value": text}


def task_message(text: str) -> dict[str, Any]:
    """The answer to a message extension's `composeExtension/submitAction`: a task module
    message response, which Teams shows the person in a pop-up."""
    return {"task": {"type": "message", "value": text}}


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
            if action_value.get("verb") == retail_cards.DISPATCHED:
                return Answer(200, invoke_message(cards.plain(self.dispatched(turn, action_value.get("data")))))
            if action_value.get("verb") == Move.MESSAGE_GUEST.value:  # answered to the person alone
                return Answer(200, invoke_message(self.message_guest(turn, action_value.get("data"))))
            if action_value.get("verb") == Move.REVEAL_GUEST.value:  # answered to the person alone
                return Answer(200, invoke_message(self.reveal_guest(turn, action_value.get("data"))))
            if action_value.get("verb") == announce_cards.SUPPORT_POST:
                said, later = self.support_post(turn, action_value.get("data"))
                return Answer(200, invoke_message(said), later)
            if action_value.get("verb") in (arrivals_cards.CHECKED, arrivals_cards.FINE):
                said, later = self.arrival(turn, str(action_value["verb"]), action_value.get("data"))
                return Answer(200, invoke_message(said), later)
            action = cards.parse_action(action_value.get("verb"), action_value.get("data"))
            if action is None:
                return Answer(200, invoke_message("syncdesk does not know that action."))
            return Answer(200, invoke_message(cards.plain(self.act(turn, action).message)))
        if turn.kind == "invoke" and turn.name == INVOKE_SUBMIT_ACTION:
            said, later = self.report_action(turn)
            return Answer(200, task_message(said), later)
        if turn.kind == "message" and isinstance(turn.value, dict):
            listing = announce_cards.parse_show_all(turn.value)
            if listing is not None:
                return Answer(200, None, [lambda: self.outage_list(turn, *listing)])
            support = announce_cards.parse_support(turn.value)
            if support is not None:
                return Answer(200, None, [lambda: self.support_draft(turn, support)])
            action = cards.parse_action(None, turn.value)
            if action is not None:
                ack = self.act(turn, action)
                return Answer(200, None, [lambda: self.reply(turn, cards.plain(ack.message))])
        if turn.kind in notes.KINDS and notes.record(self.settings, turn, COMMANDS):  # a reply in an alert's thread
            return Answer(200, None)
        if turn.kind == "message" and turn.text.strip():
            return Answer(200, None, [lambda: self.lookup(turn)])
        return Answer(200, None)

    def act(self, turn: Turn, action: cards.CardAction) -> Ack:
        """Map the card's click to a move of the catalogue and perform it there (permission,
        refusal audit and request all happen in `workflows.actions.catalogue.perform`)."""
        decision = self.gate.check(turn.user_id, turn.tenant_id)
        owner_refusal = None
        if action.owner:  # Hand over: the teammate (the people picker's Entra ID object id) must be allowed too
            teammate = self.gate.check(action.owner, turn.tenant_id)
            owner_refusal = None if teammate.allowed else teammate.reason
        answers = Answers(reference=action.reference, payment_method=action.payment_method, notes=action.notes,
                          reason=action.reason, choice=action.choice, until=action.until,
                          owner=f"teams:{action.owner}" if action.owner else "", owner_refusal=owner_refusal)
        return perform(self.settings, Move(action.verb), action.order_id, action.item_id, turn.actor, answers,
                       permission=decision)

    def message_guest(self, turn: Turn, data: Any) -> str:
        """"Message guest": the drafted message, in the private answer to the click (audited)."""
        order_id = data.get("order_id") if isinstance(data, dict) else None
        if not isinstance(order_id, str):
            return "syncdesk does not know that action."
        refused = refuse(self.settings, Move.MESSAGE_GUEST, order_id, None, turn.actor,
                         self.gate.check(turn.user_id, turn.tenant_id))
        if refused is not None:
            return cards.plain(refused.message)
        found = guest_message.draft(self.settings, order_id, turn.actor, via="teams")
        if found is None:
            return f"Order {order_id} is not known to syncdesk."
        return f"Message for the guest ({found.situation}); copy it and send it yourself:\n\n{found.text}"

    def reveal_guest(self, turn: Turn, data: Any) -> str:
        """"Show guest details" (CHAT_GUEST_DETAILS=masked): the guest, in the private answer to
        the click; audited, and refused (audited too) to a person who may not act."""
        order_id = data.get("order_id") if isinstance(data, dict) else None
        if not isinstance(order_id, str):
            return "syncdesk does not know that action."
        refused = refuse(self.settings, Move.REVEAL_GUEST, order_id, None, turn.actor,
                         self.gate.check(turn.user_id, turn.tenant_id))
        if refused is not None:
            return cards.plain(refused.message)
        return revealed(reveal(self.settings, order_id, turn.actor, via="teams"), order_id)

    def dispatched(self, turn: Turn, data: Any) -> str:
        """The retail reminder's Dispatched form (`bot.teams.retail_cards`)."""
        data = data if isinstance(data, dict) else {}
        order_id, item_id = data.get("order_id"), data.get("item_id")
        if not isinstance(order_id, str) or not isinstance(item_id, str):
            return "syncdesk does not know that action."
        decision = self.gate.check(turn.user_id, turn.tenant_id)
        if not decision.allowed:
            self._audit_refusal(turn, "click.dispatched", order_id, item_id, decision.reason)
            return REFUSAL
        courier, tracking = data.get(cards.input_id("courier", item_id)), data.get(cards.input_id("tracking", item_id))
        return retail_actions.request_dispatched(self.settings, order_id, item_id, turn.actor,
                                                 courier if isinstance(courier, str) else "",
                                                 tracking if isinstance(tracking, str) else "").message

    def arrival(self, turn: Turn, verb: str, data: Any) -> tuple[str, list[Callable[[], None]]]:
        """The arrival summary's Checked and It's fine (`bot.teams.arrivals_cards`): what to say
        now, and the recording (which rewrites the summary) to do after the answer."""
        data = data if isinstance(data, dict) else {}
        order_id, item_id, reason = data.get("order_id"), data.get("item_id"), data.get(arrivals_cards.REASON)
        try:
            day = dt.date.fromisoformat(str(data.get("day")))
        except ValueError:
            day = None
        if day is None or not isinstance(order_id, str) or not isinstance(item_id, str):
            return "syncdesk does not know that action.", []
        decision = self.gate.check(turn.user_id, turn.tenant_id)
        if not decision.allowed:
            self._audit_refusal(turn, f"click.{verb}", order_id, item_id, decision.reason)
            return decision.tell or REFUSAL, []
        reason = reason.strip() if isinstance(reason, str) and verb == arrivals_cards.FINE else None
        if verb == arrivals_cards.FINE and not reason:
            return "Say why it is fine, in a few words.", []
        return "Recorded.", [lambda: mark_checked(self.settings, day, order_id, item_id, turn.actor, reason)]

    def report_action(self, turn: Turn) -> tuple[str, list[Callable[[], None]]]:
        """"Report to syncdesk" on a message (issue 26.3): what to say now, and the report
        (`front_desk.file`, as the `report` text command files it) to run after the answer, its
        outcome replied under the message."""
        value = turn.value if isinstance(turn.value, dict) else {}
        if value.get("commandId") != REPORT_COMMAND:
            return "syncdesk does not know that action.", []
        decision = self.gate.check(turn.user_id, turn.tenant_id)
        if not decision.allowed:
            self._audit_refusal(turn, "click.report", None, None, decision.reason)
            return decision.tell or REFUSAL, []
        data = value.get("data") if isinstance(value.get("data"), dict) else {}
        payload = value.get("messagePayload") if isinstance(value.get("messagePayload"), dict) else {}
        body = payload.get("body") if isinstance(payload.get("body"), dict) else {}
        said = " ".join(html.unescape(_TAG.sub(" ", _MENTION.sub(" ", str(body.get("content") or "")))).split())
        order_id = (_string(data.get("order_id")) or "").strip() or front_desk.order_id_in(said) or ""
        note = (_string(data.get("note")) or "").strip() or said
        if not order_id:
            return ("No order id in that message: open Report to syncdesk again and type the order id "
                    "(e.g. ORD-10042). Nothing was reported."), []
        message_id = _string(payload.get("id"))
        where = turn
        if message_id and turn.conversation_id:  # the outcome goes under the message reported
            conversation = turn.conversation_id
            if ";messageid=" not in conversation and turn.conversation_type == "channel":
                conversation = in_thread(conversation, message_id)
            where = dataclasses.replace(turn, conversation_id=conversation, activity_id=message_id)

        def report() -> None:
            self.reply(where, front_desk.file(self.settings, order_id, note, turn.actor, via="teams").message)
        return f"Reporting {order_id}: syncdesk answers under the message in a moment.", [report]

    def reprocess_all(self, turn: Turn, data: Any) -> str:
        """The outage card's "Reprocess all N": authorize, then `workflows.outage.requests.reprocess_all`."""
        incident_id = data.get("incident_id") if isinstance(data, dict) else None
        if not isinstance(incident_id, int):
            return "syncdesk does not know that action."
        decision = self.gate.check(turn.user_id, turn.tenant_id)
        if not decision.allowed:
            self._audit_refusal(turn, "click.reprocess_all", None, None, decision.reason)
            return decision.tell or REFUSAL
        return outage.reprocess_all(self.settings, incident_id, turn.actor).message

    def _audit_refusal(self, turn: Turn, what: str, order_id: str | None, item_id: str | None, reason: str) -> None:
        orders.audit(self.settings, actor=turn.actor, action=what, order_id=order_id, item_id=item_id,
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
        if command not in COMMANDS:  # channel chatter not addressed to syncdesk (RSC delivers it all) gets no answer
            return None if turn.chatter else self.reply(turn, USAGE)
        decision = self.gate.check(turn.user_id, turn.tenant_id)
        if not decision.allowed:
            self._audit_refusal(turn, f"lookup.{command}", None, None, decision.reason)
            return self.reply(turn, decision.tell or REFUSAL)
        if command == "oncall":
            return self.reply(turn, self.oncall())
        if command == "maintenance":  # issue 26: list, set or end a window (the reply is in the conversation)
            return self.reply(turn, cards.plain(maintenance.answer(self.settings, words[1:], turn.actor).message))
        if command in ("find", "orders", "reconcile"):
            return self.answer(turn, command, _MENTION.sub(" ", turn.text).strip()[len(command):])
        if command == "report":  # issue 26.3: the front desk's report (this runs after the answer has left)
            order_id, note = front_desk.parse(_MENTION.sub(" ", turn.text).strip()[len(command):])
            found = front_desk.file(self.settings, order_id, note, turn.actor, via="teams")
            return self.reply(turn, found.message)
        if len(words) != 2:
            return self.reply(turn, USAGE)
        snapshot = orders.snapshot(self.settings, words[1])
        if snapshot is None:
            return self.reply(turn, f"Order {words[1]} is not known to syncdesk.")
        self.reply(turn, cards.summary(snapshot), cards.attachment(cards.lookup_card(snapshot)))  # with its notes


    def outage_list(self, turn: Turn, incident_id: int, number: int) -> None:
        """"Show all" on the outage card: a page of every affected order, as a reply."""
        decision = self.gate.check(turn.user_id, turn.tenant_id)
        if not decision.allowed:
            self._audit_refusal(turn, "click.outage_show_all", None, None, decision.reason)
            return self.reply(turn, REFUSAL)
        shown = incident_page(self.settings, incident_id, number)
        if shown is None:
            return self.reply(turn, f"There is no outage {incident_id}.")
        card = announce_cards.outage_list_card(shown)
        self.reply(turn, card["fallbackText"], cards.attachment(card))
    def support_draft(self, turn: Turn, incident_id: int) -> None:
        """"Draft support request" on the outage card: the draft, as a reply card to edit and post."""
        decision = self.gate.check(turn.user_id, turn.tenant_id)
        if not decision.allowed:
            self._audit_refusal(turn, "click.outage_support", None, None, decision.reason)
            return self.reply(turn, REFUSAL)
        found = support.draft(self.settings, incident_id)
        if found is None:
            return self.reply(turn, f"There is no outage {incident_id}.")
        card = announce_cards.support_card(found)
        self.reply(turn, card["fallbackText"], cards.attachment(card))

    def support_post(self, turn: Turn, data: Any) -> tuple[str, list[Callable[[], None]]]:
        """The draft card's "Post in the thread": the edited text, as a reply in the thread."""
        data = data if isinstance(data, dict) else {}
        incident_id, text = data.get("incident_id"), data.get(announce_cards.SUPPORT_TEXT)
        if not isinstance(incident_id, int) or not isinstance(text, str) or not text.strip():
            return "The message is empty.", []
        decision = self.gate.check(turn.user_id, turn.tenant_id)
        if not decision.allowed:
            self._audit_refusal(turn, "click.outage_support", None, None, decision.reason)
            return decision.tell or REFUSAL, []

        def post() -> None:
            self.reply(turn, text.strip())
            orders.audit(self.settings, actor=turn.actor, action="outage.support_posted", incident_id=incident_id)
        return "Posted in the thread.", [post]

    def answer(self, turn: Turn, command: str, rest: str) -> None:
        """`find <text>`, `orders [status]` and `reconcile` (issue 14: what Slack's `/syncdesk` offers)."""
        if command == "find":
            found = search.find_orders(self.settings, rest, turn.actor, via="teams")
            if found.problem:
                return self.reply(turn, found.problem)
            title = f"Find “{cut(found.query, 60)}”: {len(found.rows)} orders"
            card = cards.queue_card(title, found.rows, reads.alert_links(self.settings, [r.order_id for r in found.rows]),
                                    empty=f"No order matches “{cut(found.query, 200)}”.",
                                    footer="newest first, at most 20 · by order id, guest name, e-mail, phone "
                                           "(last 6+ digits), confirmation number or payment reference")
            return self.reply(turn, title, cards.attachment(card))
        if command == "orders":
            status = next((w for w in rest.split() if w in states.QUEUE_STATUSES), None)
            rows = orders.queue(self.settings, status, limit=cards.MAX_ROWS)
            title = "Order queue" + (f" · {status}" if status else "")
            return self.reply(turn, title, cards.attachment(cards.queue_card(
                title, rows, reads.alert_links(self.settings, [r.order_id for r in rows]))))
        from workflows.reports.reconcile import reconcile

        orders.audit(self.settings, actor=turn.actor, action="reconcile.requested", via="teams")
        report = reconcile(self.settings)
        self.reply(turn, cut(report.render_text(), 20_000))

    def oncall(self) -> str:
        """Who is on call now and next, as `syncdesk oncall` and Slack say it (a paragraph a
        line: Teams' markdown joins single line breaks)."""
        from workflows.oncall.requests import who_is_on_call

        return "\n\n".join(who_is_on_call(self.settings))


def create_endpoint(settings: Settings) -> Callable[[Request], Any]:
    """The Starlette endpoint `syncdesk.web` mounts at `POST /api/teams/messages`."""
    surface = TeamsSurface(settings)

    async def teams_messages(request: Request) -> Response:
        return await surface.endpoint(request)

    teams_messages.surface = surface  # type: ignore[attr-defined]  # tests reach the gate and connector
    return teams_messages
