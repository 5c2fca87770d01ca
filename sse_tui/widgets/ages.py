"""Connection ages: a histogram of ``age_histogram`` (drawn by plotext) plus the four guide classes."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content

from core.models import AgeBucket
from sse_tui import fmt
from sse_tui.literal import line
from sse_tui.model import DEFAULT_LONG_LIVED_SECONDS, DEFAULT_VERY_OLD_SECONDS, View
from sse_tui.widgets import plot
from sse_tui.widgets.common import apply_freshness, num
from sse_tui.widgets.panel import Panel
from sse_tui.widgets.rows import Rows

REDRAW_SECONDS = 5.0  # while no bar moves by a whole row, the histogram is redrawn at most this often (data time)
HOUR = DEFAULT_LONG_LIVED_SECONDS
SIX_HOURS = DEFAULT_VERY_OLD_SECONDS
# the threshold lines: (placeholder, plotext line style); bars use placeholders from BARS on
STALE, LONG_LIVED, VERY_OLD, BARS = 0, 1, 2, 3
LINE_STYLE = {STALE: "dotted", LONG_LIVED: "default", VERY_OLD: "default"}
LINE_COLOUR = {STALE: "$accent", LONG_LIVED: "$warning", VERY_OLD: "$error"}


def bucket_colour(bucket: AgeBucket, long_lived: float = HOUR, very_old: float = SIX_HOURS) -> str:
    """A bar's theme colour: very old (>= 6 h) error, long-lived (>= 1 h) warning, else success."""
    if bucket.lower_seconds >= very_old:
        return "$error"
    if bucket.lower_seconds >= long_lived:
        return "$warning"
    return "$success"


