"""The History tab: the fleet's stored history is there the moment sse-dash connects
(written before it started), and the range keys fetch another range (issue 13)."""

from __future__ import annotations

import time

from tui_helpers import wait_until

from sse_tui.sources import RedisSource
from sse_tui.widgets.history import HistoryView
from tests.tui.test_app_keys import build, first_poll
from tests.tui.test_history_export import _write_history


async def test_history_written_before_the_dashboard_started_is_shown_at_connect(redis_url, namespace) -> None:
    written = await _write_history(redis_url, namespace, 40)
    source = RedisSource(redis_url, namespace)
    app, _ = build(source, time.time)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await first_poll(pilot, app)
            view = app.query_one(HistoryView)
            await wait_until(pilot, lambda: view.series is not None, timeout=10, what="history fetched at connect")
            series = view.series
            assert series is not None and sum(series.samples) >= len(written) - 2
            assert max(v for v in series.max["active"] if v is not None) == max(s.active for s in written)
            assert any(a.type == "connection_mismatch" for a in series.alerts)  # the alert's span is on the timeline
            await pilot.press("5")
            view.focus()
            await pilot.press("6")  # 6 h
            await wait_until(pilot, lambda: view.series is not None and view.series.end - view.series.start > 5 * 3600,
                             timeout=10, what="the 6 h range fetched")
            assert view.range_name == "6h"
    finally:
        await source.aclose()  # its Redis connections belong to this test's loop
