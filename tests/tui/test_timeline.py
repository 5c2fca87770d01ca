"""The history charts' pure parts (issues 21 and 24): where buckets, gaps, alert spans and
fleet events fall on the plot's columns (sse_tui.widgets.timeline), and the rows the
charts are drawn as (history_rows: plotext plus what is drawn on top of it).

Series are made as the server makes them: samples encoded as stored (``to_member``),
decoded and put on buckets by ``core.history.series_columns`` with the tier's first
sample (``data_from``) and the fleet's marks; an outage's samples are what
``Recorder.record_outage`` writes (unknown numbers, the ``state_store_unavailable``
alert).
"""

from __future__ import annotations

import pytest
from history_data import END, fleet_series

from core import history
from core.history import HistorySample
from core.models import AlertSpan, FleetEvent, HistorySeries
from sse_tui.widgets import timeline
from sse_tui.widgets.history import CANVAS_LEFT, CHARTS, HATCH, RANGES, canvas_rows, chart_grid, history_rows
from sse_tui.widgets.timeline import NONE, OK, PENDING, UNKNOWN, Axis

STEP = 10.0


def sample(t: float, active: int | None, alerts: tuple[str, ...] = ()) -> HistorySample:
    if active is None:  # what record_outage writes for an interval the store missed
        return HistorySample(t=t, level="unhealthy", alerts=list(alerts))
    return HistorySample(t=t, active=active, counter=active, stale=1, active_recent=active, long_lived=0, very_old=0,
                         runs=int(t // 60), cleaned=0, errors=0, last_ms=20.0, avg_ms=20.0, level="healthy",
                         alerts=list(alerts))


def series_of(samples: list[HistorySample], start: float, end: float, step: float = STEP,
              marks: tuple[FleetEvent, ...] = ()) -> HistorySeries:
    cols, bad = history.decode_columns([s.to_member(False) for s in samples], raw=True)
    assert not bad
    return history.series_columns(cols, start, end, step, STEP, rate_window=600.0,
                                  data_from=samples[0].t if samples else None, marks=marks)


def story(n: int = 60) -> tuple[HistorySeries, dict[str, float]]:
    """``n`` intervals: no data for the first 10, 0 connections for 10, 40 then, a store
    outage over 15 intervals (its samples and its mark), 40 again."""
    start = END - n * STEP
    at = {"begin": start + 10 * STEP, "zero_end": start + 20 * STEP, "down": start + 30 * STEP, "up": start + 45 * STEP}
    samples = []
    for i in range(10, n):
        t = start + i * STEP + 0.5
        if at["down"] <= t < at["up"]:
            samples.append(sample(t, None, ("state_store_unavailable",)))
        else:
            samples.append(sample(t, 0 if t < at["zero_end"] else 40))
    outage = FleetEvent(at=at["up"], first_at=at["down"], until=at["up"], type="outage", message="state store unavailable")
    return series_of(samples, start, END, marks=(outage,)), at


# -- the axis ------------------------------------------------------------------------------
def test_the_axis_ends_at_now_and_never_past_it() -> None:
    axis = Axis(1000.0, 1600.0, 60)
    assert axis.column(1600.0) == 59 and axis.column(1600.1) is None and axis.column(999.9) is None
    assert axis.column(1000.0) == 0 and axis.column(1010.0) == 1
    assert list(axis.columns(1590.0, 1700.0)) == [59]  # the last bucket reaches past now: clipped
    assert list(axis.columns(1700.0, 1800.0)) == []
    ticks = timeline.time_ticks(axis, 600.0)
    assert ticks[0] == (0, timeline.time_label(1000.0, 600.0)) and ticks[-1] == (59, timeline.time_label(1600.0, 600.0))
    assert [c for c, _ in ticks] == sorted(c for c, _ in ticks)


@pytest.mark.parametrize("range_name", ["1h", "7d"])
async def test_the_drawn_axis_ends_at_now_where_the_last_bucket_reaches_past_it(range_name: str) -> None:
    """Issue 21: the 7 d axis ended an hour in the future (at the last bucket's end)."""
    series, _ = await fleet_series(RANGES[range_name], 110)
    range_s = RANGES[range_name]
    past_now = series.times[-1] + series.step
    assert timeline.time_label(past_now, range_s) != timeline.time_label(END, range_s)  # the last bucket reaches past now ...
    rows = history_rows(series, range_name, 116, 34)
    labels = rows[-3].plain
    assert labels.rstrip().endswith(timeline.time_label(END, range_s))  # ... the axis ends at now
    assert timeline.time_label(past_now, range_s) not in labels


# -- buckets on columns ---------------------------------------------------------------------
def test_buckets_on_columns_take_the_highest_known_value() -> None:
    axis = Axis(0.0, 100.0, 5)  # 20 s a column
    assert timeline.to_columns(axis, [0.0, 10.0, 20.0, 60.0], 10.0, [3, 7, None, 0]) == [7.0, None, None, 0.0, None]
    assert timeline.to_columns(axis, [0.0, 50.0], 50.0, [1, 2]) == [1.0, 1.0, 2.0, 2.0, 2.0]  # a wide bucket spans columns


def test_coverage_on_columns_ok_wins_then_unknown() -> None:
    series, at = story()
    cover = timeline.coverage_columns(Axis(series.times[0], END, 60), series)  # a column per bucket
    assert cover[:10] == [NONE] * 10  # before the first sample
    assert cover[10:30] == [OK] * 20
    assert cover[30:45] == [UNKNOWN] * 15  # the outage: its samples' numbers are unknown
    assert cover[45:60] == [OK] * 15
    wide = timeline.coverage_columns(Axis(series.times[0], END, 20), series)  # three buckets a column
    assert wide[:3] == [NONE] * 3 and wide[3] == OK  # a column with a known bucket shows it
    assert wide[4:10] == [OK] * 6 and wide[10:15] == [UNKNOWN] * 5


def test_a_trailing_bucket_whose_sample_is_not_due_yet_is_pending_not_unknown() -> None:
    series, _ = story()
    due = series.times[-1] + 3.0  # now, 3 s into the last bucket: its sample comes at 10 s
    soon = series.model_copy(update={"end": due})
    assert series.samples[-1] == 0 and series.coverage[-1] == UNKNOWN  # (the server cannot know that)
    assert timeline.bucket_states(soon)[-1] == PENDING
    late = series.model_copy(update={"end": series.times[-1] + 30.0})
    assert timeline.bucket_states(late)[-1] == UNKNOWN  # a sample that should have come: unknown


def test_gaps_say_store_down_where_an_outage_overlaps_them_else_no_sample() -> None:
    axis = Axis(0.0, 100.0, 10)
    cover = [NONE, NONE, OK, UNKNOWN, UNKNOWN, OK, UNKNOWN, OK, OK, OK]
    outage = FleetEvent(at=50.0, first_at=30.0, until=50.0, type="outage", message="m")
    assert timeline.gap_labels(axis, cover, [outage], []) == [(0, 2, "no data yet"), (3, 5, "store down"), (6, 7, "no sample")]
    span = AlertSpan(type=timeline.STORE_ALERT, kind="alert", start=60.0, end=70.0)
    assert timeline.gap_labels(axis, cover, [], [span])[-1] == (6, 7, "store down")  # the alert span alone says it too


# -- drawn: unknown is not zero, and not "no data yet" --------------------------------------
def chart_cells(rows: list, chart: int, width: int) -> list[str]:
    """The plot rows of chart ``chart`` (its title line excluded), as text."""
    k = canvas_rows(len(rows) - 0)
    first = 2 + chart * (k + 1) + 1
    return [r.plain[:width] for r in rows[first:first + k]]


def test_gaps_are_hatched_zero_is_a_line_and_no_data_yet_is_blank() -> None:
    series, _ = story()
    width, height = CANVAS_LEFT + 60, 26
    rows = history_rows(series, "live", width, height)
    axis = timeline.axis_of(series, 60)
    col = {name: CANVAS_LEFT + axis.column(series.times[i] + 5.0) for name, i in
           (("none", 5), ("zero", 15), ("unknown", 37), ("value", 50))}
    for chart in range(len(CHARTS)):
        plot = chart_cells(rows, chart, width)
        assert all(line[col["none"]] == " " for line in plot), chart  # no data yet: blank
        assert all(line[col["unknown"]] in (HATCH[0], *"store down") for line in plot), chart  # unknown: hatched
    conn = chart_cells(rows, 0, width)
    assert conn[-1][col["zero"]] not in (" ", HATCH[0]) and all(line[col["zero"]] == " " for line in conn[:-1])  # 0: on the baseline
    assert conn[0][col["value"]] not in (" ", HATCH[0])  # 40 of 40: at the top
    assert "store down" in "".join(conn)  # the band says why it is unknown
    legend = rows[-1].plain
    assert "░ store down" in legend and f"no data before {timeline.time_label(series.data_from, 600.0)}" in legend
    hatch_styles = {sp.style for r in rows for sp in r.spans if HATCH[0] in r.plain[sp.start:sp.end]}
    assert hatch_styles == {HATCH[1]}


def test_a_value_a_chart_does_not_know_where_the_fleet_has_data_is_marked_on_its_baseline() -> None:
    series, _ = story()
    holes = series.model_copy(update={"max": {**series.max, "last_ms": [None] * len(series.times)},
                                      "last": {**series.last, "last_ms": [None] * len(series.times)}})
    rows = history_rows(holes, "live", CANVAS_LEFT + 60, 26)
    duration = chart_cells(rows, 2, CANVAS_LEFT + 60)
    assert set(duration[-1][CANVAS_LEFT + 11:CANVAS_LEFT + 29]) == {"╌"}
    assert "last -ms" in rows[2 + 2 * (canvas_rows(26) + 1)].plain  # its latest value: unknown, not 0


# -- marks and alert spans --------------------------------------------------------------------
def test_fleet_events_land_on_their_columns_and_a_death_wins_its_column() -> None:
    axis = Axis(0.0, 100.0, 10)
    marks = [FleetEvent(at=42.0, type="cleanup", message="m", first_at=12.0, runs=4),
             FleetEvent(at=31.0, type="death", message="m", worker_id="w-2"),
             FleetEvent(at=75.0, type="outage", message="m", first_at=60.0, until=75.0),
             FleetEvent(at=250.0, type="reap", message="m")]  # outside the axis
    got = {c: g for c, (g, _, _) in timeline.mark_columns(axis, marks).items()}
    assert got == {1: "c", 2: "·", 3: "✖", 4: "·", 6: "S", 7: "─"}
    styles = {t: s for _, s, t in timeline.mark_columns(axis, marks).values()}
    assert styles["death"] == "$error" and styles["cleanup"] == "$text-muted"


def test_alert_spans_on_the_axis_start_and_end_where_they_do() -> None:
    axis = Axis(0.0, 100.0, 10)
    spans = [AlertSpan(type="a", kind="warning", start=10.0, end=60.0), AlertSpan(type="b", kind="alert", start=40.0, end=50.0),
             AlertSpan(type="c", kind="alert", start=-50.0, end=25.0), AlertSpan(type="d", kind="warning", start=85.0, end=None)]
    assert timeline.alert_columns(axis, spans) == [
        ("━", "alert"), ("━", "alert"), ("▼", "alert"),  # c began before the axis: no ▲; an alert over warning a
        ("━", "warning"), ("▲", "alert"), ("▼", "warning"),  # b: one column; a ends in the column before 60
        None, None, ("▲", "warning"), ("━", "warning")]  # d still on: no ▼


def test_a_death_is_marked_labelled_and_its_worker_named_literally() -> None:
    series, at = story()
    worker = "[b]w-2[/b]"  # a wire value: shown as is, never as markup
    death = FleetEvent(at=at["zero_end"] + 50.0, type="death", message="m", worker_id=worker, count=63)
    mismatch = AlertSpan(type="[red]connection_mismatch[/red]", kind="alert", start=at["zero_end"] + 40.0, end=at["zero_end"] + 60.0)
    series = series.model_copy(update={"marks": [*series.marks, death], "alerts": [*series.alerts, mismatch]})
    width = CANVAS_LEFT + 60
    rows = history_rows(series, "live", width, 26)
    c = CANVAS_LEFT + timeline.axis_of(series, 60).column(death.at)
    assert rows[-2].plain[c] == "✖"  # on the events row, at its time
    for chart in range(len(CHARTS)):
        assert any(line[c] == "┊" for line in chart_cells(rows, chart, width))  # a line through the charts
    assert f"✖ {worker} died {timeline.time_label(death.at, 600.0)}" in rows[-1].plain
    assert "[red]connection_mismatch[/red]" in rows[1].plain
    assert not any(sp.style == "red" for r in rows for sp in r.spans)


# -- plotext's output under us ----------------------------------------------------------------
def test_plotext_draws_column_c_at_the_canvas_start_plus_c() -> None:
    """The overlays rely on it: plotext's y axis stands at LABEL_WIDTH and value column c
    is drawn in screen column CANVAS_LEFT + c, for every chart, with or without x axis."""
    series, _ = story()
    axis = timeline.axis_of(series, 60)
    cover = [OK] * 60
    for c in (0, 17, 59):
        lone = [None] * len(series.times)
        lone[c] = 40
        s = series.model_copy(update={"max": {**series.max, "active": lone, "counter": [None] * len(series.times)}})
        for ticks in (None, timeline.time_ticks(axis, 600.0)):
            grid, left = chart_grid(axis, CHARTS[0], s, cover, 4, x_ticks=ticks, band=None)
            assert left == CANVAS_LEFT
            drawn = {x for y in range(4) for x, ch in enumerate(grid.chars[y]) if ch not in " ╌" and x >= left}
            assert drawn == {left + c}, (c, drawn)


def test_every_style_is_the_themes() -> None:
    series, _ = story()
    rows = history_rows(series, "live", 100, 30)
    styles = {sp.style for r in rows for sp in r.spans}
    assert styles and all(str(s).replace("bold ", "").startswith("$") or s == "bold" for s in styles), styles


def test_rows_fit_the_width_and_height_with_fewer_charts_when_short() -> None:
    series, _ = story()
    for width, height in ((76, 18), (116, 34), (60, 12), (60, 8)):
        rows = history_rows(series, "live", width, height)
        assert len(rows) <= height and all(r.cell_length <= width for r in rows)
        text = "\n".join(r.plain for r in rows)
        assert CHARTS[0].title in text and ("more charts" in text) == (height < 21), height  # 5 charts: 21 lines
    assert canvas_rows(18) == 2 and canvas_rows(34) == 4
