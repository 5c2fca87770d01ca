"""Connection ages: a histogram of ``age_histogram`` (drawn here, in text) plus the four guide classes."""

from __future__ import annotations

import time
from typing import Any

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

REDRAW_SECONDS = 5.0  # while no bar moves by a whole row, the histogram is redrawn at most this often
HOUR = DEFAULT_LONG_LIVED_SECONDS
SIX_HOURS = DEFAULT_VERY_OLD_SECONDS


def bucket_colour(bucket: AgeBucket, long_lived: float = HOUR, very_old: float = SIX_HOURS) -> str:
    """A bar's theme colour: very old (>= 6 h) error, long-lived (>= 1 h) warning, else success."""
    if bucket.lower_seconds >= very_old:
        return "$error"
    if bucket.lower_seconds >= long_lived:
        return "$warning"
    return "$success"


EIGHTHS = " ▁▂▃▄▅▆▇█"  # a bar's top cell, in eighths of a row


def count_ticks(top: int, rows: int) -> list[int]:
    """Whole-number y ticks (connections are counted, never fractional), at most ``rows`` of them."""
    if top <= 0:
        return [0]
    step = max(1, -(-top // max(min(rows, 5) - 1, 1)))
    return list(range(0, top + step, step))


def slot_starts(n: int, plot_width: int) -> list[int]:
    """Where each of ``n`` bucket slots starts across ``plot_width`` columns (widths differ by at most 1)."""
    return [i * plot_width // n for i in range(n + 1)]


def histogram_rows(buckets: list[AgeBucket], stale_seconds: float | None, width: int, height: int,
                   long_lived: float = HOUR, very_old: float = SIX_HOURS, colour: bool = True) -> list[Content]:
    """The histogram as ``height`` rows of text (pure: no widget, no terminal).

    Bars rise from a zero baseline with eighth-of-a-row tops, so a 2 % change moves a bar by
    a sliver, not a cliff, and a bucket with any connection shows at least ``▁`` (only an
    empty bucket is blank). The y axis is labelled in whole connections from 0; the x axis
    with each bucket's lower bound where it fits. The stale threshold (dotted), 1 h and 6 h
    (the guide's long-lived / very old) are vertical lines at the first bucket they reach.
    Untrusted data (``colour=False``) is drawn without colour.
    """
    n = len(buckets)
    rows = max(height - 2, 1)  # the plot, then the x axis and its labels
    counts = [b.count for b in buckets]
    ticks = count_ticks(max(counts, default=0), rows)
    top = ticks[-1] or 1
    label_w = max(len(str(t)) for t in ticks)
    plot_w = max(width - label_w - 2, n)  # the y axis, and a free column at the right edge
    starts = slot_starts(n, plot_w)
    # each slot: one gap column (where a threshold line is drawn), then its bar
    bar_style = [bucket_colour(b, long_lived, very_old) if colour else "" for b in buckets]
    eighths = [0 if c <= 0 else max(1, round(c / top * rows * 8)) for c in counts]
    marks: dict[int, tuple[str, str]] = {}
    for at, glyph, style in ((stale_seconds, "┊", "$accent"), (long_lived, "│", "$warning"),
                             (very_old, "│", "$error")):
        if at is None:
            continue
        for i, b in enumerate(buckets):
            if b.lower_seconds >= at:
                marks[starts[i]] = (glyph, style if colour else "")
                break
    tick_row = {min(rows - 1, max(-(-t * rows // top) - 1, 0)): t for t in ticks}  # row from the bottom
    out: list[Content] = []
    for r in range(rows):
        k = rows - 1 - r
        label = tick_row.get(k)
        parts: list[object] = [(f"{label:>{label_w}}┤" if label is not None else " " * label_w + "│", "$text-muted")]
        for i in range(n):
            gap = marks.get(starts[i])
            parts.append(gap if gap is not None else " ")
            cell = EIGHTHS[min(max(eighths[i] - k * 8, 0), 8)]
            bar = cell * (starts[i + 1] - starts[i] - 1)
            parts.append(bar if cell == " " else (bar, bar_style[i]))
        out.append(line(*parts))
    if height >= 2:
        axis = [" " * label_w + "└"] + ["─"] * plot_w
        for col in marks:
            axis[col + 1] = "┴"
        out.append(line(("".join(axis), "$text-muted")))
    if height >= 3:
        labels = [" "] * (plot_w + 1)
        end = 0
        for i, b in enumerate(buckets):
            text = fmt.bound(b.lower_seconds)
            at = starts[i] + 1
            if at >= end and at + len(text) <= plot_w + 1:
                labels[at:at + len(text)] = text
                end = at + len(text) + 1
        out.append(line((" " * label_w + "".join(labels).rstrip(), "$text-muted")))
    return out


def small_change(before: list[AgeBucket], after: list[AgeBucket], rows: int) -> bool:
    """Same buckets and no bar moved by a whole row of the plot (``rows`` rows high).

    One row is ``top / rows`` connections: a smaller change moves a bar's top by a few
    eighths of a cell at most. Every changed row costs a repaint of that screen line across
    the whole overview, so such changes wait for the next redraw (at most ``REDRAW_SECONDS``).
    """
    if len(before) != len(after) or not before:
        return False
    top = max((b.count for b in after), default=0)
    return all(a.lower_seconds == b.lower_seconds and abs(a.count - b.count) < top / max(rows, 1)
               for a, b in zip(before, after, strict=True))


class AgeHistogram(Rows):
    """The age histogram, one :class:`Rows` row per line (only the rows that change repaint)."""

    DEFAULT_CSS = "AgeHistogram { height: 1fr; min-height: 6; }"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.buckets: list[AgeBucket] = []
        self.stale_seconds: float | None = None
        self.marks: tuple[float | None, float, float, bool] = (None, HOUR, SIX_HOURS, True)
        self.drawn_at = 0.0

    def on_mount(self) -> None:
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def set_data(self, buckets: list[AgeBucket], stale_seconds: float | None, long_lived: float = HOUR,
                 very_old: float = SIX_HOURS, colour: bool = True) -> None:
        buckets = list(buckets)
        key = (stale_seconds, long_lived, very_old, colour)
        if buckets == self.buckets and key == self.marks:
            return
        now = time.monotonic()
        if (key == self.marks and now - self.drawn_at < REDRAW_SECONDS
                and small_change(self.buckets, buckets, max(self.size.height - 2, 1))):
            return
        self.drawn_at = now
        self.buckets = buckets
        self.stale_seconds = stale_seconds
        self.marks = key
        self._draw()

    def _draw(self) -> None:
        if not self.buckets:
            self.set_rows([line(("age histogram unknown (no data from the store)", "dim"))])
            return
        width, height = self.size
        self.set_rows(histogram_rows(self.buckets, self.stale_seconds, max(width, 20), max(height, 3),
                                     self.marks[1], self.marks[2], colour=self.marks[3]))


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
