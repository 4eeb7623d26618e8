"""A fake PagerDuty Events API v2 (github.com/PagerDuty/developer-docs, docs/events-API-v2):
`POST /v2/enqueue` with `routing_key`, `event_action`, `dedup_key` and, for a trigger,
`payload{summary, source, severity}`; 202 `{"status": "success", "message": "Event processed",
"dedup_key"}`, 400 `{"status": "invalid event", "message": "Event object is invalid", "errors"}`.

    with FakePagerDuty(routing_key="r" * 32) as pd:
        ...
        pd.events                 # every accepted event, in order
        pd.alerts["syncdesk:order:ORD-1"]  # "triggered" | "acknowledged" | "resolved"
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from tests.fakes.http import FakeServer, RecordedRequest, Reply

SEVERITIES = ("critical", "error", "warning", "info")


class FakePagerDuty(FakeServer):
    def __init__(self, *, routing_key: str = "R" * 32) -> None:
        super().__init__()
        self.routing_key = routing_key
        self.events: list[dict[str, Any]] = []
        self.alerts: dict[str, str] = {}
        self.route("POST", r"/v2/enqueue", self._enqueue)

    def of_action(self, action: str) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.events if e["event_action"] == action]

    @staticmethod
    def _invalid(*errors: str) -> Reply:
        return Reply(400, {"status": "invalid event", "message": "Event object is invalid", "errors": list(errors)})

    def _enqueue(self, req: RecordedRequest, _m: re.Match[str]) -> Reply:
        body = req.json
        if not isinstance(body, dict):
            return self._invalid("Event object is not JSON")
        if body.get("routing_key") != self.routing_key:
            return self._invalid("Invalid routing key")
        action = body.get("event_action")
        if action not in ("trigger", "acknowledge", "resolve"):
            return self._invalid("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
        key = body.get("dedup_key")
        if action == "trigger":
            payload = body.get("payload") or {}
            missing = [f for f in ("summary", "source", "severity") if not payload.get(f)]
            if missing:
                return self._invalid(*(f"'payload.{f}' is missing or blank" for f in missing))
            if payload["severity"] not in SEVERITIES:
                return self._invalid("'payload.severity' is invalid")
            if len(payload["summary"]) > 1024:
                return self._invalid("'payload.summary' is too long")
            key = key or uuid.uuid4().hex
            if self.alerts.get(key) != "acknowledged":
                self.alerts[key] = "triggered"
        elif not key:
            return self._invalid("'dedup_key' is missing or blank")
        elif self.alerts.get(key) in ("triggered", "acknowledged"):
            self.alerts[key] = "acknowledged" if action == "acknowledge" else "resolved"
        self.events.append(dict(body, dedup_key=key))
        return Reply(202, {"status": "success", "message": "Event processed", "dedup_key": key})
