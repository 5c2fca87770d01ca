"""The lifecycle every tracked stream goes through, on three frameworks that know nothing of
sse-dash (Django's StreamingHttpResponse, Litestar's ServerSentEvent, Starlette's
StreamingResponse) behind core.middleware.SSETrackingMiddleware: real uvicorn processes,
real sockets, the suite's real redis-server. Counts are exact at every step (the registry,
the Redis counter, the listing and the process's own table all agree)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time

import pytest

from core.config import load_config
from core.store.base import AgeQuery
from core.store.redis import RedisStore
from tests.service.conftest import close_clients, wait_for
from tests.service.test_frozen_clients import _socket_table_works, drain_until_closed, frozen_client, server_socket

from .conftest import STALE, FrameworkService, vanish

pytestmark = pytest.mark.timeout(90)


async def test_open_count_vanish_and_cleanup(service: FrameworkService):
    s = service
    # a plain route: passed through, nothing registered
    r = await s.http.get("/json")
    assert r.status_code == 200 and r.json() == {"ok": True}
    assert await s.exactly(0) and await s.metric("sse_pod_connections_opened_total") == 0

    clients = [await s.client().connect() for _ in range(4)]
    try:
        await asyncio.wait_for(asyncio.gather(*(c.headers_received.wait() for c in clients)), 10)
        await wait_for(lambda: s.exactly(4), 10, "4 streams everywhere")
        page = await s.connections()
        assert {c["channel"] for c in page["connections"]} == {"/events"}
        assert {c["user_agent"] for c in page["connections"]} == {"test-client"}
        assert await s.metric("sse_pod_connections_opened_total") == 4

        # events reach the clients and are counted as events; pings are not
        await wait_for(lambda: asyncio.sleep(0, all(c.events >= 5 for c in clients)), 10, "events at every client")

        async def counted():
            page = await s.connections()
            return all(c["events_sent"] >= 5 and c["bytes_sent"] > 0 for c in page["connections"])
        await wait_for(counted, 10, "events counted on every connection")

        # two clients vanish (RST, no goodbye): unregistered as client_gone, the others untouched
        vanish(clients[0])
        vanish(clients[1])
        await wait_for(lambda: s.exactly(2), 10, "2 streams left after two clients vanished")
        assert (await _closed_by_reason(s)) == {"client_gone": 2}
        before = clients[2].events
        await wait_for(lambda: asyncio.sleep(0, clients[2].events > before + 2), 5, "the others still streaming")

        # the last two leave politely
        await close_clients(clients[2:])
        await wait_for(lambda: s.exactly(0), 10, "no stream left")
        assert await s.metric("sse_pod_connections_opened_total") == 4
        closed = await _closed_by_reason(s)
        assert closed.get("client_gone") == 4, closed
    finally:
        await close_clients(clients)


async def _closed_by_reason(s: FrameworkService) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in (await s.http.get("/metrics")).text.splitlines():
        if line.startswith("sse_pod_connections_closed_total{"):
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            out[reason] = float(line.split()[-1])
    return {k: v for k, v in out.items() if v}


async def test_an_app_error_mid_stream_unregisters_it(service: FrameworkService):
    s = service
    c = await s.client("/boom").connect()
    try:
        await asyncio.wait_for(c.closed_by_server.wait(), 10)
        await wait_for(lambda: s.exactly(0), 10, "the failed stream unregistered")
        assert await s.metric("sse_pod_connections_opened_total") == 1
        closed = await _closed_by_reason(s)
        assert sum(closed.values()) == 1, closed
    finally:
        await c.close()


async def test_disconnect_from_the_api_closes_the_stream(service: FrameworkService):
    s = service
    keep, gone = await s.client().connect(), await s.client().connect()
    try:
        await wait_for(lambda: s.exactly(2), 10, "2 streams")
        await wait_for(lambda: asyncio.sleep(0, gone.events >= 2), 10, "events")
        port = gone._writer.get_extra_info("sockname")[1]  # type: ignore[union-attr]
        [target] = [c for c in (await s.connections())["connections"] if c["client_address"].endswith(f":{port}")]
        t0 = time.monotonic()
        r = await s.http.delete(f"/monitoring/connections/{target['connection_id']}", headers=s.auth)
        assert r.status_code == 200, r.text
        await asyncio.wait_for(gone.closed_by_server.wait(), 5)
        took = time.monotonic() - t0
        assert gone.clean_end, "the body should end with the terminating chunk (the client reconnects)"
        assert took < 3, f"closed {took:.2f}s after the disconnect"
        await wait_for(lambda: s.exactly(1), 10, "1 stream left")
        assert (await s.connections())["connections"][0]["connection_id"] != target["connection_id"]
        before = keep.events
        await wait_for(lambda: asyncio.sleep(0, keep.events > before + 2), 5, "the other still streaming")
        assert (await _closed_by_reason(s)).get("operator") == 1
    finally:
        await close_clients([keep, gone])


@pytest.mark.skipif(not _socket_table_works(), reason="needs Linux sock_diag (the socket table)")
async def test_a_frozen_client_is_detected_and_reset_by_cleanup(service: FrameworkService):
    s = service
    reader = await s.client("/steady").connect()
    frozen = await frozen_client(s.host, s.port, "/steady")
    fport = frozen.getsockname()[1]
    try:
        await wait_for(lambda: s.exactly(2), 10, "2 streams")
        await wait_for(lambda: asyncio.sleep(0, (x := server_socket(s.port, frozen)) is not None and x.queued > 16384),
                       10, "bytes queued for the frozen client")

        async def only_frozen_stale():
            page = await s.connections(state="stale")
            return page["total"] == 1 and page["connections"][0]["client_address"].endswith(f":{fport}") and page
        page = await wait_for(only_frozen_stale, 4 * STALE + 5, "the frozen client reported stale, the reader not")
        assert page["connections"][0]["user_agent"] == "frozen"
        active = await s.connections(state="active")
        assert [c["user_agent"] for c in active["connections"]] == ["test-client"]
        assert reader.events > 20

        r = await s.http.post("/monitoring/cleanup", headers=s.auth)
        assert r.status_code == 200, r.text
        assert r.json()["cleaned"] == 1 and r.json()["failed"] == 0
        assert await drain_until_closed(frozen, 10) in ("reset", "eof")
        await wait_for(lambda: asyncio.sleep(0, server_socket(s.port, frozen) is None), 5,
                       "the server's socket of the frozen client gone")
        await wait_for(lambda: s.exactly(1), 10, "the reader alone")
        before = reader.events
        await wait_for(lambda: asyncio.sleep(0, reader.events > before + 5), 5, "the reader still streaming")
    finally:
        frozen.close()
        await reader.close()


async def test_sigterm_drains_the_streams_and_leaves_nothing(service: FrameworkService, redis_url: str, namespace: str):
    s = service
    clients = [await s.client().connect() for _ in range(3)]
    store = RedisStore(redis_url, namespace)
    await store.start()
    try:
        await wait_for(lambda: s.exactly(3), 10, "3 streams")
        pid = s.proc.proc.pid
        t0 = time.monotonic()
        s.proc.proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(asyncio.gather(*(c.closed_by_server.wait() for c in clients)), 10)
        closed_after = time.monotonic() - t0
        code = await asyncio.to_thread(s.proc.proc.wait, 15)
        took = time.monotonic() - t0
        assert code in (0, -signal.SIGTERM), s.proc.output()[-3000:]
        # faster than uvicorn's graceful timeout (5 s here), which would cancel them otherwise
        assert closed_after < 3 and took < 4.5, f"streams closed after {closed_after:.1f}s, exit after {took:.1f}s"
        assert all(c.clean_end for c in clients), "each stream should end with the terminating chunk"
        cfg = load_config()
        q = AgeQuery(now=time.time(), stale_threshold=cfg.STALE_CONNECTION_THRESHOLD_SECONDS,
                     long_lived=cfg.LONG_LIVED_SECONDS, very_old=cfg.VERY_OLD_SECONDS)
        page = await store.list_connections("all", q, 100, 0)
        assert page.total == 0 and [r for r in page.records if r.pid == pid] == []
        assert (await store.census(q)).counter == 0
        assert [w for w in await store.workers() if w.pid == pid] == []
        assert "Traceback" not in s.proc.output(), s.proc.output()[-3000:]
    finally:
        await store.close()
        with contextlib.suppress(Exception):
            await close_clients(clients)


async def test_without_lifespan_the_manager_starts_on_first_request_and_stops_on_sigterm(
        service_env: dict[str, str], redis_url: str, namespace: str, tmp_path):
    """``uvicorn --lifespan off`` (as Daphne, which has none): started by the first request;
    on SIGTERM the streams are drained and the worker leaves the store."""
    from tests.integration.service_process import ServiceProcess

    proc = ServiceProcess("tests.frameworks.app_starlette:app", tmp_path / "nolifespan.log", env=service_env,
                          extra_args=["--log-level", "warning", "--lifespan", "off"])
    store = RedisStore(redis_url, namespace)
    await store.start()
    clients = []
    try:
        proc.wait_http("/json", timeout=60)
        cfg = load_config()
        q = AgeQuery(now=time.time(), stale_threshold=cfg.STALE_CONNECTION_THRESHOLD_SECONDS,
                     long_lived=cfg.LONG_LIVED_SECONDS, very_old=cfg.VERY_OLD_SECONDS)
        await wait_for(lambda: _has_worker(store, proc.proc.pid), 10, "the worker registered on the first request")
        s = FrameworkService("starlette", proc)
        clients = [await s.client().connect() for _ in range(2)]
        await wait_for(lambda: s.exactly(2), 10, "2 streams")
        await s.http.aclose()
        proc.proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(asyncio.gather(*(c.closed_by_server.wait() for c in clients)), 10)
        assert await asyncio.to_thread(proc.proc.wait, 15) in (0, -signal.SIGTERM)
        assert (await store.census(q)).counter == 0 and (await store.list_connections("all", q, 10, 0)).total == 0
        assert not await _has_worker(store, proc.proc.pid), "the worker should have left the store"
    finally:
        await store.close()
        await close_clients(clients)
        proc.stop()


async def _has_worker(store: RedisStore, pid: int) -> bool:
    return any(w.pid == pid for w in await store.workers())
