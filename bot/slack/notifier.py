"""`SlackNotifier`: shows an order's alert in Slack as the database says it is.

The first `show` posts with `chat.postMessage` to `SLACK_ALERT_CHANNEL`; every later one
rewrites the same message (channel id + `ts`) with `chat.update`
(docs.slack.dev/reference/methods/chat.update), and each job outcome in the audit trail
becomes one thread reply (`thread_ts`). A message deleted in Slack is posted again.

An order grouped under an outage (`snapshot.incident_thread`, workflows.outage) is posted
as a reply in the outage message's thread instead, still with its own buttons and still
updated in place; its outcome replies go to that same thread (Slack threads have one
level). If the outage message is not posted yet, the job is retried (RQ's retry
intervals) so the alert lands in the thread; when its retries run out it is posted at the
top level rather than held back.

Slack allows about one message per second per channel
(docs.slack.dev/apis/web-api/rate-limits): posts are paced through Redis by `Pacer`, so
every worker process — and the announcer's posts (`bot.slack.announcer`) — share the pace. A 429 is retried after its `Retry-After` by slack_sdk's
`RateLimitErrorRetryHandler`; if Slack still refuses, the error propagates, the
`refresh_alert` job fails and RQ retries it — an alert is delayed, never dropped.
"""

from __future__ import annotations

import hashlib
import logging
import time

from redis import Redis
from rq import get_current_job
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.slack import render
from workflows.queue import get_redis
from workflows.settings import Settings
from workflows.snapshot import OrderSnapshot

log = logging.getLogger(__name__)

GONE = ("message_not_found", "channel_not_found", "cant_update_message")
REPLY_MEMORY_SECONDS = 90 * 86400
CHANNEL_ID_MEMORY_SECONDS = 7 * 86400


class OutageMessagePending(RuntimeError):
    """The alert belongs in an outage thread whose parent message is not posted yet."""


def web_client(settings: Settings) -> WebClient:
    """The Web API client every Slack call goes through: `SLACK_API_URL`, retrying 429s and blips."""
    return WebClient(
        token=settings.secret("slack_bot_token"),
        base_url=settings.slack_api_url,
        timeout=10,
        retry_handlers=[
            RateLimitErrorRetryHandler(max_retry_count=5),
            ConnectionErrorRetryHandler(max_retry_count=2),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


class Pacer:
    """At most one post per `interval` per Slack channel, across processes (through Redis).

    A channel may be named ("#reservations-alerts") or given by id ("C0ALERTS"); once a post
    has shown which id a name has (`learn`), both share one pace.
    """

    def __init__(self, redis: Redis, interval: float = 1.0) -> None:
        self.redis = redis
        self.interval = interval

    def learn(self, name: str, channel_id: str) -> None:
        if not name or not channel_id or name == channel_id:
            return
        self.redis.set(f"syncdesk:slack:channel-id:{name}", channel_id, ex=CHANNEL_ID_MEMORY_SECONDS)
        left = self.redis.pttl(f"syncdesk:slack:pace:{name}")  # the post just made under the name
        if left and left > 0:
            self.redis.set(f"syncdesk:slack:pace:{channel_id}", 1, px=left, nx=True)

    def _channel_id(self, channel: str) -> str:
        if not channel.startswith("#"):
            return channel
        known = self.redis.get(f"syncdesk:slack:channel-id:{channel}")
        return known.decode() if isinstance(known, bytes) else known or channel

    def wait(self, channel: str) -> None:
        """Wait for this channel's turn."""
        key = f"syncdesk:slack:pace:{self._channel_id(channel)}"
        while not self.redis.set(key, 1, px=max(1, int(self.interval * 1000)), nx=True):
            time.sleep(max(self.redis.pttl(key), 5) / 1000)


def _thread_root_key(channel: str, ts: str) -> str:
    return f"syncdesk:slack:thread-root:{channel}:{ts}"


class SlackNotifier:
    def __init__(self, settings: Settings, client: WebClient | None = None, redis: Redis | None = None,
                 interval: float = 1.0, pacer: Pacer | None = None) -> None:
        self.channel = settings.slack_alert_channel
        self.client = client or web_client(settings)
        self.redis = redis or get_redis(settings.redis_url)
        self.pacer = pacer or Pacer(self.redis, interval)

    def show(self, snapshot: OrderSnapshot, current: tuple[str | None, str | None]) -> tuple[str | None, str | None]:
        blocks, text = render.alert_blocks(snapshot), render.alert_text(snapshot)
        channel, ts = current
        posted = None
        if channel and ts and not ts.startswith("log:"):
            try:
                self.client.chat_update(channel=channel, ts=ts, blocks=blocks, text=text)
                posted = (channel, ts)
            except SlackApiError as exc:
                if exc.response.get("error") not in GONE:
                    raise
                log.warning("alert message for %s is gone from Slack (%s): posting it again",
                            snapshot.order_id, exc.response.get("error"))
        if posted is None:
            posted = self._post(snapshot, blocks, text)
        root = self.redis.get(_thread_root_key(*posted))
        root = root.decode() if isinstance(root, bytes) else root
        self._reply_outcomes(snapshot, posted[0], root or posted[1], shared=root is not None)
        return posted

    def _post(self, snapshot: OrderSnapshot, blocks: list[dict[str, object]], text: str) -> tuple[str, str]:
        """Post the alert: in its outage's thread when it has one, else in the alert channel."""
        thread = snapshot.incident_thread
        if thread is not None and thread[1].startswith("log:"):
            thread = None  # the outage message was only logged (no token then): nothing to thread under
        elif thread is None and snapshot.incident_id is not None:
            job = get_current_job()
            if job is not None and job.retries_left:
                raise OutageMessagePending(f"outage {snapshot.incident_id}'s message is not posted yet: "
                                           f"{snapshot.order_id}'s alert waits for it")
            log.warning("outage %s has no message yet: posting %s's alert at the top level",
                        snapshot.incident_id, snapshot.order_id)
        if thread is not None:
            self.pacer.wait(thread[0])
            response = self.client.chat_postMessage(channel=thread[0], thread_ts=thread[1], blocks=blocks, text=text,
                                                    unfurl_links=False)
            posted = (str(response["channel"]), str(response["ts"]))
            self.redis.set(_thread_root_key(*posted), thread[1], ex=REPLY_MEMORY_SECONDS)
            return posted
        self.pacer.wait(self.channel)
        response = self.client.chat_postMessage(channel=self.channel, blocks=blocks, text=text, unfurl_links=False)
        self.pacer.learn(self.channel, str(response["channel"]))
        return str(response["channel"]), str(response["ts"])

    def _reply_outcomes(self, snapshot: OrderSnapshot, channel: str, thread_ts: str, shared: bool = False) -> None:
        """One thread reply per job outcome; in an outage's shared thread each names its order."""
        for event in snapshot.audit:
            reply = render.outcome_reply(event)
            if reply is None:
                continue
            identity = f"{snapshot.order_id}|{event.at.isoformat()}|{event.action}|{event.item_id}"
            key = "syncdesk:slack:replied:" + hashlib.sha256(identity.encode()).hexdigest()[:32]
            if not self.redis.set(key, thread_ts, nx=True, ex=REPLY_MEMORY_SECONDS):
                continue
            try:
                self.pacer.wait(channel)
                self.client.chat_postMessage(channel=channel, thread_ts=thread_ts,
                                             text=f"{render.escape(snapshot.order_id)}: {reply}" if shared else reply)
            except Exception:
                self.redis.delete(key)  # not said yet: the job's retry says it
                raise
