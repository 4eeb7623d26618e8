"""Wiring the chat surfaces into the jobs: which `Notifier` shows alerts on each surface,
which `Announcer` carries the on-call workflows' messages, and where the retail reminder goes."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from workflows.notify import LogNotifier, register
from workflows.settings import Settings

if TYPE_CHECKING:
    from workflows.retail import RetailReminder

log = logging.getLogger(__name__)


def register_notifiers(settings: Settings) -> None:
    """Every surface's alert notifier, and with them its announcer (`register_announcers`)."""
    register_announcers(settings)
    _register_teams(settings)
    if settings.slack_bot_token is None:
        log.warning("SLACK_BOT_TOKEN is not set: syncdesk runs and logs the Slack alerts it would post")
        register("slack", LogNotifier("slack"))
        return
    from bot.slack.notifier import SlackNotifier

    register("slack", SlackNotifier(settings))
    log.info("Slack alerts go to %s via %s", settings.slack_alert_channel, settings.slack_api_url)


def _register_teams(settings: Settings) -> None:
    """Teams alerts go out when a conversation is configured (`workflows.service.surfaces_for`)."""
    if not settings.teams_conversation_id:
        return
    if settings.teams_app_id is None or settings.teams_app_password is None:
        log.warning("TEAMS_CONVERSATION_ID is set but TEAMS_APP_ID/TEAMS_APP_PASSWORD are not: "
                    "syncdesk logs the Teams alerts it would post")
        register("teams", LogNotifier("teams"))
        return
    from bot.teams.notifier import TeamsNotifier

    register("teams", TeamsNotifier(settings))
    log.info("Teams alerts go to conversation %s via %s", settings.teams_conversation_id, settings.teams_service_url)


def register_announcers(settings: Settings) -> None:
    """The on-call workflows' messages (`workflows.announce`) and the retail reminder
    (`workflows.retail.register_sink`) per surface; without credentials they are logged."""
    from workflows import announce, retail

    if settings.teams_conversation_id and settings.teams_app_id and settings.teams_app_password:
        from bot.teams.announcer import TeamsAnnouncer

        announce.register("teams", TeamsAnnouncer(settings))
    if settings.slack_bot_token is None:
        announce.register("slack", announce.LogAnnouncer("slack"))
        retail.register_sink("slack", _log_retail_reminder)
        return
    from bot.slack.announcer import SlackAnnouncer

    slack = SlackAnnouncer(settings)
    announce.register("slack", slack)
    retail.register_sink("slack", slack.show_retail_reminder)


def _log_retail_reminder(reminder: RetailReminder) -> None:
    log.warning("no slack token configured: would post the retail reminder:\n%s", reminder.summary)
