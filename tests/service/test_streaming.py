"""The tracked stream's lifecycle: registered on open, touched per send, unregistered on every exit."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.routing import Route

from core.streaming import live_stream_count, tracked_event_source

from .conftest import SSEClient, fast_config, open_clients, serve, wait_for
from .sse_compat import fresh_sse_starlette_state  # noqa: F401 - autouse fixture


async def test_stream_is_registered_touched_and_unregistered_when_the_client_leaves():
    async with serve(fast_config(COUNT_EVENTS=True)) as s:
        [c] = await open_clients(s.host, s.port, 1)
        assert s.manager.local_connection_count == 1
        await wait_for(lambda: asyncio.sleep(0, c.events >= 2), 10, "two events")

        async def flushed():
            _p = await s.manager.list_connections("all", 10, 0)
            _total, [rec] = _p.total, _p.connections
            return rec if rec.events_sent >= 2 and rec.bytes_sent > 0 else None
        # the periodic flush sends per-connection counts every counts_interval (published)
        rec = await wait_for(flushed, s.manager.counts_interval + 5, "touches flushed to the store")
        assert rec.user_agent == "test-client" and rec.client_address.startswith("127.0.0.1:")
        assert rec.last_activity > rec.connected_at

        await c.close()
        await wait_for(lambda: asyncio.sleep(0, s.manager.local_connection_count == 0), 5, "unregistered")
        _p = await s.manager.list_connections("all", 10, 0)
        total, _ = _p.total, _p.connections
        assert total == 0 and live_stream_count(s.manager) == 0


async def test_pings_count_as_activity_not_as_events():
    async def quiet(request: Request):
        async def gen():
            await asyncio.Event().wait()
            yield {}
        return tracked_event_source(request, gen(), manager=s.manager, channel="quiet")

    async with serve(fast_config(PING_INTERVAL_SECONDS=0.1, COUNT_EVENTS=True), [Route("/quiet", quiet)]) as s:
        [c] = await open_clients(s.host, s.port, 1, "/quiet")

        async def pinged():
            await s.manager.flush_touches()  # counts go out every counts_interval; force one
            _p = await s.manager.list_connections("all", 10, 0)
            _, [rec] = _p.total, _p.connections
            return rec if rec.bytes_sent > 0 else None
        rec = await wait_for(pinged, 5, "pings recorded")
        assert rec.events_sent == 0 and rec.channel == "quiet"
        await c.close()


async def test_head_request_opens_no_stream_and_registers_nothing():
    async with serve(fast_config()) as s:
        r = await s.http.head("/events")
        assert r.status_code == 200
        _p = await s.manager.list_connections("all", 10, 0)
        total, _ = _p.total, _p.connections
        assert total == 0 and s.manager.local_connection_count == 0


async def test_cleanup_of_a_stale_stream_closes_it_cleanly():
    async def silent(request: Request):
        async def gen():
            yield {"data": "hello"}
            await asyncio.Event().wait()
        return tracked_event_source(request, gen(), manager=s.manager, ping=60)

    cfg = fast_config(STALE_CONNECTION_THRESHOLD_SECONDS=0.3, PERIODIC_CLEANUP_ENABLED=False)
    async with serve(cfg, [Route("/silent", silent)]) as s:
        [c] = await open_clients(s.host, s.port, 1, "/silent")
        await wait_for(lambda: asyncio.sleep(0, c.events == 1), 5, "first event")
        # it goes stale 0.3 s after its last send as the manager saw it (at a flush, so up to
        # one flush interval after the send itself: activity errs on the side of "alive")
        await wait_for(lambda: _stale_count(s), 5, "the silent stream reported stale")
        result = await s.manager.run_cleanup()
        assert result.cleaned == 1 and result.failed == 0
        await asyncio.wait_for(c.closed_by_server.wait(), 5)
        assert c.clean_end, "the chunked body must end with the terminating chunk"
        assert s.manager.local_connection_count == 0
        snap = await s.monitoring()
        assert snap["connection_stats"]["active_connections"] == 0
        assert snap["connection_stats"]["redis_connection_counters"] == 0
        await c.close()


async def _stale_count(s) -> bool:
    return (await s.monitoring())["cleanup_stats"]["stale"] == 1


async def test_max_lifetime_with_jitter_closes_and_unregisters():
    cfg = fast_config(MAX_CONNECTION_LIFETIME_SECONDS=0.5, MAX_CONNECTION_LIFETIME_JITTER_SECONDS=0.3)
    async with serve(cfg) as s:
        clients = await open_clients(s.host, s.port, 5)
        await asyncio.wait_for(asyncio.gather(*(c.closed_by_server.wait() for c in clients)), 5)
        assert all(c.clean_end for c in clients)
        await wait_for(lambda: asyncio.sleep(0, s.manager.local_connection_count == 0), 5, "unregistered")
        _p = await s.manager.list_connections("all", 10, 0)
        total, _ = _p.total, _p.connections
        assert total == 0
        for c in clients:
            await c.close()


async def test_send_timeout_closes_a_client_that_stopped_reading():
    big = "x" * 65536

    async def flood(request: Request):
        async def gen():
            while True:
                yield {"data": big}
        return tracked_event_source(request, gen(), manager=s.manager)

    async with serve(fast_config(SEND_TIMEOUT_SECONDS=0.5), [Route("/flood", flood)]) as s:
        [c] = await open_clients(s.host, s.port, 1, "/flood", read=False)
        await wait_for(lambda: asyncio.sleep(0, s.manager.local_connection_count == 0), 15,
                       "the blocked stream to be closed and unregistered")
        _p = await s.manager.list_connections("all", 10, 0)
        total, _ = _p.total, _p.connections
        assert total == 0
        await c.close()


async def test_generator_error_still_unregisters():
    async def broken(request: Request):
        async def gen():
            yield {"data": "one"}
            raise RuntimeError("boom")
        return tracked_event_source(request, gen(), manager=s.manager)

    async with serve(fast_config(), [Route("/broken", broken)]) as s:
        c = await SSEClient(s.host, s.port, "/broken").connect()
        await asyncio.wait_for(c.closed_by_server.wait(), 5)
        await wait_for(lambda: asyncio.sleep(0, s.manager.local_connection_count == 0), 5, "unregistered")
        _p = await s.manager.list_connections("all", 10, 0)
        total, _ = _p.total, _p.connections
        assert total == 0
        await c.close()
