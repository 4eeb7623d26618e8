"""Wiring the chat surfaces into the jobs: which `Notifier` shows alerts on each surface."""

from __future__ import annotations

import logging

from workflows.notify import LogNotifier, register
from workflows.settings import Settings

log = logging.getLogger(__name__)


def register_notifiers(settings: Settings) -> None:
    if settings.slack_bot_token is None:
        log.warning("SLACK_BOT_TOKEN is not set: syncdesk runs and logs the Slack alerts it would post")
        register("slack", LogNotifier("slack"))
