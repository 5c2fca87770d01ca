"""Everything from the wire is data: markup, control characters and very long values in
every field a client, a server or a recording controls are shown literally and crash nothing.

Reproduces issue 11: a client address ``z[/x]`` made the connections tab exit with
MarkupError; ``[link=...]`` rendered as a live hyperlink.
"""

from __future__ import annotations

from rich.text import Text
from textual.content import Content
from textual.widgets import DataTable, Static
from tui_helpers import FixedClock, wait_until

from core.models import Alert, FleetEvent, HealthIndicators, StoreStatus, WorkerInfo
from sse_tui.literal import clean
from sse_tui.model import Snapshot
from sse_tui.samples import T0, ScriptedSource, sample_connections, sample_stats
from sse_tui.sources import SourceError
from sse_tui.widgets.dialogs import ConfirmDialog, ConnectionDetail
from tests.tui.test_app_keys import build, first_poll

CLOSE = "z[/x]"
MISMATCHED = "[bold]x[/italic]"
LINK = "[link=http://evil.example]click me[/link]"
CONTROL = "evil\x1b[31mred\x07\x00end"
LONG = "L" * 5000
HOSTILE = [CLOSE, MISMATCHED, LINK, CONTROL, LONG]


def hostile_records():
    base = sample_connections(len(HOSTILE))
    out = []
    for i, (r, bad) in enumerate(zip(base, HOSTILE, strict=True)):
        out.append(r.model_copy(update={
            "client_address": bad, "channel": bad, "user_agent": bad, "worker_id": f"w{i}{bad}", "host": bad,
            "connection_id": f"id{i}-{bad[:40]}",
        }))
    return out


def hostile_stats():
    s = sample_stats("unhealthy")
    alerts = [Alert(type=f"t{i}{bad[:30]}", message=bad, severity="high") for i, bad in enumerate(HOSTILE)]
    hi = HealthIndicators(overall_health="unhealthy", alerts=alerts, warnings=[])
    workers = [WorkerInfo(worker_id=f"w{i}{bad[:60]}", host=bad, pid=1, connections=1, heartbeat_age_seconds=99,
                          alive=False) for i, bad in enumerate(HOSTILE)]
    events = [FleetEvent(at=T0 - i, type="reap", message=bad, count=1, worker_id=bad) for i, bad in enumerate(HOSTILE)]
    cfg = s.configuration.model_copy(update={"validation_warnings": HOSTILE})
    return s.model_copy(update={
        "service_name": LINK, "health_indicators": hi, "workers": workers, "recent_events": events,
        "configuration": cfg,
    })


def plain_of(widget: Static) -> str:
    rendered = widget.render()
    assert isinstance(rendered, (Content, Text)), type(rendered)
    for span in getattr(rendered, "spans", []):
        assert "link" not in str(span.style), span  # never a live hyperlink
    return rendered.plain


def assert_literal(text: str, value: str) -> None:
    shown = clean(value)
    assert shown in text or shown[:28] in text, (value[:40], text[:300])


async def test_markup_in_every_field_is_literal_everywhere(clock: FixedClock) -> None:
    store_down = sample_stats("store_down").model_copy(update={
        "store_status": StoreStatus(state="unreachable", reason=MISMATCHED + CONTROL, since=T0 - 5)})
    src = ScriptedSource([Snapshot(stats=hostile_stats())],
                         name=f"fixture {CLOSE} {LINK}", connections=hostile_records())
    app, notes = build(src, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        alerts = plain_of(app.query_one("#alerts-body", Static))
        for bad in HOSTILE:
            assert_literal(alerts, bad)
        header = plain_of(app.query_one("#header", Static))
        assert CLOSE in header and LINK in header

        # connections tab: every hostile record in the table, literally
        await pilot.press("2")
        table = app.query_one("#conn-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == len(HOSTILE), what="hostile rows")
        cells = [c for i in range(table.row_count) for c in table.get_row_at(i)]
        assert all(isinstance(c, Text) for c in cells)
        shown = "\n".join(c.plain for c in cells)
        for bad in HOSTILE:
            assert_literal(shown, bad)
        assert "\x1b" not in shown and "\x07" not in shown and "\x00" not in shown
        assert max(len(c.plain) for c in cells) <= 200  # long values cut
        workers = app.query_one("#workers-table", DataTable)
        wcells = "\n".join(c.plain for i in range(workers.row_count) for c in workers.get_row_at(i))
        assert_literal(wcells, CLOSE) and "DEAD" in wcells

        # search with markup (server-side query) and the caption that echoes it
        await pilot.press("slash", *"z[/x]")
        await wait_until(pilot, lambda: table.row_count == 1, what="search for z[/x]")
        assert "z[/x]" in plain_of(app.query_one("#conn-caption", Static))
        await pilot.press("escape")
        await wait_until(pilot, lambda: table.row_count == len(HOSTILE), what="search cleared by Esc")

        # detail view and the disconnect confirmation of the link row
        table.focus()
        await pilot.press("home", "down", "down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConnectionDetail), what="detail")
        body = plain_of(app.screen.query_one("#detail-body", Static))
        assert LINK in body and "[bold]" not in body.replace(MISMATCHED, "")
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm")
        assert LINK[:20] in plain_of(app.screen.query_one("#dialog-body", Static))
        await pilot.press("y")
        await wait_until(pilot, lambda: len(src.disconnects) == 1, what="disconnect sent")
        await wait_until(pilot, lambda: any("disconnected" in n for n, _ in notes), what="notification")

        # channels and configuration tabs
        await pilot.press("3")
        channels = app.query_one("#channels-table", DataTable)
        await wait_until(pilot, lambda: channels.row_count >= 1, what="channels")
        chs = "\n".join(c.plain for i in range(channels.row_count) for c in channels.get_row_at(i))
        assert_literal(chs, CLOSE)
        await pilot.press("4")
        await pilot.pause()
        config = plain_of(app.query_one("#config-panel", Static))
        for bad in HOSTILE:
            assert_literal(config, bad)

        # the banner with a hostile error reason, then a hostile store reason
        src.steps, src.fetches = [SourceError(f"refused {LINK} {CLOSE}")], 0
        await pilot.press("1", "r")
        await wait_until(pilot, lambda: app.state.failures >= 1, what="failure")
        banner = plain_of(app.query_one("#banner", Static))
        assert LINK in banner and CLOSE in banner
        src.steps, src.fetches = [Snapshot(stats=store_down)], 0
        await pilot.press("r")
        await wait_until(pilot, lambda: app.state.failures == 0 and app.state.snapshot.store_down, what="store-down poll")
        banner = plain_of(app.query_one("#banner", Static))
        assert clean(MISMATCHED + CONTROL) in banner
        assert app.is_running
