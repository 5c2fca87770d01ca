"""Connection ages: a plotext histogram of ``age_histogram`` plus the four guide classes."""

from __future__ import annotations

from rich.style import Style
from rich.text import Span, Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Static

from core.models import AgeBucket, CleanupStats
from sse_tui import fmt
from sse_tui.widgets.text import set_static

HOUR = 3600.0
SIX_HOURS = 6 * 3600.0


def bucket_colour(bucket: AgeBucket) -> str:
    if bucket.lower_seconds >= SIX_HOURS:
        return "red"
    if bucket.lower_seconds >= HOUR:
        return "yellow"
    return "green"


def render_histogram(buckets: list[AgeBucket], stale_seconds: float | None, width: int, height: int) -> str:
    """The histogram as an ANSI string (plotext), with stale / 1 h / 6 h marked by lines."""
    import plotext as plt

    fig = plt.figure
    fig.clear()
    fig.plot_size(max(width, 20), max(height, 5))
    fig.theme("colorless")
    labels = [fmt.bound(b.lower_seconds) for b in buckets]
    counts = [b.count for b in buckets]
    markers = [plt.marker("full", pixel=bucket_colour(b)) for b in buckets]
    fig.draw(fig.bar(labels, counts, marker=markers, width=0.7))
    fig.ruler("y").ticks(count_ticks(max(counts, default=0), max(height - 4, 2)))
    marks = [(stale_seconds, "cyan", "dotted"), (HOUR, "yellow", "default"), (SIX_HOURS, "red", "default")]
    for at, colour, style in marks:
        if at is None:
            continue
        # bars sit at x = 1..n; a bound equal to bucket i's lower edge lies at x = i + 0.5
        for i, b in enumerate(buckets):
            if b.lower_seconds >= at:
                fig.line(i + 0.5, orientation="v", pixel=colour, style=style)
                break
    return fig.build().string()


def count_ticks(top: int, rows: int) -> list[int]:
    """Whole-number y ticks (connections are counted, never fractional), at most ``rows`` of them."""
    if top <= 0:
        return [0]
    step = max(1, -(-top // max(min(rows, 5) - 1, 1)))
    return list(range(0, top + step, step))


class AgeHistogram(Widget):
    DEFAULT_CSS = "AgeHistogram { height: 1fr; min-height: 6; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.buckets: list[AgeBucket] = []
        self.stale_seconds: float | None = None

    def set_data(self, buckets: list[AgeBucket], stale_seconds: float | None) -> None:
        buckets = list(buckets)
        if buckets == self.buckets and stale_seconds == self.stale_seconds:
            return  # plotext is the costliest paint on screen: only redraw on change
        self.buckets = buckets
        self.stale_seconds = stale_seconds
        self.refresh()

    def render(self) -> Text:
        if not self.buckets:
            return Text("no age histogram from this source", style="dim")
        ansi = render_histogram(self.buckets, self.stale_seconds, self.size.width, self.size.height)
        text = Text.from_ansi(ansi)
        # plotext paints its line pixels on a white background; let the theme show through
        text.spans[:] = [
            Span(sp.start, sp.end, Style(color=sp.style.color)) if isinstance(sp.style, Style) else sp
            for sp in text.spans
        ]
        return text


class AgesPanel(Vertical):
    DEFAULT_CSS = "AgesPanel #age-counts { height: auto; }"

    def compose(self) -> ComposeResult:
        yield Static(id="age-counts")
        yield AgeHistogram(id="age-hist")

    def show(self, cleanup: CleanupStats, buckets: list[AgeBucket], stale_seconds: float) -> None:
        set_static(self.query_one("#age-counts", Static), 
            f"stale [b $error]{cleanup.stale}[/] active [b $success]{cleanup.active}[/] "
            f"≥1h [b $warning]{cleanup.long_lived}[/] ≥6h [b $error]{cleanup.very_old}[/]"
        )
        self.query_one(AgeHistogram).set_data(buckets, stale_seconds)
