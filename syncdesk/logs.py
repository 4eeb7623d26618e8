"""Logging for every syncdesk process: one format (text for people, `LOG_FORMAT=json` for log
shippers: one JSON object per line), one level (`LOG_LEVEL`), and the clock's routine demoted
to DEBUG so the lines people need (a request, an alert that would be posted, a job that
failed) are not drowned in RQ's per-minute INFO lines.

No guest's e-mail or phone is written (issue 28, docs/DATA.md "Logs"). The sources keep them
out where they know the guest (`bot.log` logs the alert masked; a Slack request with a bad
signature is logged with its reason, never its body: `bot.slack.verification`), and
`RedactContacts`, on the one handler every process writes through, is the safety net for what
a source did not know: any e-mail address or phone number in a record (its message, exception
text, stack and `extra=` fields; a library's debug line quoting a request, a vendor's error in
a traceback) is replaced by `[e-mail]` or `[phone]` before it is written, at every level, in
both formats.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from typing import IO, Any

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


# An e-mail address, also URL-encoded (`%40`): a form body quoted in a debug line.
EMAIL = re.compile(r"[\w.+-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# A run of 7 or more digits that may be a phone number: "+44 5551234567", "(555) 123-4567",
# "555.123.4567", "+44 (0)20 7946 0958". Not inside a word, an id, a URL, a host or a decimal
# ("ORD-10042", "13098CU000379", "127.0.0.1:6379", "v1.2.3"); `_phone` decides on its digits.
PHONE = re.compile(r"(?<![\w.@/:-])\+?\d(?:[ ().-]{0,2}\d){6,}(?![\w@/:])(?![.-]\d)")
ISO_DATE = re.compile(r"\d{4}-\d\d-\d\d")
SEVEN = re.compile(r"\d[\d ().-]{6}")  # what every PHONE match holds: the cheap test first (most lines fail it)
MIN_PHONE_DIGITS, MAX_PHONE_DIGITS = 9, 15  # written without "+": a national number has 9 or more
MIN_INTERNATIONAL_DIGITS = 7  # "+" and a country code: as short as E.164 goes


def _phone(found: re.Match[str]) -> str:
    return _judged(found.group())


def _judged(text: str) -> str:
    digits = sum(c.isdigit() for c in text)
    if " " in text and (digits > MAX_PHONE_DIGITS or "." in text):  # numbers side by side: "£240.00 24000"
        head, space, rest = text.partition(" ")
        return _judged(head) + space + PHONE.sub(_phone, rest)
    least = MIN_INTERNATIONAL_DIGITS if text.startswith("+") else MIN_PHONE_DIGITS
    if least <= digits <= MAX_PHONE_DIGITS and not ISO_DATE.match(text):
        return "[phone]"
    return text  # a Slack timestamp (16 digits), a date, a short number


def redact(text: str) -> str:
    """`text` with every e-mail address and phone number replaced by `[e-mail]` and `[phone]`."""
    if "@" in text or "%40" in text:
        text = EMAIL.sub("[e-mail]", text)
    return PHONE.sub(_phone, text) if SEVEN.search(text) else text


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_redacted(v) for v in value)
    return value


class RedactContacts(logging.Filter):
    """The safety net of issue 28, on syncdesk's handler: a record's message (its arguments
    merged in), exception text, stack and `extra=` fields are written with no e-mail address
    and no phone number in them, whichever logger wrote it and at whatever level."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key in [k for k in vars(record) if k not in _STANDARD and not k.startswith("_")]:
            setattr(record, key, _redacted(getattr(record, key)))
        return True


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
            data["exception"] = record.exc_text or self.formatException(record.exc_info)
        if record.stack_info:
            data["stack"] = record.stack_info
        return json.dumps(data, default=str, ensure_ascii=False)


class RoutineToDebug(logging.Filter):
    """Lower RQ's lines about the clock's routine jobs to DEBUG (dropped unless LOG_LEVEL=DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and ROUTINE.search(record.getMessage()):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


def handler(fmt: str = "text", stream: IO[str] | None = None) -> logging.Handler:
    """syncdesk's handler: text or JSON lines to `stream` (stderr), contacts redacted."""
    made = logging.StreamHandler(stream or sys.stderr)
    made._syncdesk = True  # type: ignore[attr-defined]
    made.setFormatter(JsonFormatter() if fmt.lower() == "json" else logging.Formatter(TEXT_FORMAT))
    made.addFilter(RedactContacts())
    return made


def configure(level: str = "INFO", fmt: str = "text", stream: IO[str] | None = None) -> None:
    """Set up the root logger once per process (later calls replace the handler)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_syncdesk", False):
            root.removeHandler(old)
    root.addHandler(handler(fmt, stream))
    root.setLevel(level.upper())
    for name in ("rq.worker", "rq.job", "rq.scheduler"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RoutineToDebug) for f in logger.filters):
            logger.addFilter(RoutineToDebug())
    # Our request line replaces uvicorn's access log; httpx's per-request INFO lines are noise.
    logging.getLogger("httpx").setLevel(logging.WARNING)
