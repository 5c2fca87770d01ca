"""One picture (issue 21): every count on one screen comes from one snapshot (the cleanup
dialog over the list it is shown on); a replay says exactly which part of the server's list
it recorded; the user agent is shown when the width allows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.widgets import DataTable, Static
from tui_helpers import FixedClock, wait_until

from core.models import ConnectionRecord
from sse_tui.model import ConnectionQuery, Snapshot, Thresholds
from sse_tui.recording import Recorder, ReplaySource
from sse_tui.samples import T0, ScriptedSource, sample_connections, sample_snapshot, sample_stats, with_page
from sse_tui.sources import local_page
from sse_tui.widgets.dialogs import CleanupDialog
from tests.tui.test_app_keys import build, first_poll


class MovingFleet(ScriptedSource):
    """A service whose registry changes while the dashboard looks at it: its /monitoring
    counts and its connection pages are both read from ``records`` when asked."""

    def __init__(self, records: list[ConnectionRecord]) -> None:
        super().__init__([sample_snapshot()], connections=records)

    async def fetch(self) -> Snapshot:
        self.fetches += 1
        th = Thresholds()
        stale = sum(1 for r in self.records if T0 - r.last_activity > th.stale_seconds)
        stats = sample_stats("healthy", active=len(self.records))
        stats = stats.model_copy(update={"cleanup_stats": stats.cleanup_stats.model_copy(
            update={"stale": stale, "active": len(self.records) - stale})})
        return Snapshot(stats=stats, poll_ms=14.0, response_bytes=2345)


def caption(app) -> str:
    return str(app.query_one("#conn-caption", Static).render())


async def test_cleanup_dialog_counts_what_the_list_under_it_shows(clock: FixedClock) -> None:
    """The registry grows from 2 to 20 stale between the first poll and the stale list: the
    list and the dialog over it say 20 (it said "Stale connections now: 2" over 20)."""
    src = MovingFleet(list(sample_connections(8)))  # 2 stale
    app, _ = build(src, clock)  # a 60 s interval: nothing polls by itself
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        assert app.shown is not None and app.shown.stats.cleanup_stats.stale == 2
        src.records = list(sample_connections(80))  # 20 stale now
        await pilot.press("2")
        table = app.query_one("#conn-table", DataTable)
        table.focus()
        await pilot.press("s")
        await wait_until(pilot, lambda: table.row_count == 20 and "1–20 of 20" in caption(app), what="the stale list")
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, CleanupDialog), what="the dialog")
        count = str(app.screen.query_one("#dialog-count", Static).render())
        assert count == "Stale connections now: 20", count


async def test_a_query_while_paused_shows_stats_and_list_of_one_poll(clock: FixedClock) -> None:
    src = MovingFleet(list(sample_connections(8)))
    app, _ = build(src, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        await pilot.press("p")
        src.records = list(sample_connections(80))
        await pilot.press("2")
        table = app.query_one("#conn-table", DataTable)
        table.focus()
        await pilot.press("s")  # the user asked for another list: it comes with its own counts
        await wait_until(pilot, lambda: table.row_count == 20, what="the stale list")
        assert app.paused and app.shown is not None and app.shown.stats.cleanup_stats.stale == 20
        assert app.shown.page is not None and app.shown.page.total == 20
        assert "Workers (2)" in str(app.query_one("#workers-box").border_title)


def _recording(tmp_path: Path, *, pages: list[bool]) -> Path:
    """Frames as the dashboard records them: a page (the first 50 of 550) only while the
    connections tab was open."""
    path = tmp_path / "rec.jsonl"
    records = sample_connections(550)
    rec = Recorder(path)
    for i, has_page in enumerate(pages):
        snap = sample_snapshot("degraded", active=550)
        if has_page:
            snap = with_page(snap, local_page(records, ConnectionQuery(), T0, Thresholds()))
        rec.write(snap, T0 + 30 * i)
    rec.close()
    return path


async def test_a_replay_says_which_page_of_the_servers_list_it_recorded(clock: FixedClock, tmp_path: Path) -> None:
    replay = ReplaySource(_recording(tmp_path, pages=[True, False, False]))
    app, _ = build(replay, clock, readonly=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        await pilot.press("p", "2")
        table = app.query_one("#conn-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == 50, what="the recorded page")
        text = caption(app)
        assert "1–50 of 50" in text and "page 1 of 11 recorded" in text and "550" in text, text
        assert "before this frame" not in text
        await pilot.press("s")  # filters the recorded page, and says so
        await wait_until(pilot, lambda: "stale only of the 50 recorded" in caption(app), what="the filtered caption")
        recorded = local_page(sample_connections(550), ConnectionQuery(), T0, Thresholds()).connections
        stale = sum(1 for r in recorded if T0 - r.last_activity > Thresholds().stale_seconds)
        assert 0 < stale < 50 and table.row_count == stale and "page 1 of 11 recorded" in caption(app)
        await pilot.press("s", "s", "s", "s", "full_stop", "full_stop")  # frame 3 has no page of its own
        await wait_until(pilot, lambda: replay.position == 2, what="frame 3")
        await wait_until(pilot, lambda: "1m 00s before this frame" in caption(app), what="the page's age said")
        assert "page 1 of 11 recorded" in caption(app)


async def test_a_replay_without_any_page_says_so(clock: FixedClock, tmp_path: Path) -> None:
    replay = ReplaySource(_recording(tmp_path, pages=[False, False]))
    app, _ = build(replay, clock, readonly=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        await pilot.press("p", "2")
        await wait_until(pilot, lambda: "no connections list recorded" in caption(app), what="the reason")


async def connections_table(pilot, app, rows: int) -> tuple[DataTable, Callable[[], list[str]]]:
    """The connections tab shown with its ``rows``; the table and its column labels."""
    await first_poll(pilot, app)
    await pilot.press("2")
    table = app.query_one("#conn-table", DataTable)
    await wait_until(pilot, lambda: table.row_count == rows, what="rows")
    return table, lambda: [c.label.plain for c in table.ordered_columns]


async def test_user_agent_column_appears_when_the_width_allows(clock: FixedClock) -> None:
    app, _ = build(ScriptedSource([sample_snapshot()]), clock)
    async with app.run_test(size=(120, 40)) as pilot:
        table, labels = await connections_table(pilot, app, 12)
        assert labels() == ["client", "channel", "age", "idle", "queue", "worker", "events", "bytes", "connection",
                            "user agent"]
        agents = {str(table.get_row_at(i)[9]) for i in range(table.row_count)}
        assert {"curl/8.5.0", "Mozilla/5.0"} <= agents and any(a.startswith("python-http") for a in agents)
        assert any(a.startswith("Mozilla/5.") and a.endswith("…") for a in agents)  # cut, whole in the detail
        # every column, the user agent's last, within the table: nothing cut by the edge
        assert sum(c.get_render_width(table) for c in table.ordered_columns) <= table.size.width
        await pilot.resize_terminal(80, 24)
        await wait_until(pilot, lambda: "user agent" not in labels(), what="no room at 80 columns")
        assert table.row_count == 12 and labels()[:4] == ["client", "channel", "age", "idle"]
        await pilot.resize_terminal(140, 40)
        await wait_until(pilot, lambda: "user agent" in labels(), what="room again")
        assert table.row_count == 12


async def test_the_user_agent_takes_only_the_room_left(clock: FixedClock) -> None:
    """Real-length worker ids and client addresses: the user agent is shown in what the other
    columns leave (cut with …), or not at all; it never pushes them off the screen."""
    records = [r.model_copy(update={"worker_id": f"web-{i % 3}-42{i % 3}1-a1b2c{i % 3}",
                                    "client_address": f"203.0.113.{i}:5{i:04d}"})
               for i, r in enumerate(sample_connections(12))]
    app, _ = build(ScriptedSource([sample_snapshot()], connections=records), clock)
    async with app.run_test(size=(120, 40)) as pilot:
        table, labels = await connections_table(pilot, app, 12)
        for width, shown in ((120, None), (100, False), (170, True)):
            await pilot.resize_terminal(width, 40)
            await wait_until(pilot, lambda: table.size.width == width - 4, what=f"{width} columns")
            if shown is not None:
                await wait_until(pilot, lambda shown=shown: ("user agent" in labels()) == shown, what=f"{width}: {shown}")
            if "user agent" in labels():
                assert sum(c.get_render_width(table) for c in table.ordered_columns) <= table.size.width, width
            assert table.row_count == 12
