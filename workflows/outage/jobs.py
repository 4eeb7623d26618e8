"""The outage's jobs: its message on every surface, the one page, the all-clear, the recovery.

- `refresh_incident` posts or updates the outage message on each surface from the database,
  at most once per incident every few seconds (`workflows.outage.refresh`);
- `page_incident` pages on-call once (direct message, and PagerDuty when configured);
- `check_quiet` (the clock) closes an incident whose system has been quiet for the window
  and posts the all-clear once, offering "Reprocess all N" (`workflows.outage.requests`); an
  incident whose recovery was paused resumes it with a new round;
- `start_recovery` does the heavy part of "Reprocess all" after the click was answered.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy import select, update

from workflows.core import queue, states
from workflows.core.db import transaction
from workflows.core.messages import messengers
from workflows.core.models import Incident, utcnow
from workflows.core.settings import Settings, get_settings
from workflows.oncall.escalation import outage_dedup_key
from workflows.oncall.rotation import rotation_for, who
from workflows.outage import recovery
from workflows.outage.detect import ACTOR, Policy
from workflows.outage.refresh import request_refresh, take_turn
from workflows.outage.views import IncidentView, boards, shown, view
from workflows.systems.clients import pagerduty

log = logging.getLogger(__name__)

REPROCESS_FOLLOWED_FOR = dt.timedelta(hours=6)  # how long a recovery is looked after by the clock
# The first post of an outage message, one at a time per surface: longer than a post can wait
# for its channel's turn in a storm.
FIRST_POST_SECONDS = 120


def surfaces(settings: Settings) -> list[str]:
    """Where outage messages go: Slack always (it logs without a token), Teams when configured."""
    return ["slack"] + (["teams"] if settings.teams_conversation_id else [])


def refresh_incident(incident_id: int, settings: Settings | None = None) -> str:
    """Job: post or update the outage message on every surface as the database says it is,
    at most once per incident every OUTAGE_REFRESH_SECONDS (`workflows.outage.refresh`)."""
    settings = settings or get_settings()
    redis = queue.get_redis(settings.redis_url)
    if not take_turn(settings, redis, incident_id):
        return "coalesced"
    refs = _refs(settings, incident_id)
    if refs is None:
        return "gone"

    def read() -> IncidentView:  # called by each surface once its channel's turn has come
        current = shown(settings, incident_id)
        if current is None:  # incidents are never deleted; fail loudly rather than show nothing
            raise LookupError(f"incident {incident_id} is gone")
        return current

    for surface in surfaces(settings):
        if refs[surface][1] is not None:
            _show(settings, incident_id, surface, read, refs[surface])
            continue
        # The first post waits for its channel's turn, which in a storm outlasts the refresh's
        # own turn: another refresh would then find no message yet and post a second one. So
        # first posts go one at a time, each looking again for the message the last one posted.
        with redis.lock(f"syncdesk:outage:{incident_id}:{surface}:first-post", timeout=FIRST_POST_SECONDS,
                        blocking_timeout=FIRST_POST_SECONDS):
            current = _refs(settings, incident_id) or refs
            _show(settings, incident_id, surface, read, current[surface])
    return "shown"


def _refs(settings: Settings, incident_id: int) -> dict[str, tuple[str | None, str | None]] | None:
    """Where the outage message is on each surface, as the database says now."""
    with transaction(settings.database_url) as session:
        incident = session.get(Incident, incident_id)
        if incident is None:
            return None
        return {"slack": (incident.channel, incident.message_id),
                "teams": (incident.teams_conversation, incident.teams_message_id)}


def _show(settings: Settings, incident_id: int, surface: str, read: Callable[[], IncidentView],
          current: tuple[str | None, str | None]) -> None:
    """Show the message on `surface` and remember where it is."""
    ref = boards.get(surface).show_incident(read, current)
    if ref != current:
        columns = ({"channel": ref[0], "message_id": ref[1]} if surface == "slack"
                   else {"teams_conversation": ref[0], "teams_message_id": ref[1]})
        with transaction(settings.database_url) as session:
            session.execute(update(Incident).where(Incident.id == incident_id).values(**columns)
                            .execution_options(synchronize_session=False))


def page_incident(incident_id: int, settings: Settings | None = None, now: dt.datetime | None = None) -> str:
    """Job: page on-call once for the incident (direct message, and PagerDuty when configured)."""
    settings = settings or get_settings()
    now = now or utcnow()
    with transaction(settings.database_url) as session:
        won = session.execute(update(Incident).where(Incident.id == incident_id, Incident.paged_at.is_(None))
                              .values(paged_at=now).execution_options(synchronize_session=False)).rowcount
        if not won:
            return "already paged"
        outage = view(session, incident_id)
        current, _ = who(session, now, rotation_for(settings))
    assert outage is not None
    text = (f"{outage.summary}. Every affected order is listed in its outage message in the channel "
            "(Show all); I'll post the all-clear.")
    try:
        slack_id = current.person.id_on("slack") if current else None
        if slack_id:
            messengers.get("slack").direct_message([slack_id], text, None)
        else:
            messengers.get("slack").channel_message(f"{text} Nobody is on call.", settings.escalation_mention)
        if settings.pagerduty_routing_key is not None:
            with pagerduty(settings) as client:
                client.trigger(outage_dedup_key(incident_id), outage.summary, severity="critical",
                               custom_details={"system": outage.system, "failures": outage.failure_count,
                                               "error_classes": dict(outage.error_classes)})
    except Exception:
        # Let the page be tried again (RQ retries the job): un-claim it first.
        with transaction(settings.database_url) as session:
            session.execute(update(Incident).where(Incident.id == incident_id).values(paged_at=None)
                            .execution_options(synchronize_session=False))
        raise
    with transaction(settings.database_url) as session:
        states.audit(session, actor=ACTOR, action="outage.paged", incident_id=incident_id,
                     to=current.person.name if current else None, summary=outage.summary)
    return "paged"


def check_quiet(settings: Settings | None = None, now: dt.datetime | None = None) -> list[int]:
    """Close every incident whose system has been quiet for the window; the all-clear goes out
    once per quiet spell. A recovery that was paused (the incident re-opened) resumes with a
    new round; a running one whose lanes were lost is started again."""
    settings = settings or get_settings()
    now = now or utcnow()
    policy = Policy.from_settings(settings)
    closed: list[int] = []
    with transaction(settings.database_url) as session:
        quiet = session.scalars(select(Incident).where(
            Incident.state == states.INCIDENT_OPEN, Incident.last_failure_at <= now - policy.window)).all()
        for incident in quiet:
            won = session.execute(
                update(Incident).where(Incident.id == incident.id, Incident.state == states.INCIDENT_OPEN)
                .values(state=states.INCIDENT_QUIET, open_for=None, all_clear_at=now).execution_options(synchronize_session=False)
            ).rowcount
            if not won:
                continue
            session.refresh(incident)
            request_refresh(session, incident.id, f"quiet {now.isoformat()}")
            queue.add(session, "workflows.outage.jobs.announce_all_clear",
                      queue.job_id("all-clear", incident.id, now.isoformat()), incident_id=incident.id)
            if incident.paged_at is not None:
                queue.add(session, "workflows.oncall.escalation.page_event",
                          queue.job_id("pd", "resolve", outage_dedup_key(incident.id), now.isoformat()),
                          action="resolve", dedup_key=outage_dedup_key(incident.id))
            states.audit(session, actor=ACTOR, action="outage.all_clear", incident_id=incident.id,
                         system=incident.system)
            if incident.reprocess_requested_at is not None:  # it was recovering when the system failed again
                items = recovery.start(session, settings, incident, now=now)
                states.audit(session, actor=ACTOR, action="outage.recovery_resumed", incident_id=incident.id,
                             items=items)
            closed.append(incident.id)
        entry_ids = queue.added(session)
        followed = [i for i in session.scalars(select(Incident).where(
            Incident.state == states.INCIDENT_QUIET, Incident.reprocess_requested_at >= now - REPROCESS_FOLLOWED_FOR,
            Incident.id.not_in(closed or [0]))) if recovery.unfinished(session, i)]
    try:
        queue.dispatch(settings, entry_ids)
        redis = queue.get_redis(settings.redis_url)
        for incident in followed:
            recovery.kick(settings, redis, incident, int(now.timestamp() // 60))
    except Exception:  # outermost boundary: the outbox keeps the jobs for the clock's next drain
        log.exception("dispatch after the all-clear failed; the outbox keeps the jobs")
    return closed


def start_recovery(incident_id: int, settings: Settings | None = None) -> str:
    """Job: the heavy part of "Reprocess all" (the round's items, their alerts acknowledged and
    audited, the lanes asked for), after the click was answered."""
    settings = settings or get_settings()
    with transaction(settings.database_url) as session:
        incident = session.get(Incident, incident_id, with_for_update=True)
        if incident is None or incident.reprocess_requested_at is None:
            return "nothing asked"
        if incident.reprocess_items:
            return "already started"
        items = recovery.start(session, settings, incident)
        states.audit(session, actor=incident.reprocess_requested_by or ACTOR, action="outage.reprocess_all",
                     incident_id=incident_id, items=items)
        request_refresh(session, incident_id, "recovery started")
        entries = queue.added(session)
    queue.dispatch(settings, entries)
    return f"recovering {items} item{'s' if items != 1 else ''}"


def announce_all_clear(incident_id: int, settings: Settings | None = None) -> str:
    """Job: post the all-clear in the channel of every surface (the outage message carries the button)."""
    settings = settings or get_settings()
    current = shown(settings, incident_id)
    if current is None:
        return "gone"
    for surface in surfaces(settings):
        messengers.get(surface).channel_message(current.all_clear_text, None)
    return "posted"
