"""SVG snapshot tests at 80x24 and 120x40 (fixed clock, in-memory source, no sleeping).

Update after a reviewed change with ``pytest tests/tui --snapshot-update``.
"""

from __future__ import annotations

import pytest

from sse_tui.app import DashboardApp, make_app
from sse_tui.samples import ScriptedSource, sample_snapshot
from sse_tui.sources import SourceError
from sse_tui.widgets.dialogs import CleanupDialog, HelpScreen
from tui_helpers import FixedClock, wait_until

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
ACTIVE = (118, 124, 131, 129, 137, 142, 146, 150)


def history(health: str) -> list:
    return [sample_snapshot(health, active=a) for a in ACTIVE]  # type: ignore[arg-type]


def scenario(steps, clock: FixedClock) -> DashboardApp:
    return make_app(ScriptedSource(steps), clock, interval=5.0, watch_terminal=False)


async def drive(pilot, polls: int) -> None:
    app: DashboardApp = pilot.app
    await wait_until(pilot, lambda: app.state.polls >= 1, what="first poll")
    while app.state.polls < polls:
        n = app.state.polls + 1
        app.action_refresh_now()
        await wait_until(pilot, lambda: app.state.polls >= n, what=f"poll {n}")
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("health", ["healthy", "degraded", "unhealthy"])
def test_health_levels(snap_compare, size, health) -> None:
    clock = FixedClock()
    app = scenario(history(health), clock)

    async def run_before(pilot) -> None:
        await drive(pilot, len(ACTIVE))

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_source_down_keeps_stale_data(snap_compare, size) -> None:
    clock = FixedClock()
    steps = [*history("degraded"), SourceError("cannot connect to http://sse.example:8000 (connection refused)")]
    app = scenario(steps, clock)

    async def run_before(pilot) -> None:
        await drive(pilot, len(ACTIVE))
        clock.advance(12)
        app.action_refresh_now()
        await wait_until(pilot, lambda: app.state.failures >= 1, what="failure")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_cleanup_dialog(snap_compare, size) -> None:
    clock = FixedClock()
    app = scenario(history("degraded"), clock)

    async def run_before(pilot) -> None:
        await drive(pilot, len(ACTIVE))
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, CleanupDialog), what="dialog")

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_cleanup_dialog_warns_on_stale_data(snap_compare, size) -> None:
    clock = FixedClock()
    app = scenario([*history("healthy"), SourceError("timed out after 5s")], clock)

    async def run_before(pilot) -> None:
        await drive(pilot, len(ACTIVE))
        clock.advance(95)
        app.action_refresh_now()
        await wait_until(pilot, lambda: app.state.failures >= 1, what="failure")
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, CleanupDialog), what="dialog")

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_help(snap_compare, size) -> None:
    clock = FixedClock()
    app = scenario(history("healthy"), clock)

    async def run_before(pilot) -> None:
        await drive(pilot, 1)
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_connections_tab(snap_compare, size) -> None:
    clock = FixedClock()
    app = scenario(history("unhealthy"), clock)

    async def run_before(pilot) -> None:
        await drive(pilot, 1)
        await pilot.press("2")

    assert snap_compare(app, terminal_size=size, run_before=run_before)
