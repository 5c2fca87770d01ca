"""The history widget (issue 13) in a tiny App of its own: keys post range requests, and
SVG snapshots at 80x24 and 120x40 of the 1 h and 7 d views with an alert marked.

The series come from the real core code: samples appended to a MemoryStore under the
lease (``history_append``), read back per tier (``history_range``) and turned into columns
by ``core.history.series``, as ``GET /monitoring/history`` does.

Update after a reviewed change with ``pytest tests/tui/test_history_widget.py --snapshot-update``.
"""

from __future__ import annotations

import asyncio
import math

import pytest
from textual.app import App, ComposeResult
from tui_helpers import wait_until

from core import history
from core.config import load_config
from core.history import HistorySample
from core.models import HistorySeries, TrendEvidence
from core.store.memory import MemoryStore
from sse_tui.widgets.history import RANGES, HistoryView

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
END = 1_795_000_000.0  # a fixed fleet clock (Fri 2026-11-20 ~ 07:06 UTC)
CFG = load_config()


def _sample(t: float, i: int, alert: bool, errors: int) -> HistorySample:
    daily = 800 + 400 * math.sin(2 * math.pi * (t % 86400) / 86400)
    active = int(daily + (350 if alert else 0))
    runs = i // 6
    return HistorySample(
        t=t, active=active, counter=active + (40 if alert else 0), stale=12 + (90 if alert else 0) + i % 5,
        active_recent=active - 12, long_lived=active // 4, very_old=3 + (i // 500) % 4, runs=runs, cleaned=runs * 3,
        errors=errors, last_ms=35.0 + (i % 7) * 3 + (140 if alert else 0),
        avg_ms=40.0, level="unhealthy" if alert else "healthy", alerts=["connection_mismatch"] if alert else [])


async def _series(range_name: str) -> tuple[HistorySeries, list[TrendEvidence]]:
    """Fill a MemoryStore through the real append path, read it back as the endpoint does."""
    store = MemoryStore()
    tiers = history.tiers_from_config(CFG)
    range_s = RANGES[range_name]
    every = 10.0 if range_s <= 86400 else 300.0  # one sample per rollup step is enough for 7 d
    n = int(range_s / every)
    alert_from, alert_to = END - range_s * 0.45, END - range_s * 0.3
    errors = 0
    for i in range(n):
        t = END - range_s + (i + 1) * every
        alert = alert_from <= t < alert_to
        if i % 6 == 0 and (alert and i % 12 == 0 or i % 96 == 0):
            errors += 1  # a failed cleanup run: every other run during the alert, rarely otherwise
        assert await store.history_append(_sample(t, i, alert, errors), tiers, "writer")
    step = history.default_step(tiers, range_s, width=110)
    tier = history.choose_tier(tiers, range_s, step)
    step = max(step, math.ceil(step / tier.step) * tier.step)
    start = math.floor((END - range_s) / step) * step
    points, bad = await store.history_range(tier, start, END)
    assert bad == 0
    raw, _ = await store.history_range(tiers[0], END - 4200, END)
    roll, _ = await store.history_range(tiers[1], END - 8 * 86400, END)
    current = raw[-1].last["active"] if raw else None
    trends = list(history.trends(raw, roll, END, CFG, current).values())
    return history.series(points, start, END, step, tier.step), trends


class HistoryApp(App[None]):
    def __init__(self, series: HistorySeries, range_name: str, trends: list[TrendEvidence] | None = None) -> None:
        super().__init__()
        self.series_ = series
        self.trends = trends or []
        self.range_name = range_name
        self.requests: list[HistoryView.RangeRequested] = []

    def compose(self) -> ComposeResult:
        yield HistoryView(self.series_, self.range_name, id="history")

    def on_mount(self) -> None:
        view = self.query_one(HistoryView)
        view.show(self.series_, self.range_name, trends=self.trends)
        view.focus()

    def on_history_view_range_requested(self, message: HistoryView.RangeRequested) -> None:
        self.requests.append(message)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("range_name", ["1h", "7d"])
def test_history_snapshots(snap_compare, size, range_name) -> None:
    series, trends = asyncio.run(_series(range_name))
    assert any(a.type == "connection_mismatch" and a.end is not None for a in series.alerts)
    band = next(t for t in trends if t.type == "baseline_deviation")
    assert (band.band_low is not None) == (range_name == "7d")  # 7 days of history make a baseline; 1 h does not
    app = HistoryApp(series, range_name, trends)

    async def settled(pilot) -> None:  # focus and the first full paint land before the picture (a loaded CI box)
        view = app.query_one(HistoryView)
        await wait_until(pilot, lambda: view.has_focus and view.series is not None and view.size.width > 0,
                         timeout=20, what="the history view painted and focused")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=settled)


async def test_range_keys_post_requests_and_the_widget_draws_alert_marks() -> None:
    series, _ = await _series("1h")
    app = HistoryApp(series, "1h")
    async with app.run_test(size=(100, 30)) as pilot:
        for key in ("7", "2", "l"):
            await pilot.press(key)
        await wait_until(pilot, lambda: len(app.requests) == 3, timeout=20, what="three range requests")
        names = [(r.name, r.range_s) for r in app.requests]
        assert names == [("7d", 7 * 86400.0), ("24h", 86400.0), ("live", 600.0)]
        assert all(r.step >= CFG.HISTORY_INTERVAL_SECONDS for r in app.requests)
        assert app.requests[0].range_s / app.requests[0].step <= 100  # about one bucket per column
        text = app.query_one(HistoryView).render().plain
        assert "▲" in text and "▼" in text and "connection_mismatch" in text
        assert "cleanup error rate" in text and "connections" in text


async def test_gaps_are_drawn_as_unknown_not_zero() -> None:
    series, _ = await _series("1h")
    holes = series.model_copy(update={"last": {**series.last, "active": [None] * len(series.times)},
                                      "max": {**series.max, "active": [None] * len(series.times),
                                              "counter": [None] * len(series.times)}})
    app = HistoryApp(holes, "1h")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        text = app.query_one(HistoryView).render().plain
        conn = text.split("connections", 1)[1].split("stale / very old")[0]
        assert "active -" in conn and "╌" in conn and "▁" not in conn
