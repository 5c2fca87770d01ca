"""The connections table at incident scale (issue 11): search finds one client among 2,000,
paging reaches every row, the cursor stays on its row across refreshes, 80x24 keeps ``?``
and the useful columns, a DEAD worker can be reaped and a connection disconnected."""

from __future__ import annotations

from textual.widgets import DataTable
from textual.widgets._footer import FooterKey
from tui_helpers import FixedClock, wait_until

from sse_tui.samples import ScriptedSource, sample_connections, sample_snapshot
from sse_tui.widgets.dialogs import ConfirmDialog, ConnectionDetail
from tests.tui.test_app_keys import build, first_poll, text_of


def many(n: int = 2000):
    conns = list(sample_connections(n))
    at = min(1234, n - 1)
    needle = conns[at].model_copy(update={"client_address": "203.0.113.77"})
    conns[at] = needle
    return conns, needle


async def _show(pilot, app) -> DataTable:
    await pilot.press("2")
    table = app.query_one("#conn-table", DataTable)
    await wait_until(pilot, lambda: table.row_count > 0, what="rows")
    return table


async def test_search_finds_one_client_among_2000_server_side(clock: FixedClock) -> None:
    conns, needle = many()
    src = ScriptedSource([sample_snapshot()], connections=conns)
    app, _ = build(src, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        table = await _show(pilot, app)
        assert table.row_count == 50 and "of 2000" in text_of(app, "#conn-caption")
        await pilot.press("slash", *"203.0.113.77")
        await wait_until(pilot, lambda: table.row_count == 1, what="the one client")
        assert table.get_row_at(0)[0].plain == "203.0.113.77"
        assert src.queries[-1].q == "203.0.113.77"  # asked of the source, not filtered from 50 rows
        assert "1–1 of 1" in text_of(app, "#conn-caption")
        await pilot.press("escape")
        await wait_until(pilot, lambda: table.row_count == 50, what="Esc clears the search")
        assert src.queries[-1].q == ""


async def test_paging_state_filter_and_sort_reach_every_connection(clock: FixedClock) -> None:
    conns, _ = many(130)
    src = ScriptedSource([sample_snapshot()], connections=conns)
    app, _ = build(src, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        table = await _show(pilot, app)
        table.focus()
        seen: set[str] = set()
        for expected_offset in (0, 50, 100):
            await wait_until(pilot, lambda e=expected_offset: app.query_one("#connections-view").page.offset == e,
                             what=f"offset {expected_offset}")
            seen.update(str(table.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(table.row_count))
            await pilot.press("right_square_bracket")
        assert len(seen) == 130
        await pilot.press("s")  # state: stale only
        await wait_until(pilot, lambda: src.queries[-1].state == "stale", what="stale filter")
        page = app.query_one("#connections-view").page
        await wait_until(pilot, lambda: app.query_one("#connections-view").page.state == "stale", what="stale page")
        page = app.query_one("#connections-view").page
        assert 0 < page.total < 130 and "stale only" in text_of(app, "#conn-caption")
        await pilot.press("o")  # sort: idle, most idle first
        await wait_until(pilot, lambda: app.query_one("#connections-view").page.sort == "idle", what="idle sort")


async def test_cursor_stays_on_its_connection_across_refreshes(clock: FixedClock) -> None:
    src = ScriptedSource([sample_snapshot()])
    app, _ = build(src, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        table = await _show(pilot, app)
        table.focus()
        await pilot.press("down", "down", "down")
        chosen = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        # a record before it disappears: the same connection must stay selected
        src.records = [r for r in src.records if r.connection_id != src.records[0].connection_id]
        n = app.state.polls
        await pilot.press("r")
        await wait_until(pilot, lambda: app.state.polls > n and table.row_count == 11, what="refresh")
        await pilot.pause()
        assert table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value == chosen


async def test_80x24_keeps_help_in_the_footer_and_the_useful_columns(clock: FixedClock) -> None:
    app, _ = build(ScriptedSource([sample_snapshot()]), clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await first_poll(pilot, app)
        await pilot.pause()
        keys = {k.key_display or k.key: k for k in app.screen.query(FooterKey)}
        assert "?" in keys and keys["?"].region.right <= 80 and keys["?"].region.width > 0
        table = await _show(pilot, app)
        visible = [c.label.plain for c in table.ordered_columns]
        assert visible[:4] == ["client", "channel", "age", "idle"]
        x = 0
        for column in table.ordered_columns[:5]:  # client..events fit in 80 columns
            x += column.get_render_width(table)
        assert x <= 78


async def test_disconnect_one_connection_from_the_detail_view(clock: FixedClock) -> None:
    src = ScriptedSource([sample_snapshot()])
    app, notes = build(src, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        table = await _show(pilot, app)
        table.focus()
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConnectionDetail), what="detail")
        target = app.screen.record.connection_id
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirmation")
        await pilot.press("n")  # cancel: nothing happens
        await pilot.pause()
        assert src.disconnects == []
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConnectionDetail), what="detail again")
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirmation again")
        await pilot.press("y")
        await wait_until(pilot, lambda: src.disconnects == [target], what="disconnect")
        await wait_until(pilot, lambda: table.row_count == 11, what="row gone")
        assert any(f"disconnected {target}" in n for n, _ in notes)


async def test_disconnect_refused_when_token_rejected_and_readonly(clock: FixedClock) -> None:
    src = ScriptedSource([sample_snapshot()], auth="rejected")
    app, notes = build(src, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        await wait_until(pilot, lambda: app.auth_state == "rejected", what="auth check at start")
        assert "token rejected: actions disabled" in text_of(app, "#banner")
        table = await _show(pilot, app)
        table.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConnectionDetail), what="detail")
        await pilot.press("d")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmDialog) and src.disconnects == []
        assert any("token rejected" in n for n, _ in notes)
        await pilot.press("escape", "c")
        await pilot.pause()
        assert any(n == "cleanup unavailable: token rejected" for n, _ in notes)


async def test_dead_worker_shows_dead_and_can_be_reaped(clock: FixedClock) -> None:
    src = ScriptedSource([sample_snapshot("dead_worker")])
    app, notes = build(src, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        await pilot.press("2")
        workers = app.query_one("#workers-table", DataTable)
        await wait_until(pilot, lambda: workers.row_count == 3, what="workers")
        first = [c.plain for c in workers.get_row_at(0)]
        assert first[:3] == ["✖ DEAD", "web-3:977", "41"] and first[4] == "no heartbeat for 16s (> 15s)"
        assert first[5] == "unknown"  # its heartbeat hash expired with the TTL: host unknown
        assert "1 DEAD" in str(app.query_one("#workers-box").border_title)
        workers.focus()
        await pilot.press("down", "k")  # an alive worker: nothing to reap
        await pilot.pause()
        assert any("is alive" in n for n, _ in notes) and src.reaps == []
        await pilot.press("up", "k")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="reap confirmation")
        await pilot.press("y")
        await wait_until(pilot, lambda: src.reaps == ["web-3:977"], what="reap")
        await wait_until(pilot, lambda: any("reaped worker web-3:977" in n for n, _ in notes), what="note")
        await pilot.press("1")
        await pilot.pause()
        alerts = text_of(app, "#alerts-body")
        assert "12 cleanups removed 34" in alerts and "DISCONNECT" in alerts  # fleet events listed (a group is one row)
