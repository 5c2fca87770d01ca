"""The age histogram is drawn by plotext through a pure function (no widget): bars from
zero in proportion, threshold lines at the right buckets, labels that fit, theme colours
only (none for untrusted data); the widget redraws on the data's clock, never the
process's (issue 24)."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from tui_helpers import wait_until

from core.models import AgeBucket
from core.stats import AGE_EDGES, age_histogram
from sse_tui.widgets.ages import REDRAW_SECONDS, AgeHistogram, histogram_rows, slot_starts, small_change

THEME_STYLES = {"$success", "$warning", "$error", "$accent", "$text-muted"}


def buckets(counts: list[int]) -> list[AgeBucket]:
    edges = AGE_EDGES[: len(counts)]
    return [AgeBucket(lower_seconds=lo, upper_seconds=edges[i + 1] if i + 1 < len(edges) else None, count=c)
            for i, (lo, c) in enumerate(zip(edges, counts, strict=True))]


def plot_of(rows: list) -> tuple[list[str], int]:
    """The plot's lines (above the x axis and its labels) and the column where it starts."""
    plot = [r.plain for r in rows[:-2]]
    axis = rows[-2].plain
    return plot, axis.index("└") + 1


def bar_heights(rows: list, n: int) -> list[int]:
    """Rows of ``█`` in each bucket's slot (its bar), bottom up."""
    plot, left = plot_of(rows)
    width = len(rows[-2].plain) - left
    starts = slot_starts(n, width)
    out = []
    for i in range(n):
        col = left + starts[i] + 1
        out.append(sum(1 for line in plot if line[col] == "█"))
    return out


@pytest.mark.parametrize(("width", "height"), [(58, 15), (36, 8), (20, 3), (120, 30)])
def test_every_row_fits_and_there_are_height_rows(width: int, height: int) -> None:
    b = age_histogram([1000, 900, 700, 400, 300, 200, 150, 90, 50, 20, 5], 1000)
    rows = histogram_rows(b, 300.0, width, height)
    assert len(rows) == height
    assert all(r.cell_length <= width for r in rows), [r.cell_length for r in rows]


def test_bars_rise_from_zero_in_proportion_and_an_empty_bucket_is_blank() -> None:
    counts = [1000, 910, 0, 1, 500, 250]
    rows = histogram_rows(buckets(counts), None, 58, 15)
    plot_rows = len(rows) - 2
    heights = bar_heights(rows, len(counts))
    assert heights[0] == plot_rows  # the tallest bar reaches the top tick (1000)
    assert heights[2] == 0  # an empty bucket is blank ...
    assert heights[3] == 1  # ... and one connection is never drawn as none
    for count, h in zip(counts, heights, strict=True):
        if count:
            assert abs(h - count / 1000 * plot_rows) <= 1, (count, h)  # within a row of its share
    assert heights[0] >= heights[1] > heights[4] > heights[5] > heights[3]  # in the counts' order
    plot, left = plot_of(rows)
    for i, h in enumerate(heights):  # a bar is solid from the baseline up
        col = left + slot_starts(len(counts), len(rows[-2].plain) - left)[i] + 1
        assert "".join(line[col] for line in plot[len(plot) - h:]) == "█" * h


def test_y_axis_is_labelled_from_zero_in_whole_connections() -> None:
    rows = histogram_rows(buckets([7, 3, 1]), None, 40, 10)
    labels = [r.plain.split("┤")[0].strip() for r in rows[:-2] if "┤" in r.plain]
    assert labels[-1] == "0"
    assert all(label.isdigit() for label in labels)
    assert int(labels[0]) >= 7


