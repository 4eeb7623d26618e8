"""The Bolt app: Slack's buttons, the Booked-manually and Dispatched forms, `/syncdesk` and
the Home tab.

- The alert's moves, every entry of the catalogue (`workflows.actions.catalogue`: Reprocess,
  Booked manually, Mark complete, I'm on it, Close order and the overflow menus' moves), are
  registered by `bot.slack.moves` from the catalogue; the outage message's "Reprocess all N"
  and "Show all" by `bot.slack.outage`; the retail reminder's Dispatched by `bot.slack.retail`.
- `/syncdesk order X`, `orders …`, `oncall`, `oncall take [until]`, `oncall release`,
  `maintenance [SYSTEM [PROPERTY] FROM-TO "reason" | end ID]` (`workflows.outage.maintenance`), and
  `reconcile` — which calls the platform and Stripe, so it runs after the ack and answers
  through the command's `response_url`.
- `/syncdesk report ORDER-ID "note"` and the message shortcut "Report to syncdesk": the front
  desk's report (`bot.slack.report`, issue 26.3), filed after the ack like `reconcile`.
- `message` events: a person's reply in an alert's thread, its edit and its deletion, become a
  note in the order's history (`bot.slack.notes`, issue 26.4).

Every listener is parse → authorize → call `workflows.actions.catalogue.perform` (or the
outage's and retail's requests) → `ack()`; anything that
talks to Slack afterwards (the ephemeral answer, `views.open`, `views.publish`) is handed
to a small thread pool, so the HTTP answer never waits on Slack. That is why the app runs
with `process_before_response=True` (docs.slack.dev/tools/bolt-python/concepts/lazy-listeners):
the response leaves as soon as the listener returns, without Bolt's ack-polling loop.

- Requests are verified where Bolt's `RequestVerification` would (signing secret, v0 HMAC-SHA256 of
  `v0:<X-Slack-Request-Timestamp>:<body>`, docs.slack.dev/authentication/verifying-requests-from-slack)
  by `bot.slack.verification`: a bad signature is 401, logged with its reason on the request's
  line, never with its body (which may be an alert with the guest's details, issue 28).
- Redeliveries — Events API retries carry `X-Slack-Retry-Num`/`X-Slack-Retry-Reason`
  (docs.slack.dev/apis/events-api, "Retries") — and double clicks are answered 200 without
  doing anything twice: a delivery seen before (same event_id, same click `action_ts`) is
  skipped, and every action is enqueued under a deterministic job id (`workflows.actions.requests`).
- Only members of `SLACK_ALLOWED_USERGROUP` may act (`bot.slack.auth`); a refusal is an
  ephemeral "you are not on the reservations team" plus an audit event. With no group set,
  nobody may (the refusal says what to set) unless `ALLOW_ANY_MEMBER=true`.
- Served over HTTP at `POST /slack/events` (`starlette_endpoint`, mounted by
  `syncdesk.web`) or over Socket Mode (`bot.slack.socket_mode`, docs.slack.dev/apis/events-api/using-socket-mode).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from redis.exceptions import RedisError
from slack_bolt import App, BoltResponse
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bot.slack import announce_render, arrivals, envelope, forms, moves, reads, render, retail, support
from bot.slack import outage as outage_moves
from bot.slack import notes as thread_notes
from bot.slack import report as front_desk
from bot.slack.auth import UsergroupGate
from bot.slack.notifier import web_client
from bot.slack.verification import REFUSED, SignatureCheck
from bot.wording import revealed
from workflows.actions.moves import REFUSAL
from workflows.arrivals.check import current_summaries
from workflows.core import metrics
from workflows.core.queue import get_redis
from workflows.core.settings import Settings
from workflows.guests.reveal import reveal
from workflows.oncall import requests as oncall_actions
from workflows.orders import guest_message
from workflows.orders import reads as orders
from workflows.orders import search
from workflows.outage import maintenance

log = logging.getLogger(__name__)

DELIVERY_MEMORY_SECONDS = 3600
USAGE = ("Usage: `/syncdesk order ORD-10042` · `/syncdesk orders [failed|ready|processing|success] "
         "[today|YYYY-MM-DD]` · `/syncdesk find walker` (guest name, e-mail, phone, confirmation number or payment "
         "reference) · `/syncdesk oncall` · `/syncdesk oncall take [18:00|2h]` · `/syncdesk oncall release` "
         "· `/syncdesk reconcile` · `/syncdesk maintenance [SYSTEM [PROPERTY] FROM-TO \"reason\" | end ID]` "
         "· `/syncdesk report ORD-10042 \"guest at the desk, no booking\"`")
RECONCILING = "🔎 Reconciling syncdesk, the platform and Stripe… the result follows here in a moment."
# A bare Slack user id in on-call text ("On call now: U0ANA") shown as a mention; ids carry a digit, words don't.
_BARE_USER = re.compile(r"(?<![@\w:])([UW](?=[A-Z0-9]*\d)[A-Z0-9]{4,})\b")


class SlackSurface:
    """What the listeners share: settings, the Web API client, the gate and the follow-up pool."""

    def __init__(self, settings: Settings, client: WebClient, gate: UsergroupGate) -> None:
        self.settings = settings
        self.client = client
        self.gate = gate
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="slack-followup")

    def later(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run a Slack call after the HTTP answer has left; log, never raise, when it fails."""
        def run() -> None:
            try:
                fn(*args, **kwargs)
            except Exception:  # outermost boundary of a follow-up thread
                log.exception("Slack follow-up %s failed", getattr(fn, "__name__", fn))
        self.pool.submit(run)

    def authorize(self, body: dict[str, Any], action: str, order_id: str | None = None,
                  item_id: str | None = None) -> bool:
        """Is the person allowed? If not, audit the refusal and tell them (after the ack)."""
        decision = self.gate.check(forms.user_id(body))
        if decision.allowed:
            return True
        orders.audit(self.settings, actor=forms.actor(body), action=f"click.{action}", order_id=order_id,
                     item_id=item_id, result="refused", reason=decision.reason)
        self.later(self.tell, body, decision.tell or REFUSAL)
        return False

    def tell(self, body: dict[str, Any], text: str, channel: str | None = None) -> None:
        """An ephemeral answer to the person: via response_url, in the channel, or in a DM."""
        place = forms.where(body) if body.get("type") == "block_actions" else {"channel": channel or ""}
        user = forms.user_id(body)
        if place.get("response_url"):
            WebhookClient(place["response_url"]).send(text=text, response_type="ephemeral", replace_original=False)
        elif place.get("channel"):
            self.client.chat_postEphemeral(channel=place["channel"], user=user, text=text)
        else:
            self.client.chat_postMessage(channel=user, text=text)

    def open_booked_manually(self, trigger_id: str, order_id: str, item_id: str, channel: str) -> None:
        snap = reads.snapshot(self.settings, order_id)
        if snap is None or not any(i.item_id == item_id for i in snap.items):
            return
        system = next(i.system for i in snap.items if i.item_id == item_id)
        meta = forms.modal_metadata(order_id, item_id, system, channel)
        checking = orders.ExistingCheck("checking") if system == "synxis" else None
        opened = self.client.views_open(trigger_id=trigger_id,
                                        view=render.booked_manually_modal(snap, item_id, meta, checking))
        if checking is not None:
            found = reads.existing_booking(self.settings, order_id, item_id)
            try:
                self.client.views_update(view_id=opened["view"]["id"], hash=opened["view"]["hash"],
                                         view=render.booked_manually_modal(snap, item_id, meta, found))
            except SlackApiError as exc:  # closed or changed meanwhile: nothing to show it in
                log.info("could not show the SynXis check for %s/%s: %s", order_id, item_id, exc)

    def open_complete_unchecked(self, trigger_id: str, order_id: str, channel: str) -> None:
        snap = reads.snapshot(self.settings, order_id)
        if snap is not None:
            meta = json.dumps({"order_id": order_id, "channel": channel})
            self.client.views_open(trigger_id=trigger_id, view=render.complete_unchecked_modal(snap, meta))

    def open_log(self, trigger_id: str, order_id: str, item_id: str) -> None:
        snap = reads.snapshot(self.settings, order_id)
        if snap is not None and any(i.item_id == item_id for i in snap.items):
            self.client.views_open(trigger_id=trigger_id, view=render.log_modal(snap, item_id))

    def message_guest(self, body: dict[str, Any], order_id: str) -> None:
        """"Message guest": the drafted message, to the person alone, to copy and send (audited)."""
        found = guest_message.draft(self.settings, order_id, forms.actor(body), via="slack")
        if found is None:
            return self.tell(body, f"Order {order_id} is not known to syncdesk.")
        self.tell(body, f"Message for the guest ({found.situation}); copy it and send it yourself, "
                        f"syncdesk sends nothing:\n```{render.escape(found.text)}```")

    def reveal_guest(self, body: dict[str, Any], order_id: str) -> None:
        """"Show guest details" (CHAT_GUEST_DETAILS=masked): the guest, in an ephemeral message (audited)."""
        shown = reveal(self.settings, order_id, forms.actor(body), via="slack")
        self.tell(body, render.escape(revealed(shown, order_id)))

    def publish_home(self, user: str, status: str | None = None, day: dt.date | None = None) -> None:
        decision = self.gate.check(user)
        if not decision.allowed:
            view = {"type": "home", "blocks": [render.section(decision.tell or REFUSAL)]}
        else:
            rows = reads.queue(self.settings, status, day, limit=100)
            snapshots = reads.open_alerts(self.settings)
            links = reads.alert_links(self.settings, [r.order_id for r in rows] + [s.order_id for s in snapshots])
            view = render.home_view(snapshots, rows, links, status, day,
                                    arrivals=current_summaries(self.settings))
        self.client.views_publish(user_id=user, view=view)

    def lookup(self, text: str) -> dict[str, Any]:
        """The ephemeral answer to `/syncdesk order X`, `/syncdesk orders [status] [day]`, `/order X`."""
        words = text.split()
        if words and words[0] == "order" and len(words) == 2:
            snap = reads.snapshot(self.settings, words[1])
            if snap is None:
                return {"text": f"Order {render.escape(words[1])} is not known to syncdesk."}
            return {"text": render.alert_text(snap), "blocks": render.lookup_blocks(snap)}  # with its notes
        if words and words[0] == "orders":
            status = next((w for w in words[1:] if w in render.QUEUE_STATUSES), None)
            day = next((_day(w) for w in words[1:] if _day(w)), None)
            rows = reads.queue(self.settings, status, day)
            title = "Order queue" + "".join(f" · {x}" for x in (status, day) if x)
            return {"text": title, "blocks": render.queue_blocks(
                rows, title, reads.alert_links(self.settings, [r.order_id for r in rows]))}
        return {"text": USAGE}

    def find(self, text: str, body: dict[str, Any]) -> dict[str, Any]:
        """The ephemeral answer to `/syncdesk find <text>` (issue 14)."""
        found = search.find_orders(self.settings, text, forms.actor(body), via="slack")
        if found.problem:
            return {"text": render.slack_text(found.problem)}
        links = reads.alert_links(self.settings, [r.order_id for r in found.rows])
        return {"text": f"Find “{found.query}”: {len(found.rows)} orders",
                "blocks": render.find_blocks(found.query, found.rows, links)}

    def oncall(self, words: list[str], body: dict[str, Any]) -> str:
        """The answer to `/syncdesk oncall [take [until] | release]` for the person asking."""
        if not words:
            text = "\n".join(oncall_actions.who_is_on_call(self.settings))
        elif words[0] == "take":
            text = oncall_actions.take(self.settings, forms.user_id(body), " ".join(words[1:]) or None,
                                       forms.actor(body)).message
        elif words[0] == "release" and len(words) == 1:
            text = oncall_actions.release(self.settings, forms.user_id(body), forms.actor(body)).message
        else:
            return USAGE
        return _BARE_USER.sub(r"<@\1>", render.slack_text(text))

    def reconcile(self, body: dict[str, Any]) -> None:
        """`/syncdesk reconcile`, after the ack: compare, then answer the person privately."""
        from workflows.reports.reconcile import reconcile

        orders.audit(self.settings, actor=forms.actor(body), action="reconcile.requested", via="slack")
        report = reconcile(self.settings)
        text = f"Reconciliation: {len(report.mismatches)} mismatches"
        self.respond(body, text, announce_render.reconcile_blocks(report))

    def respond(self, body: dict[str, Any], text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        """An ephemeral answer to a slash command, through its response_url when it has one."""
        if body.get("response_url"):
            WebhookClient(body["response_url"]).send(text=text, blocks=blocks, response_type="ephemeral",
                                                     replace_original=False)
        else:
            self.client.chat_postEphemeral(channel=body.get("channel_id") or "", user=forms.user_id(body),
                                           text=text, blocks=blocks)


def _day(word: str) -> dt.date | None:
    if word == "today":
        return dt.datetime.now(dt.timezone.utc).date()
    try:
        return dt.date.fromisoformat(word)
    except ValueError:
        return None


def _skip_redeliveries(settings: Settings) -> Callable[..., BoltResponse | None]:
    def skip_redeliveries(body: dict[str, Any], next: Callable[[], None]) -> BoltResponse | None:
        key = forms.delivery_key(body)
        try:
            first = key is None or get_redis(settings.redis_url).set(
                f"syncdesk:slack:delivery:{key}", 1, nx=True, ex=DELIVERY_MEMORY_SECONDS)
        except RedisError:
            first = True  # deterministic job ids still stop a second job
        if first:
            next()
            return None
        return BoltResponse(status=200, body="")
    return skip_redeliveries


def _warn_about_the_gate(settings: Settings) -> None:
    if settings.slack_allowed_usergroup:
        return
    if settings.allow_any_member:
        log.warning("SLACK_ALLOWED_USERGROUP is not set and ALLOW_ANY_MEMBER=true: every Slack user may "
                    "press syncdesk's buttons")
    else:
        log.warning("SLACK_ALLOWED_USERGROUP is not set: every Slack action is refused until it is "
                    "(or ALLOW_ANY_MEMBER=true)")


def _register_commands(app: App, surface: SlackSurface) -> None:
    """`/syncdesk …` (and the short `/order`, `/orders`): every word after the command."""
    @app.command("/syncdesk")
    @app.command("/order")
    @app.command("/orders")
    def command(ack: Any, body: dict[str, Any]) -> None:
        decision = surface.gate.check(forms.user_id(body))
        if not decision.allowed:
            return ack(text=decision.tell or REFUSAL, response_type="ephemeral")
        text = body.get("text", "").strip()
        text = {"/order": f"order {text}" if text else "orders", "/orders": f"orders {text}"}.get(body["command"], text)
        words = text.split()
        if words[:1] == ["oncall"]:
            return ack(response_type="ephemeral", text=surface.oncall(words[1:], body))
        if words[:1] == ["maintenance"]:  # issue 26: a window set or ended is said in the channel
            said = maintenance.answer(surface.settings, words[1:], forms.actor(body))
            return ack(response_type="in_channel" if said.public else "ephemeral", text=render.slack_text(said.message))
        if words[:1] == ["find"]:
            return ack(response_type="ephemeral", **surface.find(text[len("find"):], body))
        if words[:1] == ["report"]:  # issue 26.3: the front desk's report, filed after the ack
            return ack(response_type="ephemeral", text=front_desk.command(surface, body, text[len("report"):]))
        if words == ["reconcile"]:
            ack(response_type="ephemeral", text=RECONCILING)
            return surface.later(surface.reconcile, body)
        ack(response_type="ephemeral", **surface.lookup(text))


def _register_home(app: App, surface: SlackSurface) -> None:
    """The Home tab: published when opened, again when its filters change."""
    @app.action(render.HOME_FILTER_STATUS)
    @app.action(render.HOME_FILTER_DATE)
    def home_filter(ack: Any, body: dict[str, Any]) -> None:
        ack()
        values = body["view"]["state"]["values"].get("home_filters", {})
        status = ((values.get(render.HOME_FILTER_STATUS) or {}).get("selected_option") or {}).get("value")
        day = (values.get(render.HOME_FILTER_DATE) or {}).get("selected_date")
        surface.later(surface.publish_home, forms.user_id(body), None if status in (None, "all") else status,
                      dt.date.fromisoformat(day) if day else None)

    @app.event("app_home_opened")
    def home_opened(ack: Any, event: dict[str, Any]) -> None:
        ack()
        if event.get("tab", "home") == "home":
            surface.later(surface.publish_home, event["user"])


def create_bolt_app(settings: Settings, client: WebClient | None = None) -> App:
    """The Bolt `App` with syncdesk's listeners, its Web API client on `SLACK_API_URL`."""
    client = client or web_client(settings)
    surface = SlackSurface(settings, client, UsergroupGate(client, settings.slack_allowed_usergroup,
                                                           allow_any=settings.allow_any_member))
    secret = settings.secret("slack_signing_secret") if settings.slack_signing_secret else None
    # Bolt's own check logs the unverified body; ours stands in its place (before authorization).
    app = App(client=client, signing_secret=secret, request_verification_enabled=False,
              before_authorize=SignatureCheck(secret) if secret is not None else None,
              token_verification_enabled=False, process_before_response=True)
    app.use(_skip_redeliveries(settings))

    @app.error
    def malformed(error: Exception) -> BoltResponse | None:
        # A signed payload we cannot read is the sender's mistake: 400, logged, nothing done.
        if isinstance(error, forms.BadPayload):
            log.warning("refused a malformed Slack payload: %s", error)
            return BoltResponse(status=400, body="malformed payload")
        return None
    _warn_about_the_gate(settings)

    # Every move of the catalogue (buttons, overflow menus, forms) first: Bolt tries listeners in
    # the order they were registered, and a move's click is the request that must be quickest.
    moves.register(app, surface)
    outage_moves.register(app, surface)  # the outage message's Reprocess all and Show all
    retail.register(app, surface)  # the retail reminder's Dispatched
    _register_commands(app, surface)
    _register_home(app, surface)
    arrivals.register(app, surface)  # the arrival summary's Checked and It's fine
    support.register(app, surface)  # the outage message's Draft support request
    thread_notes.register(app, settings)  # replies in an alert's thread: notes in the order's history
    front_desk.register(app, surface)  # the front desk's report: the message shortcut and its form
    app.surface = surface  # type: ignore[attr-defined]  # tests and the bench reach the pool
    return app


def starlette_endpoint(bolt: App) -> Callable[[Request], Any]:
    """`POST /slack/events` for Starlette: the synchronous Bolt app runs in the threadpool."""
    async def slack_events(request: Request) -> Response:
        body = await request.body()
        try:
            bolt_request = to_bolt_request(request, body)  # Bolt parses `payload` here, before verifying
        except (ValueError, UnicodeDecodeError, AttributeError, TypeError):  # `payload` not a JSON object
            return Response("malformed request body", status_code=400)
        if wrong := envelope.problem(bolt_request.body):  # an interaction's `payload`, already parsed
            return Response(wrong, status_code=400)
        if order_id := _order_of(bolt_request.body):
            request.state.order_id = order_id  # for the request log line (syncdesk.web.RequestLog)
        started = time.perf_counter()
        bolt_response = await run_in_threadpool(bolt.dispatch, bolt_request)
        if refused := bolt_request.context.get(REFUSED):  # why, for the log line; an unsigned body names no order
            request.state.reason, request.state.order_id = refused, None
        metrics.ACK_SECONDS.labels("slack", _kind(bolt_request.body)).observe(time.perf_counter() - started)
        return to_starlette_response(bolt_response)
    return slack_events


def _kind(body: dict[str, Any]) -> str:
    """block_actions, view_submission, event_callback, command: what kind of request it was."""
    return "command" if body.get("command") else str(body.get("type") or "unknown")[:32]


def _order_of(body: dict[str, Any]) -> str | None:
    """The order a click or form is about, when it names one (for logs; never trusted for acting)."""
    try:
        if body.get("type") == "block_actions":
            return forms.clicked(body)[0]
        if body.get("type") == "view_submission":
            meta = json.loads(body["view"].get("private_metadata") or "{}")
            return str(meta["order_id"]) if isinstance(meta, dict) and meta.get("order_id") else None
    except Exception:  # not one of ours (home filters, retail buttons): no order to name
        return None
    return None

