"""Fleet history charts: connections (active vs counter), stale and very old, cleanup
duration, cleanup error rate, on one time axis, with every alert's start (▲) and end (▼).

The widget never fetches: the App asks its source for a :class:`core.models.HistorySeries`
(``GET /monitoring/history`` or ``FleetReader.history``) with the range and step of
:meth:`HistoryView.request_for` and hands it to :meth:`HistoryView.show`. Keys ``l`` ``1``
``6`` ``2`` ``7`` pick live / 1 h / 6 h / 24 h / 7 d and post :class:`HistoryView.RangeRequested`.

Times are shown in UTC. A bucket without a sample is drawn as a gap (``╌``), never as 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget

from core.durations import format_duration
from core.models import AlertSpan, HistorySeries, TrendEvidence

# name -> seconds shown; "live" is the last 10 minutes at the sample interval
RANGES: dict[str, float] = {"live": 600.0, "1h": 3600.0, "6h": 6 * 3600.0, "24h": 86400.0, "7d": 7 * 86400.0}
LABEL_WIDTH = 7  # the value labels left of each plot
_EIGHTHS = " ▁▂▃▄▅▆▇█"


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
)


def _num(v: float | None) -> str:
    if v is None:
        return "-"
    if abs(v) >= 10_000:
        return f"{v / 1000:.0f}k"
    if abs(v) >= 1000:
        return f"{v / 1000:.1f}k"
    if v == int(v):
        return f"{int(v)}"
    return f"{v:.1f}"


def _columns(values: Sequence[float | int | None], width: int,
             pick: Callable[[list[float]], float] = max) -> list[float | None]:
    """Buckets -> ``width`` columns (each the ``pick`` of its buckets; None: no sample)."""
    n = len(values)
    out: list[float | None] = []
    for c in range(width):
        a = c * n // width
        b = max((c + 1) * n // width, a + 1)
        got = [v for v in values[a:b] if v is not None]
        out.append(pick(got) if got else None)
    return out


def _column_of(t: float, series: HistorySeries, width: int) -> int | None:
    span = series.times[-1] + series.step - series.times[0] if series.times else 0
    if span <= 0 or t < series.times[0] or t > series.times[0] + span:
        return None
    return min(int((t - series.times[0]) / span * width), width - 1)


def _time_label(t: float, range_s: float) -> str:
    d = datetime.fromtimestamp(t, UTC)
    return d.strftime("%a %H:%M") if range_s > 86400 else d.strftime("%H:%M")


class HistoryView(Widget, can_focus=True):
    """Renders one HistorySeries as four charts (see the module docstring)."""

    DEFAULT_CSS = """
    HistoryView { height: 1fr; width: 1fr; }
    """
    BINDINGS = [
        Binding("l", "range('live')", "live"),
        Binding("1", "range('1h')", "1 h"),
        Binding("6", "range('6h')", "6 h"),
        Binding("2", "range('24h')", "24 h"),
        Binding("7", "range('7d')", "7 d"),
    ]

    class RangeRequested(Message):
        """The user picked a range: fetch ``range_s`` at ``step`` and call ``show``."""

        def __init__(self, name: str, range_s: float, step: float) -> None:
            super().__init__()
            self.name = name
            self.range_s = range_s
            self.step = step

    def __init__(self, series: HistorySeries | None = None, range_name: str = "1h", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.series = series
        self.range_name = range_name
        self.message_text = ""
        self.band: tuple[float, float] | None = None

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
        self.refresh()

    def request_for(self, range_name: str, interval: float = 10.0) -> tuple[float, float]:
        """(range seconds, step seconds) to fetch for ``range_name`` at this widget's width:
        about one bucket per plot column, never finer than the sample interval."""
        range_s = RANGES[range_name]
        width = max(self.size.width - LABEL_WIDTH - 1, 10)
        step = max(interval, math.ceil(range_s / width / interval) * interval)
        return range_s, step

    def action_range(self, name: str) -> None:
        range_s, step = self.request_for(name)
        self.range_name = name
        self.post_message(self.RangeRequested(name, range_s, step))
        self.refresh()

    # -- drawing ---------------------------------------------------------------------------
    def render(self) -> Text:
        width, height = self.size.width, self.size.height
        out = Text(no_wrap=True, overflow="crop")
        keys = "  ".join(f"[{k}]{'*' if n == self.range_name else ''}{n}" for k, n in
                         (("l", "live"), ("1", "1h"), ("6", "6h"), ("2", "24h"), ("7", "7d")))
        s = self.series
        head = f"fleet history · {self.range_name}"
        if s is not None and s.times:
            head += f" · {format_duration(s.step)} steps · UTC"
        out.append(head, style="bold")
        out.append("  " + keys + "\n", style="dim")
        if s is None or not s.times:
            out.append(self.message_text or "no history yet", style="dim")
            return out
        plot_w = max(width - LABEL_WIDTH - 1, 10)
        room = max(height - 2, 4 * 3)
        per = room // len(CHARTS)
        plot_h = max(per - 2, 1)
        marks = self._marks(s, plot_w)
        self._alert_line(out, s, plot_w)
        for chart in CHARTS:
            self._chart(out, s, chart, plot_w, plot_h, marks)
        return out

    def _marks(self, s: HistorySeries, plot_w: int) -> dict[int, tuple[str, str]]:
        """column -> (glyph, style) for alert starts (▲) and ends (▼); alerts win over warnings."""
        marks: dict[int, tuple[str, str]] = {}
        for span in sorted(s.alerts, key=lambda a: a.kind == "alert"):
            style = "bold red" if span.kind == "alert" else "bold yellow"
            c = _column_of(span.start, s, plot_w)
            if c is not None:
                marks[c] = ("▲", style)
            if span.end is not None and (c := _column_of(span.end, s, plot_w)) is not None:
                marks[c] = ("▼", style)
        return marks

    def _alert_line(self, out: Text, s: HistorySeries, plot_w: int) -> None:
        spans: list[AlertSpan] = sorted(s.alerts, key=lambda a: (a.kind != "alert", a.start))
        if not spans:
            out.append("no alerts in this range\n", style="dim green")
            return
        parts = []
        for a in spans[:3]:
            end = _time_label(a.end, s.end - s.start) if a.end is not None else "now"
            parts.append((f"▲{_time_label(a.start, s.end - s.start)}–▼{end} {a.type}",
                          "red" if a.kind == "alert" else "yellow"))
        for i, (text, style) in enumerate(parts):
            out.append(("  " if i else "") + text, style=style)
        if len(spans) > 3:
            out.append(f"  +{len(spans) - 3} more", style="dim")
        out.append("\n")

    def _values(self, s: HistorySeries, name: str, pick_max: bool) -> list[float | int | None]:
        if name == "error_rate":
            return list(s.error_rate)
        return list((s.max if pick_max else s.last).get(name, []))

    def _chart(self, out: Text, s: HistorySeries, chart: Chart, plot_w: int, plot_h: int,
               marks: dict[int, tuple[str, str]]) -> None:
        prim = _columns(self._values(s, chart.primary, True), plot_w)
        sec = _columns(self._values(s, chart.secondary, True), plot_w) if chart.secondary else None
        known = [v for v in prim + (sec or []) if v is not None]
        band = self.band if chart.primary == "active" else None
        top = max(known + ([band[1]] if band else [])) if known else 0.0
        top = top if top > 0 else 1.0
        latest = next((v for v in reversed(self._values(s, chart.primary, False)) if v is not None), None)
        out.append(f"{chart.title}", style="bold")
        out.append(f"  {chart.primary_label} ", style="dim")
        out.append(f"{_num(latest)}{chart.unit}", style="green")
        if chart.secondary:
            sl = next((v for v in reversed(self._values(s, chart.secondary, False)) if v is not None), None)
            out.append(f"  {chart.secondary_label} ", style="dim")
            out.append(f"{_num(sl)}{chart.unit}", style="cyan")
        out.append(f"  max {_num(max(known) if known else None)}{chart.unit}", style="dim")
        if band:
            out.append(f"  baseline {_num(band[0])}–{_num(band[1])}", style="magenta")
        out.append("\n")
        band_rows = {min(int(v / top * plot_h - 1e-9), plot_h - 1) for v in band if v > 0} if band else set()
        levels = [None if v is None else v / top * plot_h * 8 for v in prim]
        sec_rows = [None if v is None else min(int(v / top * plot_h - 1e-9), plot_h - 1) if v > 0 else None
                    for v in (sec or [])]
        for r in range(plot_h - 1, -1, -1):
            label = _num(top) if r == plot_h - 1 else ("0" if r == 0 else "")
            out.append(f"{label:>{LABEL_WIDTH - 1}}│", style="dim")
            for c in range(plot_w):
                lv = levels[c]
                fill = 0 if lv is None else int(max(min(lv - r * 8, 8), 0))
                if lv is not None and r == 0 and fill == 0 and (prim[c] or 0) > 0:
                    fill = 1  # a non-zero value is never drawn as nothing
                if sec is not None and sec_rows[c] == r:
                    out.append("━", style="bold cyan on dark_green" if fill >= 4 else "bold cyan")  # over the bar
                elif r in band_rows and fill < 8:
                    out.append("┄", style="magenta")  # the baseline band's edge, behind the bars
                elif lv is None:
                    out.append("╌" if r == 0 else " ", style="dim")
                else:
                    out.append(_EIGHTHS[fill], style="green")
            out.append("\n")
        self._axis(out, s, plot_w, marks)

    def _axis(self, out: Text, s: HistorySeries, plot_w: int, marks: dict[int, tuple[str, str]]) -> None:
        cells: list[tuple[str, str]] = [("─", "dim")] * plot_w
        range_s = s.end - s.start
        first, last = s.times[0], s.times[-1] + s.step
        for frac in (0.0, 0.5, 1.0):
            text = _time_label(first + (last - first) * frac, range_s)
            pos = int(frac * plot_w) - (len(text) // 2 if frac == 0.5 else (len(text) if frac == 1.0 else 0))
            pos = max(min(pos, plot_w - len(text)), 0)
            if any(pos <= c < pos + len(text) + 1 or c == pos - 1 for c in marks):
                continue  # an alert mark wins over a time label
            for i, ch in enumerate(text):
                cells[pos + i] = (ch, "dim")
        for c, mark in marks.items():
            cells[c] = mark
        out.append(" " * (LABEL_WIDTH - 1) + "└", style="dim")
        for ch, style in cells:
            out.append(ch, style=style)
        out.append("\n")
