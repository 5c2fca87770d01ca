"""The history widget (issues 13, 21, 24) in a small App that gives it the room the
History tab gives it (80x24: 76x18), fed as the App feeds it: the range and step it asks
for (``request_for``) read from a fleet history written as the server writes it
(tests/tui/history_data.py: a worker's death, a store outage, no data before the history
began) and read back as ``GET /monitoring/history`` reads it (``Recorder.history``).

SVG snapshots at 80x24 and 120x40 of the 1 h and 7 d views; the pictures show, from left
to right: blank "no data yet" columns, the death (``✖`` under the axis, a dotted red line
through the charts, named in the legend), the outage as a hatched ``░`` band labelled
``store down`` (where it fits) with its ``state_store_unavailable`` alert span on the
axis, and the axis ending at now.

Update after a reviewed change with ``pytest tests/tui/test_history_widget.py --snapshot-update``.
"""

from __future__ import annotations

import pytest
from history_data import DEAD_WORKER, END, Fleet
from textual.app import App, ComposeResult
from textual.containers import Vertical
from textual.widgets import Static
from tui_helpers import FixedClock, wait_until

from core.models import HistorySeries
from sse_tui.app import make_app
from sse_tui.samples import ScriptedSource, sample_snapshot
from sse_tui.widgets.history import CHARTS, RANGES, HistoryView
from sse_tui.widgets.timeline import time_label

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


class HistoryApp(App[None]):
    """The widget in a bordered panel between a 3-line top and a footer line, as in the tab."""

    CSS = """
    #top { height: 3; }
    #frame { border: round $primary 50%; padding: 0 1; height: 1fr; }
    #bottom { height: 1; }
    """

    def __init__(self, range_name: str) -> None:
        super().__init__()
        self.range_name = range_name
        self.fleet = Fleet()
        self.at: dict[str, float] = {}

    def compose(self) -> ComposeResult:
        yield Static("sse-dash", id="top")
        with Vertical(id="frame"):
            yield HistoryView(range_name=self.range_name, range_keys="< >", id="history")
        yield Static("", id="bottom")

    async def load(self) -> HistorySeries:
        """What the App does at connect: ask for the range at the widget's width, show it."""
        self.at = await self.fleet.write(RANGES[self.range_name])
        view = self.query_one(HistoryView)
        series = await self.fleet.history(*view.request_for(self.range_name))
        view.show(series, self.range_name)
        return series


async def loaded(pilot) -> HistorySeries:
    app: HistoryApp = pilot.app
    view = app.query_one(HistoryView)
    await wait_until(pilot, lambda: view.size.width > 0, timeout=20, what="the history view laid out")
    series = await app.load()
    await wait_until(pilot, lambda: view.rows and "connections" in view.render().plain, timeout=20,
                     what="the charts drawn")
    await pilot.pause()
    return series


def check_story(series: HistorySeries, at: dict[str, float]) -> None:
    """The series holds what the pictures are meant to show (so a snapshot cannot pass on
    data that lost it)."""
    assert series.end == END and series.times[-1] + series.step > END  # the last bucket reaches past now
    assert {"ok", "unknown", "none"} <= set(series.coverage)
    inside = [i for i, t in enumerate(series.times) if at["down"] + series.step <= t and t + series.step <= at["up"]]
    assert inside and all(series.coverage[i] == "unknown" for i in inside)
    assert all(series.last["active"][i] is None and series.max["active"][i] is None for i in inside)  # never 0
    assert any(a.type == "state_store_unavailable" and a.start <= at["up"] for a in series.alerts)
    assert any(m.type == "death" and m.worker_id == DEAD_WORKER for m in series.marks)
    assert any(m.type == "outage" for m in series.marks)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("range_name", ["1h", "7d"])
def test_history_snapshots(snap_compare, size, range_name) -> None:
    app = HistoryApp(range_name)

    async def settled(pilot) -> None:
        series = await loaded(pilot)
        check_story(series, app.at)
        text = app.query_one(HistoryView).render().plain
        assert "✖" in text and "░" in text and f"{DEAD_WORKER} died" in text
        assert text.splitlines()[-3].rstrip().endswith(time_label(END, RANGES[range_name]))  # the axis ends at now

    assert snap_compare(app, terminal_size=size, run_before=settled)


async def test_ranges_ask_for_about_one_bucket_per_column_and_the_charts_redraw_only_on_change() -> None:
    """The range keys are the App's (tests/tui/test_history_tab.py); the widget sizes each
    range's request to its width, marks the one chosen, and draws again only when what it
    shows changed: the same series again, or a theme change, keeps the rows it drew."""
    app = HistoryApp("1h")
    async with app.run_test(size=(100, 30)) as pilot:
        series = await loaded(pilot)
        view = app.query_one(HistoryView)
        for name in ("7d", "24h", "live"):
            range_s, step = view.request_for(name)
            assert range_s == RANGES[name] and step >= 10.0
            assert range_s / step <= 100  # about one bucket per column
            view.select_range(name)
            assert f"[{name}]" in view.render().plain.splitlines()[0]
        view.select_range("1h")
        rows = view.rows
        view.show(series, "1h")
        assert view.rows is rows, "the same series is not drawn again"
        app.theme = "textual-light"
        await pilot.pause()
        assert view.rows is rows, "a theme change re-colours the rows, it does not draw them again"
        view.show(series.model_copy(update={"end": series.end + 1}), "1h")
        assert view.rows is not rows
        text = view.render().plain
        assert all(chart.title in text for chart in CHARTS)


class HistorianSource(ScriptedSource):
    """A scripted /monitoring plus the story's fleet history (``Historian``), as a source
    reading ``GET /monitoring/history`` offers it to the App."""

    def __init__(self, fleet: Fleet) -> None:
        super().__init__([sample_snapshot("healthy", active=120)])
        self.fleet = fleet
        self.reads: list[tuple[float, float]] = []

    async def history(self, range_s: float, step: float) -> HistorySeries:
        self.reads.append((range_s, step))
        return await self.fleet.history(range_s, step)


async def test_the_dashboards_history_tab_draws_the_story_and_builds_no_chart_while_hidden(monkeypatch) -> None:
    """In the App at 80x24: the history is read at connect but not drawn while its tab is
    hidden (no size); pressing 5 draws the outage band, the death and the axis ending at now."""
    from sse_tui.widgets import history as history_widget

    builds: list[int] = []
    real = history_widget.history_rows
    monkeypatch.setattr(history_widget, "history_rows", lambda *a, **k: builds.append(1) or real(*a, **k))
    fleet = Fleet()
    await fleet.write(RANGES["1h"])
    source = HistorianSource(fleet)
    app = make_app(source, FixedClock(END), interval=5.0, watch_terminal=False)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(HistoryView)
        await wait_until(pilot, lambda: source.reads and view.series is not None, timeout=20, what="history read at connect")
        await pilot.pause()
        assert builds == [] and view.size.width == 0  # hidden: nothing drawn
        await pilot.press("5")
        await wait_until(pilot, lambda: view.size.width > 0 and builds and "░" in view.render().plain, timeout=20,
                         what="the History tab drawn")
        text = view.render().plain
        assert "✖" in text and f"{DEAD_WORKER} died" in text and "state_store_unavailable" in text
        assert view.size == (76, 18) and len(text.splitlines()) <= 18
