"""`SlackNotifier`: shows an order's alert in Slack as the database says it is.

The first `show` posts with `chat.postMessage` to the channel the routing file gives the
order's property or system (`channel`, issue 14), else `SLACK_ALERT_CHANNEL`; every later one
rewrites the same message (channel id + `ts`) with `chat.update`
(docs.slack.dev/reference/methods/chat.update), and each job outcome in the audit trail
becomes one thread reply (`thread_ts`). A message deleted in Slack is posted again.

An order attached to an outage is not posted on its own while it has no message: the outage
message lists it (`workflows.orders.jobs.refresh_alert` stops before it gets here). One
posted before its outage opened keeps being updated in place.

Slack allows about one message per second per channel
(docs.slack.dev/apis/web-api/rate-limits): every write (post, update, reply) is paced
through Redis by `Pacer`, so every worker process — and the announcer's messages
(`bot.slack.announcer`) — share the pace. A 429 is retried after its `Retry-After` by
slack_sdk's `RateLimitErrorRetryHandler`; if Slack still refuses, the error propagates, the
`refresh_alert` job fails and RQ retries it — an alert is delayed, never dropped.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from redis import Redis
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.replies import Replies
from bot.slack import render
from workflows.core import metrics
from workflows.core.queue import get_redis
from workflows.core.settings import Settings
from workflows.orders.snapshot import OrderSnapshot

log = logging.getLogger(__name__)

GONE = ("message_not_found", "channel_not_found", "cant_update_message")
CHANNEL_ID_MEMORY_SECONDS = 7 * 86400


class CountErrors(RetryHandler):
    """Counts the Web API's errors and 429s (`workflows.core.metrics`); never asks for a retry.

    slack_sdk shows every answer (200 with its parsed body, HTTP errors, connection errors) to
    the retry handlers in order, so this one, listed first, sees them all.
    """

    def can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                  error: Exception | None = None) -> bool:
        method = request.url.rstrip("/").rsplit("/", 1)[-1]
        if response is not None and response.status_code == 429:
            metrics.CHAT_API_RATE_LIMITED.labels("slack", method).inc()
        elif response is not None and response.status_code >= 400:
            metrics.CHAT_API_ERRORS.labels("slack", method, f"http_{response.status_code}").inc()
        elif response is not None and isinstance(response.body, dict) and response.body.get("ok") is False:
            metrics.CHAT_API_ERRORS.labels("slack", method, str(response.body.get("error"))[:64]).inc()
        elif error is not None:
            metrics.CHAT_API_ERRORS.labels("slack", method, error.__class__.__name__).inc()
        return False


def web_client(settings: Settings) -> WebClient:
    """The Web API client every Slack call goes through: `SLACK_API_URL`, retrying 429s and blips."""
    return WebClient(
        token=settings.secret("slack_bot_token"),
        base_url=settings.slack_api_url,
        timeout=10,
        retry_handlers=[
            CountErrors(),  # first: it sees every answer, counts the errors, retries nothing
            RateLimitErrorRetryHandler(max_retry_count=5),
            ConnectionErrorRetryHandler(max_retry_count=2),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


# Takes the channel's next free slot and says how long to wait for it. Slots are one interval
# apart and handed out in the order asked (a ticket, not a race: under load a poller could lose
# the race again and again, and in a storm an outage message would wait many seconds for its
# turn). The key holds the first free slot (Redis server time in ms, one clock for every
# process) and lives until that slot has passed.
_TAKE_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local slot = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
local free = slot + tonumber(ARGV[1])
redis.call('SET', KEYS[1], free, 'PX', free - now)
return slot - now
"""


class Pacer:
    """At most one post per `interval` per Slack channel, across processes (through Redis),
    first come first served.

    A channel may be named ("#reservations-alerts") or given by id ("C0ALERTS"); once a post
    has shown which id a name has (`learn`), both share one pace.
    """

    def __init__(self, redis: Redis, interval: float = 1.0) -> None:
        self.redis = redis
        self.interval = interval
        self._take_slot = redis.register_script(_TAKE_SLOT)

    def learn(self, name: str, channel_id: str) -> None:
        if not name or not channel_id or name == channel_id:
            return
        self.redis.set(f"syncdesk:slack:channel-id:{name}", channel_id, ex=CHANNEL_ID_MEMORY_SECONDS)
        # the slots taken under the name hold for the id too
        free, left = self.redis.get(f"syncdesk:slack:pace:{name}"), self.redis.pttl(f"syncdesk:slack:pace:{name}")
        if free is not None and left and left > 0:
            self.redis.set(f"syncdesk:slack:pace:{channel_id}", free, px=left, nx=True)

    def _channel_id(self, channel: str) -> str:
        if not channel.startswith("#"):
            return channel
        known = self.redis.get(f"syncdesk:slack:channel-id:{channel}")
        return known.decode() if isinstance(known, bytes) else known or channel

    def take(self, channel: str) -> float:
        """Take this channel's next free slot: the seconds until it comes (0: now)."""
        key = f"syncdesk:slack:pace:{self._channel_id(channel)}"
        return int(self._take_slot(keys=[key], args=[max(1, int(self.interval * 1000))])) / 1000

    def wait(self, channel: str) -> None:
        """Wait for this channel's turn (the next free slot, in the order asked)."""
        seconds = self.take(channel)
        if seconds > 0:
            time.sleep(seconds)


