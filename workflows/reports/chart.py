"""The digest's chart (issue 26.7): failures per day by system over the 14 days that end on the
digest's day, drawn as a PNG. Pure: a `FailureHistory` (what `workflows.reports.digest` counted
in the database) in, a `Chart` (PNG bytes, title, alt text) out; no database, no network.

matplotlib is the optional `charts` extra (pyproject.toml); without it `render` raises
`ChartsUnavailable` and the digest is posted without the chart. The drawing uses the Agg
backend through `Figure` and `FigureCanvasAgg` directly (no pyplot, so no global backend and
no figure left open in a worker), in matplotlib's default style whatever a matplotlibrc says,
with the DejaVu Sans font matplotlib ships (nothing is downloaded); Pillow (matplotlib's own
dependency) writes it as a palette PNG carrying no software version or time: the same counts
give the same bytes. Its text chunks (PNG iTXt,
w3.org/TR/png/#11iTXt) carry the title, the alt text and the counts as CSV, so the image says
what it shows to a screen reader and to anyone who saves it.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

from workflows.systems.names import system_name

DAYS = 14
MOST_SERIES = 8  # systems drawn each in its own colour; the rest are drawn together as "others"
# matplotlib's tab10 palette, fixed here so a system keeps its colour whatever the style says
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
ALT_TEXT_LIMIT = 1000  # Slack's alt_txt (files.getUploadURLExternal: alt_txt_too_large beyond it)


class ChartsUnavailable(RuntimeError):
    """matplotlib is not installed: the digest goes without its chart."""

    def __init__(self) -> None:
        super().__init__("matplotlib is not installed: the digest is posted without its chart "
                         "(install the charts extra: pip install 'syncdesk[charts]')")


@dataclass(frozen=True)
class FailureHistory:
    """Failures reported by intake per local day, by system: `counts` holds one `(system, per
    day)` row per system that failed at least once, most failures first, `per day` lined up
    with `days` (oldest first; the last one is the digest's day)."""

    days: tuple[dt.date, ...]
    counts: tuple[tuple[str, tuple[int, ...]], ...]
    timezone: str = "UTC"

    @property
    def systems(self) -> tuple[str, ...]:
        return tuple(system for system, _ in self.counts)

    def of(self, system: str, day: dt.date) -> int:
        """The failures of `system` on `day` (0 for a day or system the history does not hold)."""
        row = dict(self.counts).get(system)
        return row[self.days.index(day)] if row is not None and day in self.days else 0

    @property
    def per_day(self) -> tuple[int, ...]:
        return tuple(sum(row[i] for _, row in self.counts) for i in range(len(self.days)))

    @property
    def total(self) -> int:
        return sum(self.per_day)

    @property
    def span(self) -> str:
        first, last = self.days[0], self.days[-1]
        return f"{first:%a %d %b} to {last:%a %d %b %Y}" if self.days else ""

    def title(self) -> str:
        return f"Failures per day by system, {self.span} ({self.timezone})"

    def alt_text(self) -> str:
        """What the chart shows, in words: each system's total and its worst day, and the days
        without any failure."""
        if not self.total:
            return f"{self.title()}: no failures."
        parts = []
        for system, row in self.counts:
            worst = max(range(len(row)), key=lambda i: (row[i], i))  # the latest of equal days
            parts.append(f"{system_name(system)} {sum(row)} (most {row[worst]} on {self.days[worst]:%a %d %b})")
        quiet = sum(1 for n in self.per_day if n == 0)
        text = (f"{self.title()}: {self.total} in all. " + "; ".join(parts) + "."
                + (f" {quiet} of the {len(self.days)} days without failures." if quiet else ""))
        return text if len(text) <= ALT_TEXT_LIMIT else text[:ALT_TEXT_LIMIT - 1] + "…"

    def csv(self) -> str:
        """day,<system>,… one line per day: the counts the chart draws."""
        lines = [",".join(("day", *self.systems))]
        for i, day in enumerate(self.days):
            lines.append(",".join((day.isoformat(), *(str(row[i]) for _, row in self.counts))))
        return "\n".join(lines)


@dataclass(frozen=True)
class Chart:
    """A drawn chart: what Slack uploads (filename, title, alt_txt) and Teams shows (altText)."""

    png: bytes
    title: str
    alt_text: str
    filename: str


def _series(history: FailureHistory) -> list[tuple[str, tuple[int, ...]]]:
    """(label, per day) to draw: the first MOST_SERIES - 1 systems each, the rest summed as "others"."""
    rows = [(system_name(system), row) for system, row in history.counts]
    if len(rows) <= MOST_SERIES:
        return rows
    head, tail = rows[:MOST_SERIES - 1], rows[MOST_SERIES - 1:]
    others = tuple(sum(row[i] for _, row in tail) for i in range(len(history.days)))
    return [*head, (f"{len(tail)} others", others)]


def render(history: FailureHistory) -> Chart:
    """The stacked bars of `history` as a PNG (800×320), each day's total above its bar."""
    try:  # the optional extra, imported when a chart is drawn (it costs ~0.5 s and numpy)
        import matplotlib.style
        from matplotlib import rc_context
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
        from PIL import Image, PngImagePlugin
    except ImportError as exc:
        raise ChartsUnavailable() from exc

    positions = list(range(len(history.days)))
    series = _series(history)
    with matplotlib.style.context("default"), rc_context({"font.family": "DejaVu Sans", "font.size": 9}):
        figure = Figure(figsize=(8, 3.2), dpi=100)
        canvas = FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        bottom = [0] * len(positions)
        for n, (label, row) in enumerate(series):
            axes.bar(positions, row, bottom=bottom, width=0.75, label=label, color=COLOURS[n % len(COLOURS)])
            bottom = [b + c for b, c in zip(bottom, row)]
        for x, total in zip(positions, history.per_day):
            if total:
                axes.annotate(str(total), (x, total), xytext=(0, 2), textcoords="offset points",
                              ha="center", va="bottom", fontsize=8)
        axes.set_xticks(positions, [f"{d:%a}\n{d.day}" for d in history.days])
        axes.set_xlim(-0.6, len(positions) - 0.4)
        axes.set_ylim(0, max(history.per_day, default=0) * 1.15 + 1)
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.spines[["top", "right"]].set_visible(False)
        axes.set_title(history.title(), loc="left", fontsize=10)
        if series:  # beside the bars, never over them
            axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
        else:
            axes.text(0.5, 0.5, "No failures", transform=axes.transAxes, ha="center", va="center")
        figure.tight_layout()
        canvas.draw()
        width, height = canvas.get_width_height()
        rgba = Image.frombuffer("RGBA", (width, height), bytes(canvas.buffer_rgba()), "raw", "RGBA", 0, 1)
    # A palette of 128 colours, not dithered: the same picture in about a third of the bytes
    # (~10 KB), so it travels well as a Teams card's data URI too.
    image = rgba.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    text = PngImagePlugin.PngInfo()
    for key, value in (("Title", history.title()), ("Description", history.alt_text()), ("Comment", history.csv())):
        text.add_itxt(key, value)  # iTXt is UTF-8, tEXt Latin-1 only (a cut alt text ends in "…")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True, pnginfo=text)
    last = history.days[-1] if history.days else dt.date.min
    return Chart(out.getvalue(), history.title(), history.alt_text(), f"syncdesk-failures-{last.isoformat()}.png")
