"""SVG snapshot tests at 80x24 and 120x40 (fixed clock, in-memory source, no sleeping).

Update after a reviewed change with ``pytest tests/tui --snapshot-update``.
"""

from __future__ import annotations

import pytest
from tui_helpers import FixedClock, wait_until

from sse_tui.app import DashboardApp, make_app
from sse_tui.recording import Recorder, ReplaySource
from sse_tui.samples import T0, ScriptedSource, sample_connections, sample_snapshot
from sse_tui.sources import SourceError
from sse_tui.widgets.dialogs import CleanupDialog, ConnectionDetail, HelpScreen

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
        await wait_until(pilot, lambda n=n: app.state.polls >= n, what=f"poll {n}")
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


# --------------------------------------------------------------------------- issue 11 states


@pytest.mark.parametrize("size", SIZES)
def test_store_down(snap_compare, size) -> None:
    """The service answers but its store is down: STORE DOWN, ? for every number, no green."""
    clock = FixedClock()
    steps = [*history("healthy"), sample_snapshot("store_down")]
    app = scenario(steps, clock)

    async def run_before(pilot) -> None:
        await drive(pilot, len(ACTIVE) + 1)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_dead_worker(snap_compare, size) -> None:
    clock = FixedClock()
    app = scenario([sample_snapshot("dead_worker")], clock)

    async def run_before(pilot) -> None:
        await drive(pilot, 1)
        await pilot.press("2")
        await wait_until(pilot, lambda: app.query_one("#workers-table").row_count == 3, what="workers")
        await wait_until(pilot, lambda: app.query_one("#conn-table").row_count > 0, what="connections")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_connection_detail(snap_compare, size) -> None:
    clock = FixedClock()
    app = scenario(history("healthy"), clock)

    async def run_before(pilot) -> None:
        await drive(pilot, 1)
        await pilot.press("2")
        table = app.query_one("#conn-table")
        await wait_until(pilot, lambda: table.row_count > 0, what="connections")
        table.focus()
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConnectionDetail), what="detail")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_paging(snap_compare, size) -> None:
    clock = FixedClock()
    source = ScriptedSource(history("healthy"), connections=sample_connections(130))
    app = make_app(source, clock, interval=5.0, watch_terminal=False)

    async def run_before(pilot) -> None:
        await drive(pilot, 1)
        await pilot.press("2")
        table = app.query_one("#conn-table")
        await wait_until(pilot, lambda: table.row_count == 50, what="first page")
        table.focus()
        await pilot.press("right_square_bracket")
        await wait_until(pilot, lambda: app.query_one("#connections-view").page.offset == 50, what="page 2")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def _recording(tmp_path) -> str:
    path = tmp_path / "incident.jsonl"
    rec = Recorder(path)
    frames = [*(["healthy"] * 4), *(["degraded"] * 3), *(["unhealthy"] * 3)]
    for i, health in enumerate(frames):
        rec.write(sample_snapshot(health, active=130 + i), T0 + 60 * i)  # type: ignore[arg-type]
    rec.close()
    return str(path)


@pytest.mark.parametrize("size", SIZES)
def test_replay_at_an_alert(snap_compare, size, tmp_path) -> None:
    clock = FixedClock()
    replay = ReplaySource(_recording(tmp_path))
    app = make_app(replay, clock, interval=5.0, watch_terminal=False, readonly=True)

    async def run_before(pilot) -> None:
        await wait_until(pilot, lambda: app.state.polls >= 1, what="first frame")
        await pilot.press("p")
        await pilot.press("n")  # the first warning (degraded)
        await pilot.press("n")  # the first alert (unhealthy)
        await wait_until(pilot, lambda: replay.position == 7, what="alert frame")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
