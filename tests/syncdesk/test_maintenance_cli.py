"""`syncdesk maintenance` (issue 26.1) on both databases, as an operator runs it (`run_cli`):
set a window, failures in it through the real intake are held and listed under it, the list
shows it and the routing file's recurring night audit in its property's zone, `end` ends it
early (audited with the operator's name), mistakes exit 2 and refusals 1."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from tests.conftest import run_cli, settings_env
from tests.workflows.outage.test_maintenance import NIGHT_AUDIT, fail
from workflows.core import states
from workflows.core.db import transaction
from workflows.core.models import Alert, AuditEvent, Incident, MaintenanceWindow
from workflows.outage import views as outage_views


def test_set_list_and_end_a_window_from_the_command_line(settings, tmp_path):
    routing = tmp_path / "routing.yml"
    routing.write_text(NIGHT_AUDIT)
    s = settings.model_copy(update={"connectors_file": str(routing)})
    env = settings_env(s)

    result = run_cli(env, "maintenance", "synxis", "13098", "now-2h", "Sabre upgrade", "--actor", "cli:ops")
    assert result.returncode == 0, result.stderr
    with transaction(s.database_url) as session:
        window_id = session.scalar(select(MaintenanceWindow.id))
    assert result.stdout.startswith(f"Maintenance window set: #{window_id} SynXis at 13098, now until ")
    held = [fail(s, n) for n in (1, 2)]

    listed = run_cli(env, "maintenance")
    assert listed.returncode == 0
    assert f"#{window_id} SynXis at 13098, now until" in listed.stdout and "2 failures held" in listed.stdout
    assert "PMS at HARBOUR, every day 02:00-03:00 Australia/Sydney (the routing file): night audit · next " \
           in listed.stdout and ("AEDT" in listed.stdout or "AEST" in listed.stdout)

    bad = run_cli(env, "maintenance", "synxis", "13098", "soon", "x")
    assert bad.returncode == 2 and bad.stderr.startswith("syncdesk maintenance: Say when, as FROM-TO")
    assert run_cli(env, "maintenance", "end", "999999").returncode == 1

    ended = run_cli(env, "maintenance", "end", str(window_id), "--actor", "cli:ops")
    assert ended.returncode == 0 and ended.stdout.startswith(f"Maintenance window ended early: #{window_id}")
    assert run_cli(env, "maintenance", "end", str(window_id)).returncode == 1  # once
    with transaction(s.database_url) as session:
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "maintenance.ended")).all()
        assert (event.actor, event.detail["early"], event.detail["failures"]) == ("cli:ops", True, 2)
        incident_id = session.scalar(select(Alert.incident_id).where(Alert.order_id == held[0]))
        assert session.get(Incident, incident_id).state == states.INCIDENT_QUIET
        view = outage_views.view(session, incident_id)
    assert view.reprocess_all_offered and view.still_failed == 2
    assert f"#{window_id}" not in run_cli(env, "maintenance").stdout
    assert dt.timedelta(0) < view.maintenance.ends_at - view.maintenance.ended_at  # ended before its end
