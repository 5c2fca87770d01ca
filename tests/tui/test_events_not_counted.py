"""A stream whose worker does not count events (SSE_COUNT_EVENTS off, the default) has
``events_sent`` null: the connections table, its events sort, the detail dialog and a
recording say "not counted", never 0 (unknown is not zero)."""

from __future__ import annotations

from textual.widgets import DataTable
from tui_helpers import FixedClock, wait_until

from core.models import EVENTS_NOT_COUNTED
from sse_tui.model import ConnectionQuery, Snapshot, Thresholds
from sse_tui.recording import snapshot_from_json, snapshot_to_json
from sse_tui.samples import T0, ScriptedSource, sample_connections, sample_snapshot, sample_stats
from sse_tui.sources import local_page
from sse_tui.widgets.dialogs import ConnectionDetail
from tests.tui.test_app_keys import build, first_poll, text_of


def uncounted(n: int = 12) -> list:
    """Every other stream from a worker that does not count events."""
    return [r.model_copy(update={"events_sent": None}) if i % 2 == 0 else r
            for i, r in enumerate(sample_connections(n))]


def test_the_reason_comes_with_the_null_and_survives_a_recording() -> None:
    recs = uncounted(4)
    assert recs[0].events_sent is None and recs[0].events_sent_reason == EVENTS_NOT_COUNTED
    assert recs[1].events_sent is not None and recs[1].events_sent_reason is None
    stats = sample_stats("healthy")
    page = local_page(recs, ConnectionQuery(sort="events", order="desc"), T0, Thresholds())
    # sorted by events: the counted ones first, the unknown ones after every count (not as 0)
    assert [r.events_sent for r in page.connections] == [recs[1].events_sent, recs[3].events_sent, None, None]
    back = snapshot_from_json(snapshot_to_json(Snapshot(stats=stats, page=page), T0))
    assert back.page is not None and [r.events_sent for r in back.page.connections] == [
        r.events_sent for r in page.connections]
    assert back.page.connections[-1].events_sent_reason == EVENTS_NOT_COUNTED


async def test_the_table_and_the_detail_say_not_counted_never_zero(clock: FixedClock) -> None:
    src = ScriptedSource([sample_snapshot("healthy")], connections=uncounted())
    app, _ = build(src, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        await pilot.press("2")
        table = app.query_one("#conn-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == 12, what="connections")
        cells = [c.plain for c in table.get_row_at(0)]
        assert cells[6] == "? not counted", cells  # the events column of an uncounted stream
        assert cells[7] != "?"  # its bytes are counted (by the kernel)
        assert [c.plain for c in table.get_row_at(1)][6].split(" ")[0].isdigit()
        table.focus()
        await pilot.press("home", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConnectionDetail), what="detail")
        body = text_of(app.screen, "#detail-body")
        line = next(ln for ln in body.splitlines() if ln.startswith("events sent"))
        assert "? not counted" in line and EVENTS_NOT_COUNTED in line and " 0" not in line, line


def test_the_samples_count_events_as_their_configuration_says() -> None:
    """The sample data (snapshot tests, screenshots/) is what one server sends: its streams'
    events are counted, so its configuration says SSE_COUNT_EVENTS is on, with the answering
    worker's open streams by where their bytes are counted (core.snapshot.configuration_view)."""
    recs = sample_connections()
    assert all(r.events_sent is not None and r.events_sent_reason is None for r in recs)
    for scenario in ("healthy", "late_worker", "store_down", "empty"):
        cfg = sample_stats(scenario).configuration  # type: ignore[arg-type]
        assert cfg.count_events is True and cfg.stream_counting is not None, scenario
        assert cfg.counts_interval_seconds is not None and cfg.activity_resolution_seconds is not None
        workers = sample_stats(scenario).workers  # type: ignore[arg-type]
        own = next((w.connections for w in workers or [] if w.worker_id == "web-1:4211"), None)
        if own is not None:
            assert sum(cfg.stream_counting.values()) == own, (scenario, cfg.stream_counting, own)
    assert sum(sample_stats("empty").configuration.stream_counting.values()) == 0  # type: ignore[union-attr]
    # the one stream behind a proxy (its queue unknown) is web-1's: counted by its ASGI send
    proxied = [r for r in recs if r.queued_bytes is None]
    assert [r.worker_id for r in proxied] == ["web-1:4211"] and sample_stats().configuration.stream_counting == {
        "kernel": 77, "asgi": 1, "other": 0}
