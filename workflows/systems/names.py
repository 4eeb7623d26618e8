"""The external systems' names as people know them, for every message and page."""

from __future__ import annotations

SYSTEM_NAMES = {
    "synxis": "SynXis", "premier": "EMS Premier", "resdiary": "ResDiary", "rtp": "RTP|One",
    "siriusware": "Siriusware", "pms": "PMS",
}
# "mostly timeouts": an error class in the plural, as the outage message says it.


def system_name(system: str) -> str:
    return SYSTEM_NAMES.get(system, system or "unknown system")