def count_ticks(top: int, rows: int) -> list[int]:
    """Whole-number y ticks (connections are counted, never fractional), at most ``rows`` of them."""
    if top <= 0:
        return [0]
    step = max(1, -(-top // max(min(rows, 5) - 1, 1)))
    return list(range(0, top + step, step))


def slot_starts(n: int, plot_width: int) -> list[int]:
    """Where each of ``n`` bucket slots starts across ``plot_width`` columns (widths differ by at most 1)."""
    return [i * plot_width // n for i in range(n + 1)]


def threshold_buckets(buckets: list[AgeBucket], stale_seconds: float | None, long_lived: float,
                      very_old: float) -> dict[int, int]:
    """line -> the bucket before whose bar it is drawn: the first bucket each threshold reaches."""
    out: dict[int, int] = {}
    for which, at in ((STALE, stale_seconds), (LONG_LIVED, long_lived), (VERY_OLD, very_old)):
        if at is None:
            continue
        first = next((i for i, b in enumerate(buckets) if b.lower_seconds >= at), None)
        if first is not None:
            out[which] = first
    return out


def histogram_rows(buckets: list[AgeBucket], stale_seconds: float | None, width: int, height: int,
                   long_lived: float = HOUR, very_old: float = SIX_HOURS, colour: bool = True) -> list[Content]:
    """The histogram as ``height`` rows of text (no widget, no terminal): plotext draws it.

    Each bucket has a slot of the plot's columns: one free column (where a threshold line
    is drawn), then its bar, rising from a zero baseline to the cell holding its count (a
    bucket with any connection shows at least one cell; only an empty bucket is blank),
    coloured by age class (theme styles, see :func:`bucket_colour`). The y axis is
    labelled in whole connections from 0; the x axis with each bucket's lower bound where
    it fits. The stale threshold (dotted), 1 h and 6 h (the guide's long-lived / very
    old) are vertical lines before the first bucket each reaches. Untrusted data
    (``colour=False``) is drawn without colour.
    """
    n = len(buckets)
    counts = [b.count for b in buckets]
    rows = max(height - 2, 1)  # the plot, then the x axis and its labels
    ticks = count_ticks(max(counts, default=0), rows)
    top = ticks[-1] or 1
    label_w = max(len(str(t)) for t in ticks)
    plot_w = max(width - label_w - 1, n)
    starts = slot_starts(n, plot_w)
    fig = plot.figure(label_w + 1 + plot_w, max(height, 3))
    fig.ruler("x").lim(-0.5, plot_w - 0.5)  # one x unit per column
    fig.ruler("x").alignment(lim="edge")
    fig.ruler("y").lim(0, top)
    fig.ruler("y").alignment(lim="edge")
    fig.ruler("y").ticks(ticks, [str(t) for t in ticks])
    centres = []
    for i, count in enumerate(counts):
        first = starts[i] + 1 if starts[i + 1] - starts[i] >= 2 else starts[i]
        cols = list(range(first, starts[i + 1]))
        centres.append((cols[0] + cols[-1]) / 2 if cols else starts[i])
        if count > 0 and cols:
            bar = fig.signal(cols, [count] * len(cols), marker=plot.marker("full", BARS + i))
            bar.fillx()
            fig.draw(bar)
    fig.ruler("x").ticks(centres, [fmt.bound(b.lower_seconds) for b in buckets])
    palette: dict[plot.Rgb, str] = {}
    for which, i in threshold_buckets(buckets, stale_seconds, long_lived, very_old).items():
        fig.line(starts[i], orientation="v", pixel=plot.pixel(which), style=LINE_STYLE[which])
        palette[plot.token(which)] = LINE_COLOUR[which]
    for i, b in enumerate(buckets):
        palette[plot.token(BARS + i)] = bucket_colour(b, long_lived, very_old)
    if not colour:
        palette = dict.fromkeys(palette, "")
    return plot.build(fig, palette, plot.CHROME if colour else "").rows()


def small_change(before: list[AgeBucket], after: list[AgeBucket], rows: int) -> bool:
    """Same buckets and no bar moved by a whole row of the plot (``rows`` rows high).

    One row is ``top / rows`` connections: a smaller change moves a bar's top by less than a
    cell. Every changed row costs a repaint of that screen line across the whole overview,
    so such changes wait for the next redraw (at most ``REDRAW_SECONDS``).
    """
    if len(before) != len(after) or not before:
        return False
    top = max((b.count for b in after), default=0)
    return all(a.lower_seconds == b.lower_seconds and abs(a.count - b.count) < top / max(rows, 1)
               for a, b in zip(before, after, strict=True))


class AgeHistogram(Rows):
    """The age histogram, one :class:`Rows` row per line (only the rows that change repaint).

    plotext draws it again only when the buckets or thresholds change (a change smaller
    than a row waits up to ``REDRAW_SECONDS`` of the data's clock), or the size does.
    """

    DEFAULT_CSS = "AgeHistogram { height: 1fr; min-height: 6; }"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.buckets: list[AgeBucket] = []
        self.stale_seconds: float | None = None
        self.marks: tuple[float | None, float, float, bool] = (None, HOUR, SIX_HOURS, True)
        self.drawn_at: float | None = None  # the data's time of the last draw
        self.drawn_size: tuple[int, int] = (0, 0)

    def on_resize(self) -> None:
        self.draw()

    def set_data(self, buckets: list[AgeBucket], stale_seconds: float | None, long_lived: float = HOUR,
                 very_old: float = SIX_HOURS, colour: bool = True, *, now: float) -> None:
        """Show ``buckets``; ``now``: the data's clock (the view's ``now``, from the injected
        clock or the server's), which times the redraw of changes smaller than a row."""
        buckets = list(buckets)
        key = (stale_seconds, long_lived, very_old, colour)
        if buckets == self.buckets and key == self.marks:
            return
        if (key == self.marks and self.drawn_at is not None and abs(now - self.drawn_at) < REDRAW_SECONDS
                and small_change(self.buckets, buckets, max(self.size.height - 2, 1))):
            return
        self.drawn_at = now
        self.buckets = buckets
        self.stale_seconds = stale_seconds
        self.marks = key
        self.drawn_size = (0, 0)
        self.draw()

    def draw(self) -> None:
        if not self.buckets:
            self.set_rows([line(("age histogram unknown (no data from the store)", "dim"))])
            return
        width, height = self.size
        if width <= 0 or height <= 0 or (width, height) == self.drawn_size:
            return
        self.drawn_size = (width, height)
        self.set_rows(histogram_rows(self.buckets, self.stale_seconds, max(width, 20), max(height, 3),
                                     self.marks[1], self.marks[2], colour=self.marks[3]))


class AgesPanel(Panel, Vertical):
    DEFAULT_CSS = "AgesPanel #age-counts { height: auto; }"

    def compose(self) -> ComposeResult:
        yield Rows(id="age-counts")
        yield AgeHistogram(id="age-hist")

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
                                              th.long_lived_seconds, th.very_old_seconds, colour=trusted, now=view.now)
