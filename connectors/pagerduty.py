"""PagerDuty's Events API v2: trigger, acknowledge and resolve an alert by its dedup key.

Implements PagerDuty's "Send an Alert Event" and "Events API v2 Overview" pages
(github.com/PagerDuty/developer-docs, docs/events-API-v2/02-Trigger-Events.md and
01-Overview.md; developer.pagerduty.com/docs/events-api-v2/trigger-events):

- `POST {PAGERDUTY_EVENTS_URL}/v2/enqueue` (default host https://events.pagerduty.com),
  JSON `{"routing_key", "event_action": "trigger"|"acknowledge"|"resolve", "dedup_key",
  "payload": {"summary", "source", "severity", "custom_details", ...}}`; `payload` is
  required for a trigger only. `summary` is at most 1024 characters, `dedup_key` at most
  255, `severity` one of critical, error, warning, info.
- Events with the same `dedup_key` (and routing key) apply to the same open alert: a second
  trigger adds a log entry rather than a new alert, and an acknowledge or resolve of an
  already-resolved alert is dropped. That makes every event safe to send twice, so requests
  carry an idempotency key and the shared base may retry them on a 5xx.
- Answers: 202 Accepted `{"status": "success", "message": "Event processed", "dedup_key"}`;
  400 "check that the JSON is valid" `{"status", "message", "errors": [...]}`, not to be
  retried; 429 too many calls (about 120 a minute per routing key, docs/events-API-v2/
  05-Rate-Limits.md), retry later; 5xx, retry later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from connectors.base import HttpConnector, Timeouts, error_text
from connectors.errors import AuthFailure, ConnectorError, DataFormat, UnknownFailure

SEVERITIES = ("critical", "error", "warning", "info")
SUMMARY_MAX = 1024
DEDUP_KEY_MAX = 255
SOURCE = "syncdesk"


@dataclass(frozen=True)
class PageResult:
    """What PagerDuty answered for one event."""

    dedup_key: str
    action: str
    message: str


@dataclass(frozen=True)
class PagerDutyConfig:
    routing_key: str = field(repr=False)  # PAGERDUTY_ROUTING_KEY: the integration's key
    events_url: str = "https://events.pagerduty.com"  # PAGERDUTY_EVENTS_URL
    timeouts: Timeouts = Timeouts()


class PagerDuty(HttpConnector):
    """The Events API v2 client for one routing key (`PAGERDUTY_ROUTING_KEY`)."""

    name = "PagerDuty"

    def __init__(self, config: PagerDutyConfig) -> None:
        self._routing_key = config.routing_key
        super().__init__(config.events_url.rstrip("/"), timeouts=config.timeouts,
                         headers={"Content-Type": "application/json"})

    def trigger(self, dedup_key: str, summary: str, *, severity: str = "error", source: str = SOURCE,
                custom_details: dict[str, Any] | None = None, links: list[dict[str, str]] | None = None
                ) -> PageResult:
        """Open (or add to) the alert `dedup_key`."""
        if severity not in SEVERITIES:
            raise ValueError(f"PagerDuty severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
        if len(summary) > SUMMARY_MAX:
            summary = summary[: SUMMARY_MAX - 1] + "…"
        payload: dict[str, Any] = {"summary": summary, "source": source, "severity": severity}
        if custom_details:
            payload["custom_details"] = custom_details
        event: dict[str, Any] = {"payload": payload}
        if links:
            event["links"] = links
        return self._send("trigger", dedup_key, event)

    def acknowledge(self, dedup_key: str) -> PageResult:
        """Someone is on it: PagerDuty stops notifying for the alert."""
        return self._send("acknowledge", dedup_key, {})

    def resolve(self, dedup_key: str) -> PageResult:
        return self._send("resolve", dedup_key, {})

    def _send(self, action: str, dedup_key: str, extra: dict[str, Any]) -> PageResult:
        if not dedup_key or len(dedup_key) > DEDUP_KEY_MAX:
            raise ValueError(f"a PagerDuty dedup_key is 1-{DEDUP_KEY_MAX} characters")
        body = {"routing_key": self._routing_key, "event_action": action, "dedup_key": dedup_key, **extra}
        answer = self.request("POST", "/v2/enqueue", json=body,
                              idempotency_key=f"syncdesk:{action}:{dedup_key}")
        if not isinstance(answer, dict):
            raise UnknownFailure("PagerDuty accepted the event without the usual answer.", detail=repr(answer)[:500])
        return PageResult(str(answer.get("dedup_key") or dedup_key), action, str(answer.get("message", "")))

    def map_status(self, response: httpx.Response, method: str, path: str) -> ConnectorError | None:
        detail = self.describe_response(response, method, path)
        if response.status_code == 400:
            said = error_text(response)
            try:
                errors = response.json().get("errors") or []
            except (ValueError, AttributeError):
                errors = []
            reasons = "; ".join(str(e) for e in errors)
            text = f"{said}: {reasons}" if reasons else said
            if "routing" in text.lower() and "key" in text.lower():
                return AuthFailure(f"PagerDuty refused the routing key (PAGERDUTY_ROUTING_KEY): {text}",
                                   detail=detail, status=400)
            return DataFormat(f"PagerDuty rejected the event: {text}", detail=detail, status=400)
        return None
