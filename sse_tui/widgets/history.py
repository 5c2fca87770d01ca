"""Fleet history charts: connections (active vs counter), stale and very old, cleanup
duration, cleanup error rate, on one time axis that ends at now, with the alert spans,
the gaps and the fleet's events (deaths, reaps, cleanups, disconnects, outages) on it.

plotext draws each chart (y ticks, the lines, the baseline band, the shared x axis with
its time ticks) in placeholder colours that become the theme's (:mod:`sse_tui.widgets.plot`).
On top of its output go what it cannot draw (:mod:`sse_tui.widgets.timeline` places them):

* a bucket without known numbers after the history began is a hatched band (``░``),
  labelled ``store down`` where a store outage overlaps it (else ``no sample``), never a
  value and never 0; before the first stored sample the columns stay blank ("no data yet");
* a value a chart does not know in a bucket that has data (an error rate without runs in
  its window) is ``╌`` on the chart's baseline;
* alert spans on the x axis (``▲━━▼``, red for alerts, yellow for warnings), listed with
  their times above the charts;
* the fleet's events on a row of their own under the axis, with a legend (a worker's
  death is ``✖``, with a dotted line through the charts at its time).

The widget never fetches: the App asks its source for a :class:`core.models.HistorySeries`
(``GET /monitoring/history`` or ``FleetReader.history``) with the range and step of
:meth:`HistoryView.request_for` and hands it to :meth:`HistoryView.show`. The range keys
(:data:`sse_tui.keys.HISTORY`, ``<`` ``>``) are the App's, active whenever the History tab
is shown; the App calls :meth:`HistoryView.select_range`. The charts are drawn again only
when the series, the range, the message or the size change. Times are shown in UTC.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from textual.content import Content

from core.durations import format_duration
from core.models import AlertSpan, HistorySeries, TrendEvidence
from sse_tui.literal import line
from sse_tui.widgets import plot, timeline
from sse_tui.widgets.rows import Rows
from sse_tui.widgets.timeline import OK, UNKNOWN, Axis

# name -> seconds shown; "live" is the last 10 minutes at the sample interval
RANGES: dict[str, float] = {"live": 600.0, "1h": 3600.0, "6h": 6 * 3600.0, "24h": 86400.0, "7d": 7 * 86400.0}
LABEL_WIDTH = 5  # the y tick labels left of every chart (one width: the charts share their columns)
CANVAS_LEFT = LABEL_WIDTH + 1  # ... then the y axis; the plot's columns start here
PRIMARY, SECONDARY, BAND = 0, 1, 2  # plotext placeholders
COLOURS = {PRIMARY: "$primary", SECONDARY: "$accent", BAND: "$secondary"}
HATCH = ("░", "$warning")  # a gap: numbers unknown
NOT_MEASURED = ("╌", "$text-muted")  # a chart's value unknown where the fleet has data
DEATH_LINE = ("┊", "$error")
KIND_STYLE = {"alert": "$error", "warning": "$warning"}
FIXED_ROWS = 2 + 2 + 1 + 1  # title and alert lines; the x axis and its labels; events; legend


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    primary: str  # series field (or "error_rate")
    primary_label: str
    secondary: str | None = None
    secondary_label: str = ""
    unit: str = ""


CHARTS: tuple[Chart, ...] = (
    Chart("connections", "active", "active", "counter", "counter"),
    Chart("stale / very old", "stale", "stale", "very_old", "very old"),
    Chart("cleanup duration", "last_ms", "last", unit="ms"),
    Chart("cleanup error rate", "error_rate", "failed runs", unit="%"),
    Chart("connects / s", "connects", "connects", "reconnects", "reconnects", unit="/s"),
)


def num(v: float | None) -> str:
    """A chart number in at most five characters (``-``: unknown)."""
    if v is None:
        return "-"
    a = abs(v)
    if a >= 10_000_000:
        return f"{v / 1e6:.0f}M"
    if a >= 1_000_000:
        return f"{v / 1e6:.1f}M"
    if a >= 10_000:
        return f"{v / 1000:.0f}k"
    if a >= 1000:
        return f"{v / 1000:.1f}k"
    if v == int(v):
        return f"{int(v)}"
    return f"{v:.1f}"


def charts_shown(height: int) -> int:
    """How many charts fit ``height`` lines (each a title and two rows of plot at least; the
    last charts give way first, the legend says how many)."""
    return min(max((height - FIXED_ROWS) // 3, 1), len(CHARTS))


def canvas_rows(height: int) -> int:
    """Rows of plot per chart in a widget ``height`` lines high (at least one)."""
    n = charts_shown(height)
    return max((height - FIXED_ROWS - n) // n, 1)


def values(s: HistorySeries, name: str, pick_max: bool) -> list[float | int | None]:
    if name == "error_rate":
        return list(s.error_rate)
    return list((s.max if pick_max else s.last).get(name, []))


def latest(s: HistorySeries, name: str) -> float | None:
    return next((v for v in reversed(values(s, name, False)) if v is not None), None)


def value_ticks(top: float, rows: int) -> tuple[list[float], list[str]]:
    mid = round(top / 2) if top >= 10 else top / 2
    ticks = [0.0, mid, top] if rows >= 4 else [0.0, top]
    return ticks, plot.pad_labels([num(t)[:LABEL_WIDTH] for t in ticks], LABEL_WIDTH)


def chart_grid(axis: Axis, chart: Chart, s: HistorySeries, cover: Sequence[str], rows: int, *,
               x_ticks: Sequence[tuple[int, str]] | None, band: tuple[float, float] | None) -> tuple[plot.Grid, int]:
    """One chart drawn by plotext: ``rows`` rows of plot, plus the x axis and its labels
    when ``x_ticks`` is given. Returns the grid and the column where the plot starts."""
    width = CANVAS_LEFT + axis.width
    prim = timeline.to_columns(axis, s.times, s.step, values(s, chart.primary, True))
    sec = timeline.to_columns(axis, s.times, s.step, values(s, chart.secondary, True)) if chart.secondary else None
    known = [v for v in [*prim, *(sec or [])] if v is not None] + ([band[1]] if band else [])
    top = max(known, default=0.0)
    top = top if top > 0 else 1.0
    fig = plot.figure(width, rows + (2 if x_ticks is not None else 0))
    fig.ruler("x").lim(-0.5, 2 * axis.width - 0.5)  # two points per column (its marker has two sub-columns)
    fig.ruler("x").alignment(lim="edge")
    if x_ticks is None:
        fig.axes(False, axis="x", side="lower")
        fig.ruler("x").ticks([])
    else:
        fig.ruler("x").ticks([2 * c + 0.5 for c, _ in x_ticks], [label for _, label in x_ticks])
    fig.ruler("y").lim(0, top)
    fig.ruler("y").alignment(lim="edge")
    fig.ruler("y").ticks(*value_ticks(top, rows))
    for edge in band or ():
        fig.line(edge, orientation="h", pixel=plot.pixel(BAND), style="dotted")
    for cols, which in ((sec, SECONDARY), (prim, PRIMARY)):  # the primary last: it wins a shared cell
        if cols is None:
            continue
        known_cols = [v if cover[c] == OK else None for c, v in enumerate(cols)]
        for lo, hi in timeline.runs(["k" if v is not None else "" for v in known_cols], "k"):
            xs = [x for c in range(lo, hi) for x in (2 * c, 2 * c + 1)]
            ys = [known_cols[c] for c in range(lo, hi) for _ in (0, 1)]
            sig = fig.signal(xs, ys, marker=plot.marker("hd", which))
            sig.lines()
            fig.draw(sig)
    grid = plot.build(fig, {plot.token(k): v for k, v in COLOURS.items()})
    first = grid.row_text(0)
    left = next((i + 1 for i, ch in enumerate(first) if ch in "┤│"), CANVAS_LEFT)
    for c, state in enumerate(cover):
        if state == UNKNOWN:
            for y in range(rows):
                grid.put(left + c, y, *HATCH)
        elif state == OK and prim[c] is None and grid.chars[rows - 1][left + c] == " ":
            grid.put(left + c, rows - 1, *NOT_MEASURED)
    return grid, left


def head_rows(s: HistorySeries | None, range_name: str, range_keys: str) -> Content:
    keys = " ".join(f"[{n}]" if n == range_name else n for n in RANGES)
    if range_keys:
        keys += f"  ({range_keys})"
    head = f"fleet history · {range_name}"
    if s is not None and s.times:
        head += f" · {format_duration(s.step)} steps · UTC"
    return line((head, "bold"), ("  " + keys, "$text-muted"))


def alert_line(s: HistorySeries, width: int) -> Content:
    """Every alert and warning span of the range, with its times, as many as fit."""
    spans: list[AlertSpan] = sorted(s.alerts, key=lambda a: (a.kind != "alert", a.start))
    if not spans:
        return line(("no alerts in this range", "$text-muted"))
    range_s = s.end - s.start
    parts: list[Content] = []
    for i, a in enumerate(spans):
        end = timeline.time_label(a.end, range_s) if a.end is not None else "now"
        part = line(("  " if parts else "") + f"▲{timeline.time_label(a.start, range_s)}–▼{end} ", (a.type, KIND_STYLE[a.kind]))
        more = len(spans) - i - 1
        room = width - (len(f"  +{more} more") if more else 0)
        if parts and sum(p.cell_length for p in parts) + part.cell_length > room:
            parts.append(line((f"  +{len(spans) - i} more", "$text-muted")))
            break
        parts.append(part)
    return line(*parts)


def title_line(s: HistorySeries, chart: Chart, band: tuple[float, float] | None) -> Content:
    top = max((v for v in values(s, chart.primary, True) if v is not None), default=None)
    parts: list[object] = [(chart.title, "bold"), (f"  {chart.primary_label} ", "$text-muted"),
                           (f"{num(latest(s, chart.primary))}{chart.unit}", COLOURS[PRIMARY])]
    if chart.secondary:
        parts += [(f"  {chart.secondary_label} ", "$text-muted"),
                  (f"{num(latest(s, chart.secondary))}{chart.unit}", COLOURS[SECONDARY])]
    parts.append((f"  max {num(top)}{chart.unit}", "$text-muted"))
    if chart.primary == "error_rate" and s.error_rate_window:
        parts.append((f"  over {format_duration(s.error_rate_window)}", "$text-muted"))
    if band and chart.primary == "active":
        parts.append((f"  baseline {num(band[0])}–{num(band[1])}", COLOURS[BAND]))
    return line(*parts)


LEGEND_ORDER = ("death", "gaps", "alert", "outage", "reap", "rebuild", "store", "disconnect", "operator", "cleanup",
                "no data")


def legend_line(s: HistorySeries, marks_shown: dict[int, tuple[str, str, str]],
                gaps: Sequence[tuple[int, int, str]], range_s: float) -> Content:
    """What the marks, bands and spans on screen mean (most important first: the line
    is cut at the widget's width)."""
    types = {t for _, _, t in marks_shown.values()}
    labels = {label for _, _, label in gaps}
    parts: list[object] = []

    def add(*items: object) -> None:
        parts.extend((["  "] if parts else []) + list(items))

    for what in LEGEND_ORDER:
        if what == "gaps":
            for label in ("store down", "no sample"):
                if label in labels:
                    add(HATCH, f" {label}")
        elif what == "alert":
            if s.alerts:
                add(("▲━▼", KIND_STYLE["alert"]), " alert")
        elif what == "no data":
            if "no data yet" in labels and s.data_from is not None:
                add((f"no data before {timeline.time_label(s.data_from, range_s)}", "$text-muted"))
        elif what == "death" and what in types:
            glyph, style, word = timeline.MARKS[what]
            deaths = [m for m in s.marks if m.type == "death" and s.start <= m.at <= s.end]
            if len(deaths) == 1 and deaths[0].worker_id:
                add((glyph, style), " ", (deaths[0].worker_id, style), f" died {timeline.time_label(deaths[0].at, range_s)}")
            else:
                add((glyph, style), f" {len(deaths)} workers died" if len(deaths) > 1 else f" {word}")
        elif what in types:
            glyph, style, word = timeline.MARKS[what]
            add((glyph, style), f" {word}")
    return line(*parts) if parts else line(("no fleet events in this range", "$text-muted"))


def history_rows(s: HistorySeries | None, range_name: str, width: int, height: int, *,
                 band: tuple[float, float] | None = None, message: str = "", range_keys: str = "") -> list[Content]:
    """The History view as ``height`` rows of ``width`` columns at most (pure: no widget)."""
    out = [head_rows(s, range_name, range_keys)]
    if s is None or not s.times:
        out.append(line((message or "no history yet", "$text-muted")))
        return out
    axis = timeline.axis_of(s, max(width - CANVAS_LEFT, 10))
    range_s = RANGES.get(range_name, s.end - s.start)
    cover = timeline.coverage_columns(axis, s)
    gaps = timeline.gap_labels(axis, cover, s.marks, s.alerts)
    marks = timeline.mark_columns(axis, [m for m in s.marks if m.at <= s.end or m.type in ("outage", "rebuild")])
    deaths = {c for c, (_, _, t) in marks.items() if t == "death"}
    alerts = timeline.alert_columns(axis, s.alerts)
    room = height - (1 if message else 0)
    rows, shown = canvas_rows(room), CHARTS[:charts_shown(room)]
    if message:  # a later read failed: the charts show the last series read
        out.append(line((message, "$warning")))
    out.append(alert_line(s, width))
    for i, chart in enumerate(shown):
        last = i == len(shown) - 1
        grid, left = chart_grid(axis, chart, s, cover, rows, x_ticks=timeline.time_ticks(axis, range_s) if last else None,
                                band=band if chart.primary == "active" else None)
        for c in deaths:
            for y in range(rows):
                if grid.chars[y][left + c] == " ":
                    grid.put(left + c, y, *DEATH_LINE)
        if i == 0:
            _label_gaps(grid, left, rows, gaps)
        if last:
            for c, cell in enumerate(alerts):
                if cell is not None:
                    grid.put(left + c, rows, cell[0], KIND_STYLE[cell[1]])
        out.append(title_line(s, chart, band if chart.primary == "active" else None))
        out.extend(grid.rows())
    events = plot.Grid.blank(CANVAS_LEFT + axis.width, 1)
    events.write(0, 0, "events"[:CANVAS_LEFT], "$text-muted")
    for c, (glyph, style, _) in marks.items():
        events.put(CANVAS_LEFT + c, 0, glyph, style)
    out.extend(events.rows())
    legend = legend_line(s, marks, gaps, range_s)
    if len(shown) < len(CHARTS):
        legend = line((f"{len(CHARTS) - len(shown)} more charts in a taller window  ", "$text-muted"), legend)
    out.append(legend)
    return [r if r.cell_length <= width else r.truncate(width, ellipsis=True) for r in out]


def _label_gaps(grid: plot.Grid, left: int, rows: int, gaps: Sequence[tuple[int, int, str]]) -> None:
    """Each gap's label inside it, on the chart's middle row, where it fits."""
    y = (rows - 1) // 2
    for lo, hi, label in gaps:
        text = f" {label} "
        if hi - lo >= len(text):
            at = lo + (hi - lo - len(text)) // 2
            style = "bold $warning" if label != "no data yet" else "$text-muted"
            grid.write(left + at, y, text, style)


class HistoryView(Rows, can_focus=True):
    """Renders one HistorySeries as four charts (see the module docstring)."""

    DEFAULT_CSS = """
    HistoryView { height: 1fr; width: 1fr; }
    """

    def __init__(self, series: HistorySeries | None = None, range_name: str = "1h", *, range_keys: str = "",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.series = series
        self.range_name = range_name
        self.range_keys = range_keys  # how the range keys are shown ("< >"), for the title line
        self.message_text = ""
        self.band: tuple[float, float] | None = None
        self.drawn: tuple[Any, ...] | None = None  # what the rows shown were drawn from

    # -- API for the App -------------------------------------------------------------------
    def show(self, series: HistorySeries | None, range_name: str | None = None, message: str = "",
             trends: Sequence[TrendEvidence] = ()) -> None:
        """Draw ``series`` (None: nothing yet, ``message`` says why). ``trends``: the
        snapshot's ``performance_trends``; the connections chart draws the baseline band
        (p10-p90 of the same time of day) when one is known."""
        self.series = series
        base = next((t for t in trends if t.type == "baseline_deviation"), None)
        self.band = (base.band_low, base.band_high) if base is not None and base.band_low is not None \
            and base.band_high is not None else None
        if range_name is not None:
            self.range_name = range_name
        self.message_text = message
        self.draw()

    def request_for(self, range_name: str, interval: float = 10.0) -> tuple[float, float]:
        """(range seconds, step seconds) to fetch for ``range_name`` at this widget's width:
        about one bucket per plot column, never finer than the sample interval."""
        range_s = RANGES[range_name]
        width = max(self.size.width - CANVAS_LEFT, 10)
        step = max(interval, math.ceil(range_s / width / interval) * interval)
        return range_s, step

    def select_range(self, name: str) -> None:
        """Show ``name`` as the chosen range at once (its data follows with :meth:`show`)."""
        self.range_name = name
        self.draw()

    # -- drawing ---------------------------------------------------------------------------
    def on_resize(self) -> None:
        self.draw()

    def draw(self) -> None:
        """Draw again only when what the charts show changed (series, range, message, size)."""
        width, height = self.size
        if width <= 0 or height <= 0:
            return
        key = (self.series, self.range_name, self.message_text, self.band, self.range_keys, width, height)
        if key == self.drawn:
            return
        self.drawn = key
        self.set_rows(history_rows(self.series, self.range_name, width, height, band=self.band,
                                   message=self.message_text, range_keys=self.range_keys))