def _thread_root_key(channel: str, ts: str) -> str:
    return f"syncdesk:slack:thread-root:{channel}:{ts}"


class SlackNotifier:
    def __init__(self, settings: Settings, client: WebClient | None = None, redis: Redis | None = None,
                 pacer: Pacer | None = None) -> None:
        self.channel = settings.slack_alert_channel
        self.client = client or web_client(settings)
        self.redis = redis or get_redis(settings.redis_url)
        self.pacer = pacer or Pacer(self.redis, settings.chat_pace_seconds)
        # where each reply is, kept until retention has erased its order's guest (issue 28)
        self.replies = Replies(self.redis, "slack", (settings.guest_data_days + 30) * 86400)

    def show(self, snapshot: OrderSnapshot, current: tuple[str | None, str | None]) -> tuple[str | None, str | None]:
        blocks, text = render.alert_blocks(snapshot), render.alert_text(snapshot)
        channel, ts = current
        posted = None
        if channel and ts and not ts.startswith("log:"):
            try:
                self.pacer.wait(channel)
                self.client.chat_update(channel=channel, ts=ts, blocks=blocks, text=text)
                posted = (channel, ts)
            except SlackApiError as exc:
                if exc.response.get("error") not in GONE:
                    raise
                log.warning("alert message for %s is gone from Slack (%s): posting it again",
                            snapshot.order_id, exc.response.get("error"))
        if posted is None:
            posted = self._post(snapshot, blocks, text)
        # An alert posted in an outage's thread before outages stopped threading them (issue 15)
        # replies in that thread, naming its order.
        root = self.redis.get(_thread_root_key(*posted))
        root = root.decode() if isinstance(root, bytes) else root
        self._reply_outcomes(snapshot, posted[0], root or posted[1], shared=root is not None)
        return posted

    def _post(self, snapshot: OrderSnapshot, blocks: list[dict[str, object]], text: str) -> tuple[str, str]:
        """Post the alert in its property's or system's channel (routing file), else the alert channel."""
        channel = snapshot.slack_channel or self.channel
        self.pacer.wait(channel)
        response = self.client.chat_postMessage(channel=channel, blocks=blocks, text=text, unfurl_links=False)
        self.pacer.learn(channel, str(response["channel"]))
        return str(response["channel"]), str(response["ts"])

    def _reply_outcomes(self, snapshot: OrderSnapshot, channel: str, thread_ts: str, shared: bool = False) -> None:
        """One thread reply per job outcome; in an outage's shared thread each names its order."""
        for event in snapshot.audit:
            reply = render.outcome_reply(event)
            if reply is None:
                continue

            def send(reply: str = reply) -> list[Any]:
                self.pacer.wait(channel)
                sent = self.client.chat_postMessage(channel=channel, thread_ts=thread_ts,
                                                    text=f"{render.escape(snapshot.order_id)}: {reply}" if shared
                                                    else reply)
                return [str(sent["channel"]), str(sent["ts"]), shared]

            self.replies.once(snapshot.order_id, event, thread_ts, send)

    def rewrite(self, snapshot: OrderSnapshot, current: tuple[str | None, str | None]) -> int:
        """Rewrite the alert at `current` and its thread replies from `snapshot` with
        `chat.update` (after an erasure, issue 28); never posts. A message gone from Slack is
        left gone. How many messages were rewritten."""
        done = 0
        channel, ts = current
        if channel and ts and not ts.startswith("log:"):
            done += self._update(channel, ts, text=render.alert_text(snapshot), blocks=render.alert_blocks(snapshot))
        replies = self.replies.where(snapshot.order_id)
        for event in snapshot.audit:
            reply = render.outcome_reply(event)
            where = replies.get(self.replies.key(snapshot.order_id, event)) if reply is not None else None
            if where is not None:
                reply_channel, reply_ts, shared = where
                done += self._update(reply_channel, reply_ts, text=f"{render.escape(snapshot.order_id)}: {reply}"
                                     if shared else str(reply))
        return done

    def _update(self, channel: str, ts: str, **message: Any) -> int:
        try:
            self.pacer.wait(channel)
            self.client.chat_update(channel=channel, ts=ts, **message)
        except SlackApiError as exc:
            if exc.response.get("error") not in GONE:
                raise
            return 0
        return 1


