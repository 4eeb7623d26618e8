"""The digest's chart (issue 26.7): failures per day by system over the 14 local days ending on
the digest's day, counted from the database (`digest.failures_per_day`), and drawn as a PNG
whose bytes depend on the counts alone (`chart.render`)."""

from __future__ import annotations

import datetime as dt
import struct
import sys
from collections import Counter
from collections.abc import Iterable
from zoneinfo import ZoneInfo

import pytest

from tests.workflows.reports.test_digest import DAY, at, failure, order
from workflows.core.db import transaction
from workflows.core.settings import Settings
from workflows.reports import chart, digest

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of each chunk of a PNG (w3.org/TR/png/#5Chunk-layout)."""
    assert data[:8] == PNG_SIGNATURE
    chunks, at_ = [], 8
    while at_ < len(data):
        (length,), kind = struct.unpack(">I", data[at_:at_ + 4]), data[at_ + 4:at_ + 8]
        chunks.append((kind, data[at_ + 8:at_ + 8 + length]))
        at_ += 12 + length
    return chunks


def png_text(data: bytes) -> dict[str, str]:
    """The PNG's iTXt chunks (uncompressed): keyword -> text."""
    texts = {}
    for kind, body in png_chunks(data):
        if kind == b"iTXt":
            keyword, rest = body.split(b"\0", 1)
            assert rest[0] == 0  # not compressed
            _language, _translated, text = rest[2:].split(b"\0", 2)
            texts[keyword.decode("latin-1")] = text.decode("utf-8")
    return texts


def png_size(data: bytes) -> tuple[int, int]:
    kind, header = png_chunks(data)[0]
    assert kind == b"IHDR"
    return struct.unpack(">II", header[:8])


def record_failures(settings: Settings, rows: Iterable[tuple[str, dt.datetime]], *, by: str = "platform",
                    prefix: str = "ORD-H") -> None:
    """One order per row, its item at the row's system with one failed attempt (reported by
    `by`: the platform is intake) started at the row's time."""
    with transaction(settings.database_url) as session:
        for n, (system, when) in enumerate(rows):
            failure(session, order(session, f"{prefix}{n}", system=system), when, "timeout", by=by)


def hide_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if the charts extra were not installed: `import matplotlib` fails (until the test ends)."""
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)


def expected_csv(rows: Iterable[tuple[str, dt.datetime]], last_day: dt.date, zone: str) -> str:
    """The counts the chart of the 14 days ending on `last_day` must carry, worked out by hand
    from the rows: per local day, by system, most failures first, a missing day a 0."""
    days = [last_day - dt.timedelta(days=13 - i) for i in range(14)]
    counted = Counter((system, when.astimezone(ZoneInfo(zone)).date()) for system, when in rows)
    systems = sorted({s for s, d in counted if d in days},
                     key=lambda s: (-sum(counted[(s, d)] for d in days), s))
    lines = [",".join(("day", *systems))]
    lines += [",".join((d.isoformat(), *(str(counted[(s, d)]) for s in systems))) for d in days]
    return "\n".join(lines)


# Europe/Paris is an hour ahead of UTC in November: 23:30 UTC is already the next local day.
ZONE = "Europe/Paris"
ROWS = [
    ("synxis", at(-13, "08:00")),  # the first day of the 14
    ("synxis", at(-14, "12:00")),  # the day before them: not drawn
    ("synxis", at(-2, "23:30")),  # 00:30 on the 21st in Paris
    ("synxis", at(0, "10:00")), ("synxis", at(0, "10:05")),
    ("premier", at(-5, "09:00")),
    ("premier", at(0, "22:59")),  # 23:59 in Paris: still the 22nd
    ("premier", at(0, "23:30")),  # 00:30 on the 23rd in Paris: after the 14 days
]


def test_failures_per_day_counts_each_system_on_each_local_day_and_zero_days(settings: Settings) -> None:
    record_failures(settings, ROWS)
    record_failures(settings, [("synxis", at(0, "11:00"))], by="U0ALICE", prefix="ORD-R")  # our retry: not intake's
    with transaction(settings.database_url) as session:
        history = digest.failures_per_day(session, DAY, ZoneInfo(ZONE))
        same_day = digest.build(session, DAY, timezone=ZONE)

    assert history.days[0] == dt.date(2026, 11, 9) and history.days[-1] == DAY and len(history.days) == 14
    assert history.systems == ("synxis", "premier")  # most failures first
    assert dict(history.counts)["synxis"] == (1,) + (0,) * 10 + (0, 1, 2)
    assert dict(history.counts)["premier"] == (0,) * 8 + (1,) + (0,) * 4 + (1,)
    assert history.of("synxis", dt.date(2026, 11, 21)) == 1 and history.of("rtp", DAY) == 0
    assert history.per_day[10] == 0 and history.total == 6  # the 19th: no failure anywhere
    assert history.per_day[-1] == same_day.total_failures == 3  # the chart's last day is the digest's "Failures"
    assert history.csv() == expected_csv(ROWS, DAY, ZONE)
    assert same_day.history == history


def test_the_chart_is_a_png_of_the_counts_and_the_same_counts_give_the_same_bytes() -> None:
    days = tuple(DAY - dt.timedelta(days=13 - i) for i in range(14))
    history = chart.FailureHistory(days, (("synxis", (0, 1, 2, 5, 3, 0, 0, 1, 2, 3, 4, 5, 6, 2)),
                                          ("premier", (1,) + (0,) * 12 + (3,))), "UTC")
    drawn = chart.render(history)

    assert drawn.png[:8] == PNG_SIGNATURE and png_size(drawn.png) == (800, 320)
    assert chart.render(history).png == drawn.png  # deterministic: no time, no version in the file
    assert len(drawn.png) < 30_000  # a palette PNG: small enough for a Teams card's data URI
    text = png_text(drawn.png)
    assert text["Comment"] == history.csv() == "\n".join(
        ["day,synxis,premier"] + [f"{d.isoformat()},{s},{p}" for d, s, p in
                                  zip(days, dict(history.counts)["synxis"], dict(history.counts)["premier"])])
    assert text["Title"] == drawn.title == "Failures per day by system, Mon 09 Nov to Sun 22 Nov 2026 (UTC)"
    assert text["Description"] == drawn.alt_text
    assert drawn.alt_text.endswith(": 38 in all. SynXis 34 (most 6 on Sat 21 Nov); EMS Premier 4 (most 3 on "
                                   "Sun 22 Nov). 2 of the 14 days without failures.")
    assert drawn.filename == "syncdesk-failures-2026-11-22.png"


def test_a_fortnight_without_failures_is_drawn_empty_and_said_in_words() -> None:
    days = tuple(DAY - dt.timedelta(days=13 - i) for i in range(14))
    drawn = chart.render(chart.FailureHistory(days, (), "UTC"))
    assert drawn.png[:8] == PNG_SIGNATURE
    assert drawn.alt_text == "Failures per day by system, Mon 09 Nov to Sun 22 Nov 2026 (UTC): no failures."
    assert png_text(drawn.png)["Comment"].splitlines()[-1] == "2026-11-22"


def test_without_matplotlib_there_is_no_chart_and_the_error_says_which_extra(monkeypatch) -> None:
    hide_matplotlib(monkeypatch)
    with pytest.raises(chart.ChartsUnavailable, match=r"pip install 'syncdesk\[charts\]'"):
        chart.render(chart.FailureHistory((DAY,), (("synxis", (1,)),)))
