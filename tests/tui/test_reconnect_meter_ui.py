"""The reconnect-storm meter on the Overview (issue 27): the rate and the share of
reconnects as the server sends them (``connect_rate``), ``▲ RECONNECT STORM`` while the
``reconnect_storm`` warning holds (a symbol and words: NO_COLOR reads it), and unknown,
never 0, when the server sends no rate (its store is down, or it is older)."""

from __future__ import annotations

from test_app_keys import build, first_poll, text_of
from tui_helpers import FixedClock, wait_until

from core.health import HealthInputs, HealthThresholds, evaluate
from core.models import ConnectRate
from sse_tui.model import Snapshot
from sse_tui.samples import ScriptedSource, sample_snapshot


async def test_the_overview_shows_the_meter_and_names_a_storm() -> None:
    calm = sample_snapshot("healthy")
    rate = ConnectRate(window_seconds=10, connects=1012, reconnects=998, per_second=101.2, reconnects_per_second=99.8,
                       reconnect_share_percent=98.6)
    warned = evaluate(HealthInputs(active_connections=150, redis_connection_counters=150, error_rate=0.0,
                                   cleanup_task_running=True, periodic_cleanup_enabled=True, stale=0, very_old=0,
                                   reconnects_per_second=99.8, connects_per_second=101.2), HealthThresholds())
    assert [w.type for w in warned.warnings] == ["reconnect_storm"]
    assert warned.warnings[0].message == "Reconnect storm: 99.8 reconnects/s (> 50), 101.2 connects/s"
    stormy = Snapshot(stats=calm.stats.model_copy(update={"connect_rate": rate, "health_indicators": warned}))
    unknown = Snapshot(stats=calm.stats.model_copy(update={"connect_rate": None}))
    app, _ = build(ScriptedSource([calm, stormy, unknown]), FixedClock())
    async with app.run_test(size=(100, 30)) as pilot:
        await first_poll(pilot, app)
        assert "connects 2.3/s (17% reconnects)" in text_of(app, "#conn-body")
        await pilot.press("r")
        await wait_until(pilot, lambda: "▲ RECONNECT STORM connects 101.2/s (99% reconnects)"
                         in text_of(app, "#conn-body"), what="the storm named")
        assert "Reconnect storm: 99.8 reconnects/s" in text_of(app, "#alerts-body")
        await pilot.press("r")
        await wait_until(pilot, lambda: "connects/s: unknown" in text_of(app, "#conn-body"), what="unknown, not 0")
        assert "connects 0" not in text_of(app, "#conn-body")


def test_a_warming_up_meter_says_so_never_zero() -> None:
    from sse_tui.widgets.connections import connects_line

    text = connects_line(None, False, "warming up: 3 s of 10 s counted").plain
    assert text == "connects/s: unknown (warming up: 3 s of 10 s counted)" and "0/s" not in text
    assert connects_line(None, False).plain == "connects/s: unknown"
