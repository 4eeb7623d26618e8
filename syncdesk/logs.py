"""Logging for every syncdesk process: one format (text for people, `LOG_FORMAT=json` for log
shippers: one JSON object per line), one level (`LOG_LEVEL`), and the clock's routine demoted
to DEBUG so the lines people need (a request, an alert that would be posted, a job that
failed) are not drowned in RQ's per-minute INFO lines.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from typing import Any

from workflows.clock.schedules import ROUTINE_FUNCTIONS, ROUTINE_JOBS

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# The attributes every LogRecord has; anything else was passed with `extra=` and is data.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
# RQ's lines about the clock's routine jobs and its registry maintenance (rq.worker logs the
# job id, or its description, which names the function).
ROUTINE = re.compile(
    r"\b(?:" + "|".join(re.escape(j) for j in ROUTINE_JOBS) + r")__"
    r"|\b(?:" + "|".join(re.escape(f) for f in ROUTINE_FUNCTIONS) + r")\("
    r"|cleaning (?:group )?registries"
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the `extra=` fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, ensure_ascii=False)


class RoutineToDebug(logging.Filter):
    """Lower RQ's lines about the clock's routine jobs to DEBUG (dropped unless LOG_LEVEL=DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and ROUTINE.search(record.getMessage()):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


def configure(level: str = "INFO", fmt: str = "text") -> None:
    """Set up the root logger once per process (later calls replace the handler)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_syncdesk", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._syncdesk = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt.lower() == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("rq.worker", "rq.job", "rq.scheduler"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RoutineToDebug) for f in logger.filters):
            logger.addFilter(RoutineToDebug())
    # Our request line replaces uvicorn's access log; httpx's per-request INFO lines are noise.
    logging.getLogger("httpx").setLevel(logging.WARNING)
