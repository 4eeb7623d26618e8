"""The immediate answer to a person's request (a click, a slash command, a CLI action)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Ack:
    """Queued (with the job id) or why not, in words the person can act on."""

    accepted: bool
    message: str
    job_id: str | None = None
