"""The dashboard against the real server code (issue 11 "Done when"): a real redis-server
(tests/conftest.py), real ConnectionManagers, a real worker process killed with SIGKILL,
the embedded demo (uvicorn on loopback) and a real SSE client on a raw socket."""

from __future__ import annotations

import asyncio
import gc
import signal
import time
import warnings

from textual.widgets import DataTable
from tui_helpers import wait_until

from core.config import load_config
from core.manager import ConnectionManager
from core.store.redis import RedisStore
from sse_tui.model import ConnectionQuery
from sse_tui.sources import DemoSource, RedisSource
from sse_tui.widgets.dialogs import ConfirmDialog, ConnectionDetail
from tests.service.conftest import SSEClient
from tests.tui.test_app_keys import build, first_poll, text_of

NEEDLE = "203.0.113.77"


def rows(table: DataTable) -> list[list[str]]:
    return [[c.plain for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_search_finds_one_client_among_2000_through_redis(redis_url, namespace) -> None:
    worker = ConnectionManager(RedisStore(redis_url, namespace), load_config(PERIODIC_CLEANUP_ENABLED=False),
                               worker_id="w-2000")
    await worker.start()
    try:
        for start in range(0, 2000, 250):
            await asyncio.gather(*(
                worker.register(channel=("orders", "prices")[i % 2], client_address=f"10.1.{i // 250}.{i % 250}",
                                user_agent="agent")
                for i in range(start, start + 250)))
        await worker.register(channel="z[/x]", client_address=NEEDLE, user_agent="[link=http://evil.example]x[/link]")
        await worker.flush_touches()
        source = RedisSource(redis_url, namespace)
        app, _ = build(source, time.time)
        try:
            async with app.run_test(size=(120, 40)) as pilot:
                await first_poll(pilot, app, timeout=15)
                await pilot.press("2")
                table = app.query_one("#conn-table", DataTable)
                await wait_until(pilot, lambda: table.row_count == 50, timeout=15, what="first page")
                assert "of 2001" in text_of(app, "#conn-caption")
                await pilot.press("slash", *NEEDLE)
                await wait_until(pilot, lambda: table.row_count == 1, timeout=15, what="the one client")
                found = rows(table)[0]
                assert found[0] == NEEDLE and found[1] == "z[/x]"  # markup from the registry shown literally
                await pilot.press("enter", "enter")  # keep the search, then open the row
                await wait_until(pilot, lambda: isinstance(app.screen, ConnectionDetail), what="detail")
                assert "[link=http://evil.example]x[/link]" in text_of(app.screen, "#detail-body")
                await pilot.press("escape", "escape")
                await wait_until(pilot, lambda: table.row_count == 50, timeout=15, what="search cleared")
                # every page reachable: the last page holds the remainder
                page = app.query_one("#connections-view").page
                assert page.total == 2001
        finally:
            await source.aclose()
    finally:
        await worker.stop()


async def test_a_killed_worker_shows_dead_and_is_reaped_from_the_dashboard(redis_url, namespace, workers) -> None:
    proc = workers(redis_url, namespace)
    await proc.wait_ready()
    client = await SSEClient("127.0.0.1", proc.port).connect()
    await asyncio.wait_for(client.headers_received.wait(), 10)
    source = RedisSource(redis_url, namespace)
    app, notes = build(source, time.time, interval=0.5)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await first_poll(pilot, app, timeout=15)
            await pilot.press("2")
            table = app.query_one("#workers-table", DataTable)

            def states() -> dict[str, str]:
                return {r[1]: r[0] for r in rows(table) if len(r) > 1}

            await wait_until(pilot, lambda: "✔ ALIVE" in states().values(), timeout=15, what="the live worker")
            worker_id = next(w for w, s in states().items() if s == "✔ ALIVE")
            ttl = app.state.snapshot.thresholds.heartbeat_ttl_seconds
            proc.proc.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            await wait_until(pilot, lambda: states().get(worker_id) == "✖ DEAD", timeout=ttl + 15, what="DEAD")
            took = time.monotonic() - killed
            row = next(r for r in rows(table) if r[1] == worker_id)
            assert row[2] == "1"  # its connection count stays visible
            # within the heartbeat TTL + one poll (plus a flush and a busy machine's slack)
            assert took <= ttl + app.interval + 5, took
            table.focus()
            await pilot.press("home", "k")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="reap confirmation")
            await pilot.press("y")
            await wait_until(pilot, lambda: any(f"reaped worker {worker_id}" in n for n, _ in notes), timeout=10,
                             what="reap note")
            page = await source.list_connections(ConnectionQuery())
            assert page.total == 0
            await pilot.press("1")
            await wait_until(pilot, lambda: "REAP" in text_of(app, "#alerts-body"), timeout=10, what="reap event listed")
    finally:
        await client.close()
        await source.aclose()


async def test_one_connection_disconnected_from_the_dashboard_is_gone(monkeypatch) -> None:
    """Through the embedded demo (real uvicorn, real token): gone from the registry and the socket."""
    source = DemoSource(clients=0)
    app, notes = build(source, time.time, interval=0.5)
    client: SSEClient | None = None
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: app.state.polls >= 1 and source.service is not None, timeout=20,
                             what="demo up")
            await wait_until(pilot, lambda: app.auth_state == "ok", timeout=10, what="token accepted at start")
            client = await SSEClient("127.0.0.1", source.service.port).connect()
            await asyncio.wait_for(client.headers_received.wait(), 10)
            await pilot.press("2")
            table = app.query_one("#conn-table", DataTable)
            await wait_until(pilot, lambda: table.row_count == 1, timeout=10, what="the stream listed")
            table.focus()
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, ConnectionDetail), what="detail")
            target = app.screen.record.connection_id
            await pilot.press("d")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirmation")
            await pilot.press("y")
            await wait_until(pilot, lambda: client.closed_by_server.is_set(), timeout=10, what="socket closed")
            await client.close()
            await wait_until(pilot, lambda: any(f"disconnected {target}" in n for n, _ in notes), what="note")
            page = await source.list_connections(ConnectionQuery())
            assert all(r.connection_id != target for r in page.connections)
            await wait_until(pilot, lambda: table.row_count == 0, timeout=10, what="row gone")
    finally:
        if client is not None:
            await client.close()
        await source.aclose()


async def test_demo_starts_once_when_poll_and_auth_check_arrive_together() -> None:
    source = DemoSource(clients=0)
    try:
        snap, auth = await asyncio.gather(source.fetch(), source.check_auth())
        first = source.service
        await source.fetch()
        assert source.service is first and auth == "ok" and snap.stats.store_status.state == "up"
    finally:
        await source.aclose()


async def test_closing_the_source_while_cancelled_calls_unwind_leaves_no_connection_open(redis_url, namespace) -> None:
    """The app cancels its workers at exit without waiting for them, and the CLI (or a test)
    closes the source next: a Redis call still unwinding its cancel must not hand a
    connection back to a pool already closed (never closed then: an unclosed socket at the
    next garbage collection, a failure under ``filterwarnings=error`` in whichever test that
    is). The cancel lands at each of a poll's first steps in turn (before the fix, two or three
    of them left a connection open: steps 1-5)."""
    leaks = []
    for steps in range(8):
        source = RedisSource(redis_url, namespace)
        await source.fetch()  # connected
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            poll = asyncio.ensure_future(source.fetch())
            for _ in range(steps):
                await asyncio.sleep(0)
            poll.cancel()
            await source.aclose()
            await asyncio.wait((poll,))
            gc.collect()
        leaks += [(steps, str(w.message)[:80]) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, leaks
