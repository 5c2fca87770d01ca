"""Connection ages: a plotext histogram of ``age_histogram`` plus the four guide classes."""

from __future__ import annotations

import time
from typing import Any

from rich.style import Style
from rich.text import Span, Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.reactive import var

from core.models import AgeBucket
from sse_tui import fmt
from sse_tui.literal import line
from sse_tui.model import DEFAULT_LONG_LIVED_SECONDS, DEFAULT_VERY_OLD_SECONDS, View
from sse_tui.widgets.common import apply_freshness, num
from sse_tui.widgets.rows import Rows

REDRAW_SECONDS = 5.0  # the histogram is redrawn at most this often while only its counts move
HOUR = DEFAULT_LONG_LIVED_SECONDS
SIX_HOURS = DEFAULT_VERY_OLD_SECONDS


def bucket_colour(bucket: AgeBucket, long_lived: float = HOUR, very_old: float = SIX_HOURS) -> str:
    if bucket.lower_seconds >= very_old:
        return "red"
    if bucket.lower_seconds >= long_lived:
        return "yellow"
    return "green"


def render_histogram(buckets: list[AgeBucket], stale_seconds: float | None, width: int, height: int,
                     long_lived: float = HOUR, very_old: float = SIX_HOURS, colour: bool = True) -> str:
    """The histogram as an ANSI string (plotext), with stale / 1 h / 6 h marked by lines."""
    import plotext as plt

    fig = plt.figure
    fig.clear()
    fig.plot_size(max(width, 20), max(height, 5))
    fig.theme("colorless")
    labels = [fmt.bound(b.lower_seconds) for b in buckets]
    counts = [b.count for b in buckets]
    markers = [plt.marker("full", pixel=bucket_colour(b, long_lived, very_old) if colour else "gray")
               for b in buckets]
    fig.draw(fig.bar(labels, counts, marker=markers, width=0.7))
    fig.ruler("y").ticks(count_ticks(max(counts, default=0), max(height - 4, 2)))
    marks = [(stale_seconds, "cyan", "dotted"), (long_lived, "yellow", "default"), (very_old, "red", "default")]
    for at, tint, line_style in marks:
        if at is None:
            continue
        # bars sit at x = 1..n; a bound equal to bucket i's lower edge lies at x = i + 0.5
        for i, b in enumerate(buckets):
            if b.lower_seconds >= at:
                fig.line(i + 0.5, orientation="v", pixel=tint, style=line_style)
                break
    return str(fig.build().string())


def plot_rows(height: int) -> int:
    """Rows of bars in a plot ``height`` lines high (less the frame's top, its x axis and labels);
    50 (2 % of the tallest bar) while the widget has no size yet."""
    return height - 3 if height > 5 else 50


def small_change(before: list[AgeBucket], after: list[AgeBucket], rows: int = 50) -> bool:
    """Same buckets and no bar moved by more than one of the plot's ``rows`` (one pixel).

    The bars are whole character cells, so one row is ``top / rows`` connections: a smaller
    change moves a bar by at most that one cell (rows=50: 2 % of the tallest bar).
    """
    if len(before) != len(after) or not before:
        return False
    top = max((b.count for b in after), default=0)
    return all(a.lower_seconds == b.lower_seconds and abs(a.count - b.count) <= top / max(rows, 1)
               for a, b in zip(before, after, strict=True))


def count_ticks(top: int, rows: int) -> list[int]:
    """Whole-number y ticks (connections are counted, never fractional), at most ``rows`` of them."""
    if top <= 0:
        return [0]
    step = max(1, -(-top // max(min(rows, 5) - 1, 1)))
    return list(range(0, top + step, step))


class AgeHistogram(Rows):
    """The plotext histogram, one row per line of the plot.

    plotext draws the whole plot on every change, but a redraw usually moves a few lines
    (a bar's top, a tick label): a line whose ANSI text is unchanged keeps its row, so only
    the lines that changed are converted and repainted (see :class:`Rows`).
    """

    DEFAULT_CSS = "AgeHistogram { height: 1fr; min-height: 6; }"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.buckets: list[AgeBucket] = []
        self.stale_seconds: float | None = None
        self.marks: tuple[float | None, float, float, bool] = (None, HOUR, SIX_HOURS, True)
        self.drawn_at = 0.0
        self._lines: list[str] = []  # plotext's lines behind the rows shown

    def on_mount(self) -> None:
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def set_data(self, buckets: list[AgeBucket], stale_seconds: float | None, long_lived: float = HOUR,
                 very_old: float = SIX_HOURS, colour: bool = True) -> None:
        buckets = list(buckets)
        key = (stale_seconds, long_lived, very_old, colour)
        if buckets == self.buckets and key == self.marks:
            return  # plotext is the costliest paint on screen: only redraw on change
        now = time.monotonic()
        if (key == self.marks and now - self.drawn_at < REDRAW_SECONDS
                and small_change(self.buckets, buckets, plot_rows(self.size.height))):
            return  # no bar moved by more than a pixel: a histogram need not follow every 1 s poll
        self.drawn_at = now
        self.buckets = buckets
        self.stale_seconds = stale_seconds
        self.marks = key
        self._draw()

    def _draw(self) -> None:
        console = self.app.console
        if not self.buckets:
            self._lines = []
            self.set_rows([Content.from_rich_text(Text("age histogram unknown (no data from the store)", style="dim"),
                                                  console=console)])
            return
        ansi = render_histogram(self.buckets, self.stale_seconds, self.size.width, self.size.height,
                                self.marks[1], self.marks[2], colour=self.marks[3])
        lines = ansi.split("\n")
        old, shown = self._lines, self.rows
        rows = [shown[i] if i < len(old) and old[i] == text else Content.from_rich_text(plot_line(text), console=console)
                for i, text in enumerate(lines)]
        self._lines = lines
        self.set_rows(rows)


def plot_line(ansi: str) -> Text:
    """One line of plotext output as Text; plotext paints its line pixels on a white
    background: only their colour is kept, so the theme shows through."""
    text = Text.from_ansi(ansi)
    text.spans[:] = [
        Span(sp.start, sp.end, Style(color=sp.style.color)) if isinstance(sp.style, Style) else sp
        for sp in text.spans
    ]
    return text


class AgesPanel(Vertical):
    DEFAULT_CSS = "AgesPanel #age-counts { height: auto; }"

    view: var[View | None] = var(None, always_update=True)

    def compose(self) -> ComposeResult:
        yield Rows(id="age-counts")
        yield AgeHistogram(id="age-hist")

    def watch_view(self, view: View | None) -> None:
        if view is not None:
            self.show_view(view)

    def show_view(self, view: View) -> None:
        apply_freshness(self, view.assessment)
        stats = view.stats
        if stats is None:
            return
        c = stats.cleanup_stats
        th = view.thresholds
        trusted = view.assessment.trusted

        def tone(style: str) -> str:  # no colour (above all no green) for what is not current
            return style if trusted else "bold"

        self.query_one("#age-counts", Rows).set_rows([line(
            "stale ", (num(c.stale), tone("bold $error")), " active ", (num(c.active), tone("bold $success")),
            f" ≥{fmt.bound(th.long_lived_seconds)} ", (num(c.long_lived), tone("bold $warning")),
            f" ≥{fmt.bound(th.very_old_seconds)} ", (num(c.very_old), tone("bold $error")),
        )])
        self.query_one(AgeHistogram).set_data(stats.age_histogram, th.stale_seconds,
                                              th.long_lived_seconds, th.very_old_seconds, colour=trusted)
