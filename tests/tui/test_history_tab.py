"""The History tab: the fleet's stored history is there the moment sse-dash connects
(written before it started, issue 13), and the range keys fetch another range without
ever taking a tab key (issue 21)."""

from __future__ import annotations

import time

from textual.widgets._footer import FooterKey
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
            await range_keys_never_take_a_tab_key(pilot, app, view)
    finally:
        await source.aclose()  # its Redis connections belong to this test's loop


def footer_keys(app) -> set[str]:
    return {k.key_display or k.key for k in app.screen.query(FooterKey)}


async def range_keys_never_take_a_tab_key(pilot, app, view: HistoryView) -> None:
    """Issue 21: < > work the moment the History tab opens (no focus), are in its footer
    only, and 1-5 stay tab keys (2 used to pick 24 h once the chart had the focus)."""
    assert "<" not in footer_keys(app)  # not the History tab: its keys are not offered
    await pilot.press("5")
    assert app.query_one("#tabs").active == "history" and not view.has_focus  # nobody focused the chart
    await wait_until(pilot, lambda: "<" in footer_keys(app) and ">" in footer_keys(app),
                     what="the range keys in the History tab's footer")
    # fetched again once the tab is laid out: about one bucket per column of the chart
    await wait_until(pilot, lambda: view.series is not None and view.series.step <= 60, timeout=10,
                     what="1 h at the chart's width")

    def shows(name: str, seconds: float):
        return lambda: view.range_name == name and view.series is not None \
            and abs((view.series.end - view.series.start) - seconds) <= view.series.step

    for key, name, seconds in (("greater_than_sign", "6h", 6 * 3600), ("greater_than_sign", "24h", 86400),
                               ("less_than_sign", "6h", 6 * 3600), ("less_than_sign", "1h", 3600),
                               ("less_than_sign", "live", 600)):
        await pilot.press(key)
        await wait_until(pilot, shows(name, seconds), timeout=10, what=f"the {name} range fetched")
    await pilot.press("2")  # a tab key, never "24 h"
    assert app.query_one("#tabs").active == "connections" and view.range_name == "live"
    await pilot.press("greater_than_sign")  # not the History tab: the range stays
    assert view.range_name == "live"
    await pilot.press("5")
    view.focus()  # with the chart focused too, 1 is the Overview tab
    await pilot.press("1")
    assert app.query_one("#tabs").active == "overview" and view.range_name == "live"
