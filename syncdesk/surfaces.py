"""Plugging the chat surfaces into the workflows' ports (`workflows.core.ports`): which
`Notifier` shows alerts on each surface, which messenger, outage, digest and arrivals board
carry the on-call workflows' messages, and where the retail reminder goes.

A surface without credentials gets `bot.log`'s stand-ins, which log what they would post,
so syncdesk runs without a token (DESIGN §3.3). Called once at start by the worker and the
web app.
"""

from __future__ import annotations

import logging

from bot.log import LogAnnouncer, LogNotifier
from workflows.arrivals.check import boards as arrival_boards
from workflows.core.messages import Messenger, messengers
from workflows.core.settings import Settings
from workflows.guests.erasure import rewriters
from workflows.orders.notify import Notifier, notifiers
from workflows.outage.views import boards as incident_boards
from workflows.reports.digest import boards as digest_boards
from workflows.retail.service import RetailReminder, reminders

log = logging.getLogger(__name__)


def register_surfaces(settings: Settings) -> None:
    """Every surface's notifier and announcer: Slack always (it logs without a token), Teams
    when a conversation is configured (`workflows.orders.service.surfaces_for`)."""
    _register_slack(settings)
    if settings.teams_conversation_id:
        _register_teams(settings)


def register_log_surface(surface: str) -> tuple[LogNotifier, LogAnnouncer]:
    """Plug the logging stand-ins in for `surface` on every port; returns them (tests read them)."""
    notifier, announcer = LogNotifier(surface), LogAnnouncer(surface)
    notifiers.register(surface, notifier)
    rewriters.register(surface, notifier)
    _register_announcer(surface, announcer)
    return notifier, announcer


def unplug_all() -> None:
    """Forget every registration on every port (tests start from a known state)."""
    for port in (notifiers, rewriters, messengers, incident_boards, digest_boards, arrival_boards, reminders):
        port.clear()


def _register_announcer(surface: str, announcer: LogAnnouncer | object) -> None:
    messengers.register(surface, announcer)  # type: ignore[arg-type]
    incident_boards.register(surface, announcer)  # type: ignore[arg-type]
    digest_boards.register(surface, announcer)  # type: ignore[arg-type]
    arrival_boards.register(surface, announcer)  # type: ignore[arg-type]


def _register_slack(settings: Settings) -> None:
    if settings.slack_bot_token is None:
        log.warning("SLACK_BOT_TOKEN is not set: syncdesk runs and logs the Slack alerts it would post")
        register_log_surface("slack")
        reminders.register("slack", _log_retail_reminder)
        return
    from bot.slack.announcer import SlackAnnouncer
    from bot.slack.notifier import SlackNotifier

    slack_notifier: Notifier = SlackNotifier(settings)
    notifiers.register("slack", slack_notifier)
    rewriters.register("slack", slack_notifier)  # type: ignore[arg-type]
    announcer = SlackAnnouncer(settings)
    _register_announcer("slack", announcer)
    reminders.register("slack", announcer.show_retail_reminder)
    log.info("Slack alerts go to %s via %s", settings.slack_alert_channel, settings.slack_api_url)


def _register_teams(settings: Settings) -> None:
    if settings.teams_app_id is None or settings.teams_app_password is None:
        log.warning("TEAMS_CONVERSATION_ID is set but TEAMS_APP_ID/TEAMS_APP_PASSWORD are not: "
                    "syncdesk logs the Teams alerts it would post")
        register_log_surface("teams")
        return
    from bot.teams.announcer import TeamsAnnouncer
    from bot.teams.notifier import TeamsNotifier

    teams_notifier: Notifier = TeamsNotifier(settings)
    notifiers.register("teams", teams_notifier)
    rewriters.register("teams", teams_notifier)  # type: ignore[arg-type]
    teams_announcer = TeamsAnnouncer(settings)
    _register_announcer("teams", teams_announcer)
    reminders.register("teams", teams_announcer.show_retail_reminder)
    log.info("Teams alerts go to conversation %s via %s", settings.teams_conversation_id, settings.teams_service_url)


def _log_retail_reminder(reminder: RetailReminder) -> None:
    log.warning("no slack token configured: would post the retail reminder:\n%s", reminder.summary)


def messengers_for(settings: Settings) -> dict[str, Messenger]:
    """A messenger per surface, built for a process that does not register the ports (the web
    process's dead man's switch, `workflows.oncall.deadman`): Slack always (logging without a
    token), Teams when a conversation is configured."""
    built: dict[str, Messenger] = {}
    if settings.slack_bot_token is not None:
        from bot.slack.announcer import SlackAnnouncer

        built["slack"] = SlackAnnouncer(settings)
    else:
        built["slack"] = LogAnnouncer("slack")
    if settings.teams_conversation_id:
        if settings.teams_app_id is not None and settings.teams_app_password is not None:
            from bot.teams.announcer import TeamsAnnouncer

            built["teams"] = TeamsAnnouncer(settings)
        else:
            built["teams"] = LogAnnouncer("teams")
    return built
