"""What the screen shows in the incidents of issues 21 and 22 (pilot tests, in-memory source):
a worker LATE then DEAD, the registry rebuilding / empty, a connection's counts and their age
in a detail view that refreshes at every poll, and an events list that keeps notable rows."""

from __future__ import annotations

from textual.widgets import DataTable, Static
from tui_helpers import FixedClock, wait_until

from core.models import BlastRadius, CleanupResult, CutClient, FleetEvent
from sse_tui.samples import T0, ScriptedSource, sample_connections, sample_snapshot, sample_stats
from sse_tui.widgets.dialogs import CleanupDialog, ConnectionDetail
from tests.tui.test_app_keys import build, first_poll, text_of
from tests.tui.test_states import greens, zeros


def row(table: DataTable, i: int) -> list[str]:
    return [c.plain for c in table.get_row_at(i)]


async def poll(pilot, app) -> None:
    n = app.state.polls + 1
    app.action_refresh_now()
    await wait_until(pilot, lambda: app.state.polls >= n, what=f"poll {n}")
    await pilot.pause()


async def test_a_late_worker_then_dead_is_said_on_the_workers_tab_and_the_overview(clock: FixedClock) -> None:
    src = ScriptedSource([sample_snapshot("late_worker")], connections=sample_connections(late_worker=True))
    app, notes = build(src, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        assert "3 workers: 1 ▲ LATE (63 conns), 2 alive" in text_of(app, "#conn-body")
        await pilot.press("2")
        workers = app.query_one("#workers-table", DataTable)
        await wait_until(pilot, lambda: workers.row_count == 3, what="workers")
        assert row(workers, 0)[:5] == ["▲ LATE", "web-3:977", "63", "3.2s ago", "heartbeat 3.2s old (> 2s)"]
        assert str(app.query_one("#workers-box").border_title) == "Workers (3) · 1 LATE"  # no reap offer: not dead
        workers.focus()
        await pilot.press("home", "k")
        await wait_until(pilot, lambda: any("is LATE, not dead" in n for n, _ in notes), what="no reap of a late worker")
        assert src.reaps == []
        src.steps.append(sample_snapshot("dead_worker"))  # the worker's heartbeat passed the TTL
        await poll(pilot, app)
        assert row(workers, 0)[:5] == ["✖ DEAD", "web-3:977", "41", "15.6s ago", "no heartbeat for 16s (> 15s)"]
        assert "1 DEAD: select it, k or Enter reaps" in str(app.query_one("#workers-box").border_title)
        await pilot.press("1")
        await pilot.pause()
        assert "3 workers: 1 ✖ DEAD (41 conns), 2 alive" in text_of(app, "#conn-body")
        assert "1 dead worker(s) not yet reaped: web-3:977" in text_of(app, "#alerts-body")


async def test_rebuilding_says_why_shows_question_marks_no_green_then_recovers(clock: FixedClock) -> None:
    src = ScriptedSource([sample_snapshot("rebuilding")])  # (opening a tab polls too: the same step again)
    app, _ = build(src, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        header, banner = text_of(app, "#header"), text_of(app, "#banner")
        assert "? REBUILDING" in header and "✖ UNHEALTHY" in header and "last:" not in header
        assert "the state store lost the fleet's data; 1 of 3 live worker(s) re-registered so far (for 6s)" in banner
        assert "waiting for web-2:4377, web-3:977" in banner and "until every live worker has re-registered" in banner
        for panel in ("#conn-body", "#age-counts"):
            text = text_of(app, panel)
            assert "?" in text and not zeros(text), (panel, text)
        assert "REBUILDING · numbers unknown" in str(app.query_one("#connections-panel").border_subtitle)
        assert "registry rebuilding: rules that need the registry's numbers cannot be judged" in text_of(app, "#alerts-body")
        for tab in ("1", "2", "4"):
            await pilot.press(tab)
            await pilot.pause()
            assert not greens(app.export_screenshot()), tab
        await pilot.press("1")
        src.steps.append(sample_snapshot("healthy"))  # every live worker re-registered: exact numbers, green again
        await poll(pilot, app)
        assert "✔ HEALTHY" in text_of(app, "#header") and "REBUILDING" not in text_of(app, "#header")
        assert not app.query_one("#banner").has_class("-shown")
        assert "150" in text_of(app, "#conn-body")


async def test_an_empty_namespace_is_nothing_to_judge(clock: FixedClock) -> None:
    app, _ = build(ScriptedSource([sample_snapshot("empty")]), clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        assert "? EMPTY" in text_of(app, "#header")
        assert "nothing under this namespace: no worker has registered there" in text_of(app, "#banner")
        assert "no workers listed" in text_of(app, "#conn-body")


async def test_the_detail_refreshes_at_every_poll_and_says_when_it_was_taken(clock: FixedClock) -> None:
    """Opened on a LATE worker's stream: its counts 3 s old, said so; at the next poll the
    worker is dead and the counts newer; the as-of time moves; gone when it left the registry;
    frozen (and aging) while paused."""
    src = ScriptedSource([sample_snapshot("late_worker")], connections=sample_connections(late_worker=True))
    app, notes = build(src, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        await pilot.press("2")
        table = app.query_one("#conn-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == 12, what="connections")
        assert row(table, 1)[5:8] == ["web-3:977", "1100 · 3s ago", "44.0 kB · 3s ago"]  # counts with their age
        assert row(table, 0)[6] == "1200"  # web-2's: current, no age
        table.focus()
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConnectionDetail), what="detail")
        detail = app.screen
        body = text_of(detail, "#detail-body")
        assert "1,100" in body and "(3s old: counted then, not now)" in body and "▲ LATE: heartbeat 3.2s old" in body
        assert "as of 2025-01-20 10:30:00 UTC (0s ago)" in text_of(detail, "#detail-asof")
        # the stream went on; the worker's last counts reached the store before it died
        i = next(i for i, r in enumerate(src.records) if r.connection_id == detail.record.connection_id)
        src.records[i] = src.records[i].model_copy(update={"events_sent": 1234, "bytes_sent": 50_000,
                                                           "counts_at": T0 + 9.5, "last_activity": T0 + 9})
        clock.advance(10)
        src.steps.append(sample_stats("dead_worker", now=T0 + 10))
        await poll(pilot, app)
        await wait_until(pilot, lambda: "1,234" in text_of(detail, "#detail-body"), what="the detail refreshed")
        body = text_of(detail, "#detail-body")
        assert "(0s before this view: current)" in body and "✖ DEAD: no heartbeat for 16s (> 15s)" in body
        assert "as of 2025-01-20 10:30:10 UTC (0s ago)" in text_of(detail, "#detail-asof")
        clock.advance(3)
        app._tick()
        assert "(3s ago)" in text_of(detail, "#detail-asof")
        app.action_toggle_pause()  # paused: frozen, its age keeps moving
        src.records[i] = src.records[i].model_copy(update={"events_sent": 2000})
        await poll(pilot, app)
        assert "1,234" in text_of(detail, "#detail-body")
        app.action_toggle_pause()
        del src.records[i]  # reaped: gone from the registry
        await poll(pilot, app)
        await wait_until(pilot, lambda: "GONE" in text_of(detail, "#detail-body"), what="gone")
        assert "1,234" in text_of(detail, "#detail-body")  # the last fields seen stay
        await pilot.press("d")
        await wait_until(pilot, lambda: any("already gone" in n for n, _ in notes), what="no disconnect of a gone one")
        assert app.screen is detail and src.disconnects == []


DEATH = FleetEvent(at=T0 - 3000, type="death", count=63, worker_id="web-3:977",
                   message="worker web-3:977 died (process 977 gone (seen by web-1:4211 on its host)): 63 stream(s) cut and reaped")


async def test_the_events_list_keeps_a_death_among_many_routine_cleanups(clock: FixedClock) -> None:
    """70 polls, each with a new group of routine cleanups: every group is one row, the list
    stays bounded, and the death stays listed with its sentence and its cause."""
    base = sample_stats("healthy")
    steps = []
    for i in range(70):
        at = T0 - 2900 + 40 * i
        group = FleetEvent(at=at, first_at=at - 30, runs=4, type="cleanup", count=i + 1,
                           message="cleanup removed 1 stale connection(s)")
        steps.append(base.model_copy(update={"recent_events": [group, DEATH]}))
    app, _ = build(ScriptedSource(steps), clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        for _ in range(69):
            await poll(pilot, app)
        text = text_of(app, "#alerts-body")
        assert "worker web-3:977 died: 63 streams cut" in text and "process 977 gone" in text
        assert "4 cleanups removed 70 · " in text  # the newest group, one row
        assert len(app.state.events) <= 60 and sum(e.kind == "death" for e in app.state.events) == 1


def _blast(back: int, open_: bool) -> BlastRadius:
    not_back = [CutClient(client=f"{i:016x}", channel="prices", user_agent=f"Mozilla/5.0 kiosk-{i}", age_seconds=754.0)
                for i in range(63 - back)]
    tail = "; 5 not back" if not open_ else f"; {63 - back} not back yet"
    return BlastRadius(cut=63, back=back, not_back=63 - back, window_seconds=10, open=open_, cut_at=T0 - 3001,
                       median_back_seconds=2.1, not_back_clients=not_back, listed=63,
                       summary=f"63 streams cut; {back} back within 10 s, median 2.1 s{tail}")


async def test_a_death_says_who_came_back_and_names_who_did_not(clock: FixedClock) -> None:
    """The death's row carries the blast radius as it grows (40 back, then 58 of 63 once the
    window is over) and names the clients not back (5 of them, then a count)."""
    base = sample_stats("healthy")
    steps = [base.model_copy(update={"recent_events": [DEATH.model_copy(update={"blast_id": "b1", "blast": b})]})
             for b in (_blast(40, True), _blast(58, False))]
    app, _ = build(ScriptedSource(steps), clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        text = text_of(app, "#alerts-body")
        assert "worker web-3:977 died: 63 streams cut; 40 back within 10 s, median 2.1 s; 23 not back yet" in text
        assert "+18 more not back" in text
        await poll(pilot, app)
        text = text_of(app, "#alerts-body")
        assert "worker web-3:977 died: 63 streams cut; 58 back within 10 s, median 2.1 s; 5 not back" in text
        assert "not back yet" not in text and "more not back" not in text
        assert all(f"not back: Mozilla/5.0 kiosk-{i} · prices · age " in text for i in range(5)), text
        assert "process 977 gone" in text  # the cause stays beneath


async def test_a_cleanup_the_service_skips_says_why_not_cleaned_0(clock: FixedClock) -> None:
    """While the registry rebuilds the service runs no cleanup (CleanupResult.skipped): the
    dialog warns that the count is unknown, and the result says it was skipped and why."""
    skipped = CleanupResult(cleaned=0, failed=0, duration_ms=0.0,
                            skipped="the registry is rebuilding after the state store lost its data")
    src = ScriptedSource([sample_snapshot("rebuilding")], cleanup_result=skipped)
    app, notes = build(src, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, CleanupDialog), what="dialog")
        assert "unknown" in str(app.screen.query_one("#dialog-count", Static).render())
        assert "the registry is rebuilding: counts unknown" in str(app.screen.query_one("#dialog-stale", Static).render())
        await pilot.press("y")
        await wait_until(pilot, lambda: any(n.startswith("cleanup skipped: the registry is rebuilding") for n, _ in notes),
                         what="skipped, with the reason")
        assert not any(n.startswith("cleaned 0") for n, _ in notes)
