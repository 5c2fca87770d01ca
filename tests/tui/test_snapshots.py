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


async def second_detail(pilot, app, row: int = 1) -> None:
    """The connections tab, then the detail of its second row (or of ``row``)."""
    await drive(pilot, 1)
    await pilot.press("2")
    table = app.query_one("#conn-table")
    await wait_until(pilot, lambda: table.row_count > 0, what="connections")
    table.focus()
    await pilot.press(*["down"] * row, "enter")
    await wait_until(pilot, lambda: isinstance(app.screen, ConnectionDetail), what="detail")
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_connection_detail(snap_compare, size) -> None:
    clock = FixedClock()
    app = scenario(history("healthy"), clock)

    async def run_before(pilot) -> None:
        await second_detail(pilot, app)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_connection_detail_not_reading(snap_compare, size) -> None:
    """Issue 27: a stream whose client fell behind (its send queue grew at every read) is
    flagged NOT READING for 7 s, with since when, long before it is stale."""
    clock = FixedClock()
    app = scenario(history("healthy"), clock)

    async def run_before(pilot) -> None:
        await second_detail(pilot, app, row=6)
        assert app.screen.record.not_reading and app.screen.record.queue_growth_bytes > 0

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


# --------------------------------------------------------------------------- issue 21: the header at 80x24


def _long_recording(tmp_path) -> str:
    """585 frames (one a second), the store down from frame 400 on: what --record writes."""
    path = tmp_path / "incident-2025-01-20-prod-eu-west.jsonl"
    rec = Recorder(path)
    for i in range(585):
        health = "store_down" if i >= 400 else ("degraded" if i >= 300 else "healthy")
        rec.write(sample_snapshot(health, active=130 + i % 7), T0 + i)  # type: ignore[arg-type]
    rec.close()
    return str(path)


@pytest.mark.parametrize("case", ["source_down", "store_down", "replay", "rebuilding", "refusing_writes"])
def test_header_badges_win_at_80x24(snap_compare, case, tmp_path) -> None:
    """Every state badge (SOURCE DOWN / STORE DOWN / STORE REFUSES WRITES / REBUILDING, PAUSED,
    READONLY, the replay's [n/585]) is on the 80-column header; lower-priority parts (source,
    poll cost, interval...) gave way."""
    clock = FixedClock()
    if case == "replay":
        replay = ReplaySource(_long_recording(tmp_path))
        app = make_app(replay, clock, interval=5.0, watch_terminal=False, readonly=True)
    else:
        last = SourceError("cannot connect to http://sse.example:8000 (connection refused)") if case == "source_down" \
            else sample_snapshot(case)  # type: ignore[arg-type]
        app = make_app(ScriptedSource([*history("degraded"), last]), clock, interval=5.0, watch_terminal=False,
                       readonly=True)
    badges = {"source_down": ["SOURCE DOWN", "PAUSED", "READONLY"], "store_down": ["STORE DOWN", "PAUSED", "READONLY"],
              "replay": ["STORE DOWN", "PAUSED", "READONLY", "[413/585]"],
              "rebuilding": ["REBUILDING", "last: ▲ DEGRADED", "PAUSED", "READONLY"],  # paused: the verdict shown is old
              "refusing_writes": ["STORE REFUSES WRITES", "PAUSED", "READONLY"]}[case]

    async def run_before(pilot) -> None:
        if case == "replay":
            await wait_until(pilot, lambda: app.state.polls >= 1, what="first frame")
            app._seek_to(T0 + 412)
            await wait_until(pilot, lambda: replay.position == 412, what="frame 413")
        else:
            await drive(pilot, len(ACTIVE))
            await pilot.press("p")
            clock.advance(12)
            app.action_refresh_now()
            await wait_until(pilot, lambda: app.state.polls > len(ACTIVE), what="the last poll")
            if case == "source_down":  # the panels repaint after the poll: wait until they say it
                from sse_tui.widgets.connections import ConnectionsPanel
                panel = app.query_one(ConnectionsPanel)
                await wait_until(pilot, lambda: panel.view is not None and not panel.view.assessment.trusted,
                                 what="the panels showing the source down")
        await pilot.pause()
        header = str(app.query_one("#header").render())
        assert all(b in header for b in badges), header

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


# --------------------------------------------------------------------------- issues 21/22: workers, registry, counts


async def workers_tab(pilot, app) -> None:
    """The Workers & connections tab, with its workers and its first page."""
    await drive(pilot, 1)
    await pilot.press("2")
    await wait_until(pilot, lambda: app.query_one("#workers-table").row_count == 3, what="workers")
    await wait_until(pilot, lambda: app.query_one("#conn-table").row_count > 0, what="connections")
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("scenario", ["dead_worker", "late_worker"])
def test_workers_tab(snap_compare, size, scenario) -> None:
    """The DEAD (or LATE) worker first with its reason and heartbeat age (a DEAD one: how to
    reap it); a LATE worker's streams' counts with their age (its last flush) in the list."""
    clock = FixedClock()
    source = ScriptedSource([sample_snapshot(scenario)], connections=sample_connections(late_worker=scenario == "late_worker"))
    app = make_app(source, clock, interval=5.0, watch_terminal=False)

    async def run_before(pilot) -> None:
        await workers_tab(pilot, app)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("scenario", ["late_worker", "dead_worker"])
def test_worker_states_on_the_overview(snap_compare, size, scenario) -> None:
    """The Overview says the workers' states at a glance, and the alert names the worker."""
    clock = FixedClock()
    app = make_app(ScriptedSource([sample_snapshot(scenario)]), clock, interval=5.0, watch_terminal=False)

    async def run_before(pilot) -> None:
        await drive(pilot, 1)
        await wait_until(pilot, lambda: "worker" in str(app.query_one("#conn-body").render()), what="workers")

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_rebuilding(snap_compare, size) -> None:
    """The store lost the fleet's data: REBUILDING in the header and the banner (the reason,
    whom it waits for), every registry number ?, nothing green."""
    clock = FixedClock()
    app = scenario([*history("healthy"), sample_snapshot("rebuilding")], clock)

    async def run_before(pilot) -> None:
        await drive(pilot, len(ACTIVE) + 1)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_connection_detail_with_old_counts(snap_compare, size) -> None:
    """A stream of the LATE worker: its events and bytes as counted 3 s before the view, said
    so (and when); its worker's state with the reason; the view's own as-of time."""
    clock = FixedClock()
    source = ScriptedSource([sample_snapshot("late_worker")], connections=sample_connections(late_worker=True))
    app = make_app(source, clock, interval=5.0, watch_terminal=False)

    async def run_before(pilot) -> None:
        await second_detail(pilot, app)
        assert app.screen.record.worker_id == "web-3:977"  # the second row: web-3's stream

    assert snap_compare(app, terminal_size=size, run_before=run_before)