def test_thresholds_are_drawn_at_the_first_bucket_they_reach() -> None:
    b = buckets([5] * len(AGE_EDGES))
    rows = histogram_rows(b, 120.0, 80, 10, long_lived=3600.0, very_old=21600.0)  # stale 2 min: before the 5 m bucket
    plot, left = plot_of(rows)
    starts = slot_starts(len(b), len(rows[-2].plain) - left)
    top = rows[0]
    for at, glyph, style in ((300.0, "┊", "$accent"), (3600.0, "│", "$warning"), (21600.0, "│", "$error")):
        col = left + starts[AGE_EDGES.index(at)]
        assert all(line[col] == glyph for line in plot[:-1]), at  # above the bars (5 each: one row)
        assert any(sp.start <= col < sp.end and sp.style == style for sp in top.spans), at
        assert rows[-2].plain[col] == "┴"
    assert sum(line.count("┊") for line in plot) == len(plot)  # one stale line


def test_x_labels_never_overlap_and_start_with_zero() -> None:
    b = age_histogram([1000, 900, 700, 400, 300, 200, 150, 90, 50, 20, 5], 1000)
    for width in (20, 36, 58, 120):
        words = histogram_rows(b, 60.0, width, 6)[-1].plain.split()
        assert words[0] == "0"
        assert len(words) == len(set(words))  # each label once, never two run together
        assert all(w in {"0", "1m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d"} for w in words)
    assert len(histogram_rows(b, 60.0, 120, 6)[-1].plain.split()) == len(b)  # all fit when wide


def test_theme_colours_only_and_none_for_untrusted_data() -> None:
    """Every style is a theme variable (a theme change re-colours it; plotext's own and
    placeholder colours never reach the screen); untrusted data has no colour at all."""
    b = age_histogram([100, 80, 60, 40, 30, 20, 15, 9, 5, 2, 1], 100)
    coloured = histogram_rows(b, 300.0, 58, 12)
    plain = histogram_rows(b, 300.0, 58, 12, colour=False)
    styles = {sp.style for r in coloured for sp in r.spans}
    assert {"$success", "$warning", "$error", "$accent"} <= styles <= THEME_STYLES
    assert not {sp.style for r in plain for sp in r.spans}
    assert [r.plain for r in plain] == [r.plain for r in coloured]


def test_small_change_waits_only_below_one_row() -> None:
    before = buckets([100, 50, 10])
    assert small_change(before, buckets([100, 51, 10]), rows=10)  # 1 < 100 / 10
    assert not small_change(before, buckets([100, 60, 10]), rows=10)  # a whole row
    assert not small_change(before, buckets([100, 50]), rows=10)  # other buckets


class One(App[None]):
    def compose(self) -> ComposeResult:
        yield AgeHistogram()


async def test_redraws_on_the_datas_clock_only() -> None:
    """A change smaller than a row waits ``REDRAW_SECONDS`` of the data's time (``now``,
    the view's clock), never the process's: with the same ``now`` it waits however long
    the test takes; a larger change or new thresholds draw at once."""
    app = One()
    async with app.run_test(size=(60, 14)) as pilot:
        hist = app.query_one(AgeHistogram)
        await wait_until(pilot, lambda: hist.size.height > 0, what="laid out")
        hist.set_data(buckets([100, 50, 10]), 300.0, now=1000.0)
        drawn = hist.rows
        assert "100" in drawn[0].plain
        hist.set_data(buckets([100, 51, 10]), 300.0, now=1000.0 + REDRAW_SECONDS - 0.1)
        assert hist.rows is drawn and hist.buckets[1].count == 50  # waits
        hist.set_data(buckets([100, 51, 10]), 300.0, now=1000.0 + REDRAW_SECONDS)
        assert hist.buckets[1].count == 51  # drawn: its time has come
        hist.set_data(buckets([100, 90, 10]), 300.0, now=1000.0 + REDRAW_SECONDS)
        assert hist.buckets[1].count == 90  # a whole row: at once
        drawn = hist.rows
        hist.set_data(buckets([100, 90, 10]), 300.0, now=5000.0)
        assert hist.rows is drawn  # nothing changed: not drawn again
