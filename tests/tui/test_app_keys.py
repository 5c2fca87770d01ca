"""Pilot tests: every key of the dashboard, cleanup success and failure, failures of polls."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from textual.command import CommandPalette
from textual.widgets import DataTable, Input, Static
from tui_helpers import FixedClock, wait_until

from core.models import CleanupResult
from sse_tui.app import DashboardApp, make_app
from sse_tui.model import backoff_delay
from sse_tui.recording import Recorder, ReplaySource
from sse_tui.samples import ScriptedSource, sample_snapshot
from sse_tui.sources import SourceError
from sse_tui.widgets.dialogs import CleanupDialog, HelpScreen


def build(source, clock, **kwargs) -> tuple[DashboardApp, list[tuple[str, str]]]:
    kwargs.setdefault("interval", 60.0)  # only the first poll and "r" poll: the test drives time
    app = make_app(source, clock, watch_terminal=False, **kwargs)
    notes: list[tuple[str, str]] = []
    original = app.notify

    def notify(message, *args, **kw):
        notes.append((str(message), kw.get("severity", "information")))
        return original(message, *args, **kw)

    app.notify = notify  # type: ignore[method-assign]
    return app, notes


def text_of(app: DashboardApp, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


async def first_poll(pilot, app: DashboardApp, timeout: float = 5.0) -> None:
    """``timeout``: against a real source (Redis, a server) on a busy machine, 15: the app's
    start and first full render are CPU (run_test entered to first poll shown: 4.7-5.2 s at
    load 8 on 2 cores, of which the Redis reads 25 ms), nothing to wait out."""
    await wait_until(pilot, lambda: app.state.polls >= 1 and app.shown is not None, timeout=timeout, what="first poll")


async def test_first_poll_fills_header_and_panels(clock: FixedClock) -> None:
    app, _ = build(ScriptedSource([sample_snapshot("degraded")]), clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        header = text_of(app, "#header")
        assert "DEGRADED" in header and "updated 0s ago, poll 14 ms" in header and "every 60s" in header
        assert "Stale connections accumulating" in text_of(app, "#alerts-body")


@pytest.mark.parametrize("key", ["p", "space"])
async def test_pause_freezes_panels_but_age_keeps_ticking(clock: FixedClock, key: str) -> None:
    src = ScriptedSource([sample_snapshot("healthy"), sample_snapshot("unhealthy")])
    app, _ = build(src, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        await pilot.press(key)
        assert app.paused and "PAUSED" in text_of(app, "#header")
        await pilot.press("r")
        await wait_until(pilot, lambda: app.state.polls >= 2, what="second poll")
        clock.advance(7)
        app._tick()
        header = text_of(app, "#header")
        assert "HEALTHY" in header and "UNHEALTHY" not in header and "updated 7s ago" in header
        await pilot.press(key)
        assert not app.paused
        assert "UNHEALTHY" in text_of(app, "#header") and "PAUSED" not in text_of(app, "#header")


async def test_r_polls_now_one_at_a_time(clock: FixedClock) -> None:
    src = ScriptedSource([sample_snapshot()])
    app, _ = build(src, clock)
    async with app.run_test() as pilot:
        await first_poll(pilot, app)
        for expected in (2, 3):
            await pilot.press("r")
            await wait_until(pilot, lambda expected=expected: src.fetches >= expected, what=f"poll {expected}")
        assert src.fetches == app.state.polls == 3


async def test_plus_minus_change_interval(clock: FixedClock) -> None:
    app, _ = build(ScriptedSource([sample_snapshot()]), clock, interval=1.0)
    async with app.run_test() as pilot:
        await first_poll(pilot, app)
        await pilot.press("plus")
        assert app.interval == 2.0 and "every 2s" in text_of(app, "#header")
        await pilot.press("minus", "minus")
        assert app.interval == 0.5
        await pilot.press("minus")
        assert app.interval == 0.5


async def test_help_opens_and_closes(clock: FixedClock) -> None:
    app, _ = build(ScriptedSource([sample_snapshot()]), clock)
    async with app.run_test() as pilot:
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        app._tick()  # the dashboard keeps updating under a modal (regression: crashed on query)
        await app.poll_once()
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, HelpScreen), what="help closed")


async def test_ctrl_p_opens_command_palette_with_themes(clock: FixedClock) -> None:
    app, _ = build(ScriptedSource([sample_snapshot()]), clock)
    async with app.run_test() as pilot:
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette), what="palette")
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert any("theme" in t.lower() for t in titles) and "Cleanup now" in titles
        await pilot.press("escape")


async def test_e_exports_current_snapshot(clock: FixedClock, tmp_path: Path) -> None:
    app, notes = build(ScriptedSource([sample_snapshot("degraded")]), clock, export_dir=tmp_path)
    async with app.run_test() as pilot:
        await first_poll(pilot, app)
        await pilot.press("e")
        await pilot.press("e")
    files = sorted(tmp_path.glob("sse-dash-*.json"))
    assert [f.name for f in files] == ["sse-dash-20250120-103002-2.json", "sse-dash-20250120-103002.json"]
    data = json.loads(files[1].read_text())
    assert data["health_indicators"]["overall_health"] == "degraded"
    assert any("sse-dash-20250120-103002.json" in m for m, _ in notes)


async def test_e_exports_to_cwd_by_default(clock: FixedClock, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    app, _ = build(ScriptedSource([sample_snapshot()]), clock)
    async with app.run_test() as pilot:
        await first_poll(pilot, app)
        await pilot.press("e")
    assert len(list(tmp_path.glob("sse-dash-*.json"))) == 1


async def test_q_quits(clock: FixedClock) -> None:
    app, _ = build(ScriptedSource([sample_snapshot()]), clock)
    async with app.run_test() as pilot:
        await first_poll(pilot, app)
        await pilot.press("q")
        await wait_until(pilot, lambda: app._exit_renderables is not None or not app.is_running, what="exit")
    assert app.return_code in (0, None)


@pytest.mark.parametrize("confirm", ["y", "enter"])
async def test_c_confirms_and_reports_result(clock: FixedClock, confirm: str) -> None:
    src = ScriptedSource([sample_snapshot()])
    app, notes = build(src, clock)
    async with app.run_test() as pilot:
        await first_poll(pilot, app)
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, CleanupDialog), what="dialog")
        assert app.screen.query_one("#batch-size", Input).value == "10"
        assert not app.screen.query("#dialog-stale")
        await pilot.press(confirm)
        await wait_until(pilot, lambda: any("cleaned 7" in m for m, _ in notes), what="cleanup note")
    assert src.cleanups == [10]
    assert ("cleaned 7, failed 1 in 12 ms", "warning") in notes


async def test_cleanup_button_and_batch_size_edit(clock: FixedClock) -> None:
    src = ScriptedSource([sample_snapshot()], cleanup_result=CleanupResult(cleaned=25, failed=0, duration_ms=3.0))
    app, notes = build(src, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        await pilot.click("#cleanup-button")
        await wait_until(pilot, lambda: isinstance(app.screen, CleanupDialog), what="dialog")
        box = app.screen.query_one("#batch-size", Input)
        box.value = "25"
        box.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: src.cleanups == [25], what="cleanup run")
        await wait_until(pilot, lambda: ("cleaned 25, failed 0 in 3 ms", "information") in notes, what="note")


@pytest.mark.parametrize("cancel", ["n", "escape"])
async def test_c_cancel_runs_nothing(clock: FixedClock, cancel: str) -> None:
    src = ScriptedSource([sample_snapshot()])
    app, _ = build(src, clock)
    async with app.run_test() as pilot:
        await first_poll(pilot, app)
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, CleanupDialog), what="dialog")
        await pilot.press(cancel)
        await wait_until(pilot, lambda: not isinstance(app.screen, CleanupDialog), what="dialog closed")
        await pilot.pause()
    assert src.cleanups == []


async def test_failing_cleanup_shows_error(clock: FixedClock) -> None:
    src = ScriptedSource([sample_snapshot()], cleanup_error=SourceError("cleanup refused: a cleanup is already running"))
    app, notes = build(src, clock)
    async with app.run_test() as pilot:
        await first_poll(pilot, app)
        await pilot.press("c", "y")
        await wait_until(pilot, lambda: any(s == "error" for _, s in notes), what="error note")
        assert app.is_running and not app.cleanup_running
    assert ("Cleanup failed: cleanup refused: a cleanup is already running", "error") in notes


async def test_dialog_warns_when_data_is_stale(clock: FixedClock) -> None:
    src = ScriptedSource([sample_snapshot(), SourceError("cannot connect to http://svc (refused)")])
    app, _ = build(src, clock)
    async with app.run_test() as pilot:
        await first_poll(pilot, app)
        clock.advance(40)
        await pilot.press("r")
        await wait_until(pilot, lambda: app.state.failures == 1, what="failure")
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, CleanupDialog), what="dialog")
        warning = str(app.screen.query_one("#dialog-stale", Static).render())
        assert "40s old" in warning and "cannot connect" in warning


async def test_readonly_removes_cleanup(clock: FixedClock) -> None:
    src = ScriptedSource([sample_snapshot()])
    app, notes = build(src, clock, readonly=True)
    async with app.run_test() as pilot:
        await first_poll(pilot, app)
        assert "READONLY" in text_of(app, "#header")
        await pilot.press("c")
        await pilot.pause()
        assert not isinstance(app.screen, CleanupDialog)
        assert ("cleanup unavailable: read-only (--readonly)", "warning") in notes
        assert not app.query("#cleanup-button")
        assert "Cleanup now" not in [c.title for c in app.get_system_commands(app.screen)]
    assert src.cleanups == []


async def test_source_down_keeps_last_data_and_shows_banner(clock: FixedClock) -> None:
    src = ScriptedSource([sample_snapshot("degraded"), SourceError("timed out after 5s")])
    app, _ = build(src, clock, interval=1.0)
    async with app.run_test() as pilot:
        await first_poll(pilot, app)
        clock.advance(3)
        await pilot.press("r")
        await wait_until(pilot, lambda: app.state.failures >= 1, what="failure")
        banner = text_of(app, "#banner")
        assert "SOURCE DOWN" in banner and "timed out after 5s" in banner
        # the delay doubles per failed attempt (a busy machine may have polled again meanwhile)
        m = re.search(r"retry in (\d+)s \(attempt (\d+)\)", banner)
        assert m is not None, banner
        assert int(m.group(1)) == backoff_delay(1.0, int(m.group(2)) - 1) and int(m.group(2)) >= 2
        assert "press r to retry now" in banner
        assert "showing data from 3s ago" in banner
        header = text_of(app, "#header")
        assert "SOURCE DOWN" in header and "last: ▲ DEGRADED" in header


async def test_unexpected_exception_in_source_is_a_banner(clock: FixedClock) -> None:
    class Broken(ScriptedSource):
        async def fetch(self):
            raise ValueError("kaboom")

    app, _ = build(Broken([sample_snapshot()]), clock)
    async with app.run_test() as pilot:
        await wait_until(pilot, lambda: app.state.failures >= 1, what="failure")
        assert "NO DATA" in text_of(app, "#banner") and "kaboom" in text_of(app, "#banner")
        assert app.is_running


async def test_slash_filters_and_o_sorts_connections(clock: FixedClock) -> None:
    app, _ = build(ScriptedSource([sample_snapshot()]), clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        table = app.query_one("#conn-table", DataTable)
        assert table.row_count == 0  # hidden tabs are painted only when shown (CPU)
        await pilot.press("2")
        await wait_until(pilot, lambda: table.row_count == 12, what="rows painted when the tab is shown")
        await pilot.press("slash")
        await wait_until(pilot, lambda: isinstance(app.focused, Input), what="filter focus")
        await pilot.press(*"orders")
        await wait_until(pilot, lambda: table.row_count == 4, what="filtered rows")
        await pilot.press("enter")
        assert app.focused is table
        await pilot.press("o")
        assert app.query_one("#connections-view").query_spec.sort == "idle"


async def test_number_keys_switch_tabs(clock: FixedClock) -> None:
    app, _ = build(ScriptedSource([sample_snapshot()]), clock)
    async with app.run_test() as pilot:
        await first_poll(pilot, app)
        for key, tab in (("2", "connections"), ("3", "channels"), ("4", "config"), ("1", "overview")):
            await pilot.press(key)
            assert app.query_one("#tabs").active == tab


async def test_record_then_replay_with_pause_and_step(clock: FixedClock, tmp_path: Path) -> None:
    path = tmp_path / "incident.jsonl"
    rec = Recorder(path)
    src = ScriptedSource([sample_snapshot("healthy"), sample_snapshot("degraded"), sample_snapshot("unhealthy")])
    app, _ = build(src, clock, recorder=rec)
    async with app.run_test() as pilot:
        await first_poll(pilot, app)
        for n in (2, 3):
            clock.advance(1)
            await pilot.press("r")
            await wait_until(pilot, lambda n=n: app.state.polls >= n, what=f"poll {n}")
    rec.close()
    assert len(path.read_text().splitlines()) == 3

    replay = ReplaySource(path)
    app, _ = build(replay, clock)
    async with app.run_test() as pilot:
        await first_poll(pilot, app)
        assert "HEALTHY" in text_of(app, "#header") and "recorded" in text_of(app, "#header")
        await pilot.press("p")
        await pilot.press("r")
        await pilot.pause()
        assert replay.position == 0
        await pilot.press("full_stop")
        assert "DEGRADED" in text_of(app, "#header")
        await pilot.press("full_stop", "full_stop")
        assert "UNHEALTHY" in text_of(app, "#header") and replay.position == 2
        await pilot.press("comma")
        assert "DEGRADED" in text_of(app, "#header") and "[2/3]" in text_of(app, "#header")


async def test_connections_page_fetched_only_while_its_tab_shows(fake_service, clock: FixedClock) -> None:
    """CPU and bandwidth: the overview needs no connections page; showing the tab fetches it at once."""
    from sse_tui.sources import HttpSource

    source = HttpSource(fake_service.monitoring_url, token="s3cret")
    app = make_app(source, clock, interval=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        app.action_refresh_now()
        await wait_until(pilot, lambda: app.state.polls >= 2, what="second poll")
        assert fake_service.connections_calls == 0
        await pilot.press("2")  # no waiting for the hour-long interval: the page comes now
        table = app.query_one("#conn-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == 5, what="connections page on show")
        assert fake_service.connections_calls >= 1
        await pilot.press("1")
        calls, polls = fake_service.connections_calls, app.state.polls
        app.action_refresh_now()
        await wait_until(pilot, lambda: app.state.polls > polls, what="a poll on the overview")
        assert fake_service.connections_calls == calls
    await source.aclose()
