"""`SlackNotifier`: shows an order's alert in Slack as the database says it is.

The first `show` posts with `chat.postMessage` to `SLACK_ALERT_CHANNEL`; every later one
rewrites the same message (channel id + `ts`) with `chat.update`
(docs.slack.dev/reference/methods/chat.update), and each job outcome in the audit trail
becomes one thread reply (`thread_ts`). A message deleted in Slack is posted again.

Slack allows about one message per second per channel
(docs.slack.dev/apis/web-api/rate-limits): posts are paced through Redis, so every worker
process shares the pace. A 429 is retried after its `Retry-After` by slack_sdk's
`RateLimitErrorRetryHandler`; if Slack still refuses, the error propagates, the
`refresh_alert` job fails and RQ retries it — an alert is delayed, never dropped.
"""

from __future__ import annotations

import hashlib
import logging
import time

from redis import Redis
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


class SlackNotifier:
    def __init__(self, settings: Settings, client: WebClient | None = None, redis: Redis | None = None,
                 interval: float = 1.0) -> None:
        self.channel = settings.slack_alert_channel
        self.client = client or web_client(settings)
        self.redis = redis or get_redis(settings.redis_url)
        self.interval = interval

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
            self._pace(self.channel)
            response = self.client.chat_postMessage(channel=self.channel, blocks=blocks, text=text,
                                                    unfurl_links=False)
            posted = (response["channel"], response["ts"])
        self._reply_outcomes(snapshot, *posted)
        return posted

    def _reply_outcomes(self, snapshot: OrderSnapshot, channel: str, ts: str) -> None:
        for event in snapshot.audit:
            reply = render.outcome_reply(event)
            if reply is None:
                continue
            identity = f"{snapshot.order_id}|{event.at.isoformat()}|{event.action}|{event.item_id}"
            key = "syncdesk:slack:replied:" + hashlib.sha256(identity.encode()).hexdigest()[:32]
            if not self.redis.set(key, ts, nx=True, ex=REPLY_MEMORY_SECONDS):
                continue
            try:
                self._pace(channel)
                self.client.chat_postMessage(channel=channel, thread_ts=ts, text=reply)
            except Exception:
                self.redis.delete(key)  # not said yet: the job's retry says it
                raise

    def _pace(self, channel: str) -> None:
        """Wait for this channel's turn: at most one post per `interval`, across processes."""
        key = f"syncdesk:slack:pace:{channel}"
        while not self.redis.set(key, 1, px=max(1, int(self.interval * 1000)), nx=True):
            time.sleep(max(self.redis.pttl(key), 5) / 1000)
