"""The early frozen signal (issue 27): a client that stops reading is flagged "not reading"
from the kernel's send queue long before it is stale; one that reads slowly but keeps up
is not. Real sockets on a real uvicorn, a real redis-server (the queues are published to
the store and joined to the records by ``/monitoring/connections``), at the default
settings (``SSE_NOT_READING_SECONDS`` 5 s, a 300 s stale threshold, 1 s flushes).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

import pytest

from core.config import load_config
from core.queues import QueueWatch

from .conftest import serve, wait_for
from .sse_compat import fresh_sse_starlette_state  # noqa: F401 - autouse fixture
from .test_frozen_clients import _socket_table_works, frozen_client, steady_route

pytestmark = pytest.mark.skipif(not _socket_table_works(), reason="needs Linux sock_diag (the socket table)")

FLAGGED_WITHIN = 10.0  # seconds, at the default settings (the bound)


async def slow_reader(host: str, port: int, path: str) -> tuple[socket.socket, asyncio.Task[None]]:
    """A client with a small receive buffer that reads 2 KiB every 30 ms: slower than a
    LAN could deliver, faster than the stream (about 41 KB/s): it keeps up."""
    s = await frozen_client(host, port, path)  # the same 2 KiB buffer and request...
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)

    async def read() -> None:
        while True:
            with contextlib.suppress(BlockingIOError):
                if not s.recv(2048):
                    return
            await asyncio.sleep(0.03)
    return s, asyncio.create_task(read())


async def test_a_client_that_stops_reading_is_flagged_within_10s_and_a_slow_reader_never(redis_url, namespace):
    cfg = load_config(REDIS_URL=redis_url, REDIS_NAMESPACE=namespace, LOG_LEVEL="WARNING",
                      MONITORING_CONNECTIONS_PUBLIC=True, PERIODIC_CLEANUP_ENABLED=False)
    assert cfg.NOT_READING_SECONDS == 5.0 and cfg.STALE_CONNECTION_THRESHOLD_SECONDS == 300
    holder: dict = {}
    async with serve(cfg, [steady_route(lambda: holder["m"])]) as s:
        holder["m"] = s.manager
        slow, reading = await slow_reader(s.host, s.port, "/steady")
        frozen = await frozen_client(s.host, s.port, "/steady")
        frozen_at = time.monotonic()
        fport, sport = frozen.getsockname()[1], slow.getsockname()[1]
        try:
            async def page() -> dict:
                r = await s.http.get("/monitoring/connections", params={"sort": "queued", "limit": 10})
                assert r.status_code == 200, r.text
                return r.json()

            def mine(p: dict, port: int) -> dict | None:
                return next((c for c in p["connections"] if c["client_address"].endswith(f":{port}")), None)

            async def flagged():
                p = await page()
                c = mine(p, fport)
                return p if c is not None and c["not_reading"] else None
            p = await wait_for(flagged, FLAGGED_WITHIN + 5, "the frozen client flagged not reading", interval=0.2)
            took = time.monotonic() - frozen_at
            print(f"\nfrozen client flagged not reading {took:.1f}s after it connected (never read)")
            assert took <= FLAGGED_WITHIN, took
            assert p["sort"] == "queued"
            first = p["connections"][0]
            assert first["client_address"].endswith(f":{fport}") and first["queued_bytes"] > 0, p["connections"]
            assert first["not_reading_seconds"] >= cfg.NOT_READING_SECONDS
            assert first["last_activity"] > time.time() - 300  # not stale: the stale threshold is minutes away
            detail = (await s.http.get(f"/monitoring/connections/{first['connection_id']}")).json()["connection"]
            assert detail["not_reading"] is True and detail["queued_bytes"] > 0

            # the slow reader keeps up: its queue is known, it is never flagged (watched 8 s more)
            deadline = time.monotonic() + 8
            seen = 0
            while time.monotonic() < deadline:
                c = mine(await page(), sport)
                assert c is not None and c["queued_bytes"] is not None, c
                assert c["not_reading"] is False, c
                seen += 1
                await asyncio.sleep(0.5)
            assert seen >= 8 and not reading.done()
        finally:
            reading.cancel()
            frozen.close()
            slow.close()


def test_the_queue_watch_rules() -> None:
    """Table of reads (t, acked, queued) -> flag, at 5 s: stuck (bytes wait, nothing
    acknowledged), falling behind (the queue grows at every read past 64 KiB), keeping up."""
    cases = [
        ("stuck from the first read", [(0, 100, 10), (3, 100, 4000), (6, 100, 4000)], True),
        ("stuck, not yet 5 s", [(0, 100, 10), (3, 100, 4000)], False),
        ("acknowledges between reads: keeps up", [(0, 100, 10), (3, 900, 4000), (6, 2000, 4000), (9, 3000, 50)], False),
        ("empty queue", [(0, 100, 0), (3, 100, 0), (6, 100, 0)], False),
        ("grows at every read past 64 KiB", [(0, 0, 70_000), (3, 10, 90_000), (6, 20, 120_000)], True),
        ("grows, but in-flight sized", [(0, 0, 1000), (3, 10, 2000), (6, 20, 3000)], False),
        ("stuck, then reads again", [(0, 100, 10), (3, 100, 4000), (6, 100, 4000), (9, 5000, 10)], False),
    ]
    for name, reads, want in cases:
        w = QueueWatch(None, "w", not_reading_seconds=lambda: 5.0, read_interval=lambda: 2.5,  # type: ignore[arg-type]
                       fleet_now=time.time)
        for t, acked, queued in reads:
            w.observe(t, [("c", acked, queued)])
        st = w.state("c")
        assert st is not None and st.not_reading is want, (name, st)
    w = QueueWatch(None, "w", not_reading_seconds=lambda: 5.0, read_interval=lambda: 2.5,  # type: ignore[arg-type]
                   fleet_now=time.time)
    w.observe(0, [("c", None, 0)])
    assert w.state("c") is None  # its socket not found: unknown, not an empty queue
