"""The age histogram is drawn in text by a pure function: bars from zero, eighth-row tops,
threshold lines at the right buckets, labels that fit, no colour for untrusted data."""

from __future__ import annotations

import pytest

from core.models import AgeBucket
from core.stats import AGE_EDGES, age_histogram
from sse_tui.widgets.ages import EIGHTHS, histogram_rows, slot_starts, small_change


def buckets(counts: list[int]) -> list[AgeBucket]:
    edges = AGE_EDGES[: len(counts)]
    return [AgeBucket(lower_seconds=lo, upper_seconds=edges[i + 1] if i + 1 < len(edges) else None, count=c)
            for i, (lo, c) in enumerate(zip(edges, counts, strict=True))]


def bar_cells(rows: list, counts: list[int], width: int) -> list[str]:
    """The plot's column of cells for each bucket's first bar column, top to bottom."""
    plot = [r.plain for r in rows[:-2]]
    label_w = plot[0].index("┤") if "┤" in plot[0] else plot[0].index("│")
    starts = slot_starts(len(counts), max(width - label_w - 2, len(counts)))
    return ["".join(line[label_w + 1 + starts[i] + 1] for line in plot) for i in range(len(counts))]


@pytest.mark.parametrize(("width", "height"), [(58, 15), (36, 8), (20, 3), (120, 30)])
def test_every_row_fits_and_there_are_height_rows(width: int, height: int) -> None:
    b = age_histogram([1000, 900, 700, 400, 300, 200, 150, 90, 50, 20, 5], 1000)
    rows = histogram_rows(b, 300.0, width, height)
    assert len(rows) == height
    assert all(r.cell_length <= width for r in rows), [r.cell_length for r in rows]


def test_bars_rise_from_zero_in_proportion_and_a_small_drop_is_not_a_cliff() -> None:
    counts = [1000, 910, 0, 1, 500]
    rows = histogram_rows(buckets(counts), None, 58, 15)
    cols = bar_cells(rows, counts, 58)
    height = len(rows) - 2
    filled = [sum(EIGHTHS.index(c) for c in col) for col in cols]  # in eighths of a row
    assert filled[0] == height * 8  # the tallest bar reaches the top tick (1000)
    assert filled[2] == 0  # an empty bucket is blank ...
    assert filled[3] >= 1  # ... and one connection is never drawn as none
    assert abs(filled[1] / filled[0] - 0.91) < 1 / (height * 8) + 1e-9  # 9 % lower is 9 % shorter
    assert abs(filled[4] / filled[0] - 0.5) < 1 / (height * 8) + 1e-9
    for col in cols:  # a bar is solid below its top cell
        assert col.lstrip(" ")[1:] == "█" * len(col.lstrip(" ")[1:])


def test_y_axis_is_labelled_from_zero_in_whole_connections() -> None:
    rows = histogram_rows(buckets([7, 3, 1]), None, 40, 10)
    labels = [r.plain.split("┤")[0].strip() for r in rows[:-2] if "┤" in r.plain]
    assert labels[-1] == "0"
    assert all(label.isdigit() for label in labels)
    assert int(labels[0]) >= 7


def test_thresholds_are_drawn_at_the_first_bucket_they_reach() -> None:
    counts = [5] * len(AGE_EDGES)
    b = buckets(counts)
    rows = histogram_rows(b, 300.0, 80, 10, long_lived=3600.0, very_old=21600.0)
    axis = rows[-2].plain
    label_w = axis.index("└")
    starts = slot_starts(len(b), 80 - label_w - 2)
    plot_line = rows[0].plain
    for at, glyph in ((300.0, "┊"), (3600.0, "│"), (21600.0, "│")):
        i = AGE_EDGES.index(at)
        assert plot_line[label_w + 1 + starts[i]] == glyph
        assert axis[label_w + 1 + starts[i]] == "┴"
    assert axis.count("┴") == 3


def test_x_labels_never_overlap_and_start_with_zero() -> None:
    b = age_histogram([1000, 900, 700, 400, 300, 200, 150, 90, 50, 20, 5], 1000)
    for width in (20, 36, 58, 120):
        words = histogram_rows(b, 60.0, width, 6)[-1].plain.split()
        assert words[0] == "0"
        assert len(words) == len(set(words))  # each label once, never two run together
        assert all(w in {"0", "1m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d"} for w in words)
    assert len(histogram_rows(b, 60.0, 120, 6)[-1].plain.split()) == len(b)  # all fit when wide


def test_untrusted_data_is_drawn_without_colour() -> None:
    b = age_histogram([100, 80, 60, 40, 30, 20, 15, 9, 5, 2, 1], 100)
    coloured = histogram_rows(b, 300.0, 58, 12)
    plain = histogram_rows(b, 300.0, 58, 12, colour=False)
    styles = {sp.style for r in coloured for sp in r.spans}
    assert {"$success", "$warning", "$error", "$accent"} <= styles
    assert not {sp.style for r in plain for sp in r.spans} & {"$success", "$warning", "$error", "$accent"}
    assert [r.plain for r in plain] == [r.plain for r in coloured]


def test_small_change_waits_only_below_one_row() -> None:
    before = buckets([100, 50, 10])
    assert small_change(before, buckets([100, 51, 10]), rows=10)  # 1 < 100 / 10
    assert not small_change(before, buckets([100, 60, 10]), rows=10)  # a whole row
    assert not small_change(before, buckets([100, 50]), rows=10)  # other buckets
