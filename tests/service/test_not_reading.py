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


def test_a_partial_observation_keeps_the_streams_it_does_not_name() -> None:
    """A queue read hands the watch only the streams with bytes queued now or at the read
    before: every other stream keeps what the last read saw (an empty queue), the unknown
    ones stay unknown, and a stream queued at two reads with nothing acknowledged is stuck."""
    w = QueueWatch(None, "w", not_reading_seconds=lambda: 5.0, read_interval=lambda: 2.5,  # type: ignore[arg-type]
                   fleet_now=time.time)
    w.observe(0, [("a", 100, 0), ("b", 200, 0), ("gone", None, 0)])  # a full read
    w.observe(3, [("a", 150, 4000)], partial=True)  # a queue read: only "a" waits (it took 50 bytes since)
    w.observe(6, [("a", 150, 4000)], partial=True)
    st_a, st_b = w.state("a"), w.state("b")
    assert st_a is not None and st_a.queued == 4000 and st_a.not_reading_for == 3.0, st_a  # stuck since the read at 3
    assert st_b is not None and st_b.queued == 0 and st_b.not_reading is False, st_b
    assert w.state("gone") is None  # still unknown
    w.observe(9, [("a", 150, 4000)], partial=True)
    st_a = w.state("a")
    assert st_a is not None and st_a.not_reading and st_a.not_reading_for == 6.0, st_a
    w.observe(12, [("a", 5000, 0)], partial=True)  # emptied: named once more with an empty queue
    st_a = w.state("a")
    assert st_a is not None and st_a.queued == 0 and not st_a.not_reading, st_a
    assert set(w.view()) == set()  # nothing waits
    w.observe(15, [("b", 200, 900)], partial=True)
    w.observe(18, [], partial=True, ended=["b"])  # queued at the read before, ended since: forgotten
    assert w.state("b") is None and w.state("a") is not None and not w.view()


class _Stream:
    """What the socket watch reads of a stream (a WatchedStream with an id)."""

    def __new__(cls, cid: str):  # a real WatchedStream subclass, made once
        from core.stream_watch import WatchedStream

        class S(WatchedStream):
            __slots__ = ("connection_id", "__weakref__")

            def __init__(self, cid: str) -> None:
                self._watch_init()
                self.connection_id = cid
        return S(cid)


def test_a_queue_read_decodes_only_the_connections_with_bytes_waiting() -> None:
    """Between full reads (every half activity resolution) the socket watch reads the table
    for the queues only (every half SSE_NOT_READING_SECONDS): a connection whose queue is
    empty is passed over (its stream's bytes stay as the last full read saw them); one with
    bytes waiting is decoded and handed to its stream and the queue watch; one emptied since
    is known empty. Real loopback connections: one client stops reading, two read."""
    from core import sockets
    from core.stream_watch import SocketWatch

    class Manager:
        activity_resolution = 30.0
        socket_read_interval = 2.5

        def __init__(self) -> None:
            self.queues = QueueWatch(None, "w", not_reading_seconds=lambda: 5.0,  # type: ignore[arg-type]
                                     read_interval=lambda: 2.5, fleet_now=time.time)

    table = sockets.SocketTable()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    pairs, streams = [], set()
    try:
        for i in range(3):
            client = socket.socket()
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: the window offered
            client.connect(listener.getsockname())
            server, _ = listener.accept()
            server.setblocking(False)
            pairs.append((client, server))
            s = _Stream(f"c{i}")
            assert s.watch_socket({"server": server.getsockname(), "client": server.getpeername()}, table,
                                  False) == "kernel"
            s.track_changes(set(), s.connection_id)
            streams.add(s)
        by_id = {s.connection_id: s for s in streams}
        m, t = Manager(), [0.0]
        watch = SocketWatch(streams, m, clock=lambda: t[0])  # type: ignore[arg-type]

        def move(i: int, n: int) -> None:  # n bytes to client i; the readers take them
            pairs[i][1].send(b"x" * n)
            if i:
                got = 0
                while got < n:
                    got += len(pairs[i][0].recv(65536))

        def flood(i: int) -> None:  # 32 KiB for a 4 KiB receive window: most of it waits for the client
            assert pairs[i][1].send(b"y" * 32768) == 32768

        for i in range(3):
            move(i, 1000)
        assert watch.due() == "full"
        watch.read(full=True)
        assert [by_id[f"c{i}"].bytes_sent for i in range(3)] == [1000, 1000, 1000]
        flood(0)
        for i in (1, 2):
            move(i, 500)
        t[0] += 3.0
        assert watch.due() == "queues"
        watch.read(full=False)
        frozen = by_id["c0"]
        assert frozen._queued > 16_384 and frozen.bytes_sent == 1000 + 32768, (frozen._queued, frozen.bytes_sent)
        assert [by_id[f"c{i}"].bytes_sent for i in (1, 2)] == [1000, 1000]  # passed over: not decoded
        st = m.queues.state("c0")
        assert st is not None and st.queued == frozen._queued
        assert all((x := m.queues.state(f"c{i}")) is not None and x.queued == 0 for i in (1, 2))
        # the frozen client reads it all: its queue empties, and the next queue read knows it
        client0 = pairs[0][0]
        client0.setblocking(False)
        deadline = time.monotonic() + 10
        while table.read([frozen._sock_key]).get(frozen._sock_key, sockets.TcpState(0, 1, 0, 0)).queued:
            assert time.monotonic() < deadline, "the frozen client's queue never emptied"
            with contextlib.suppress(BlockingIOError):
                while client0.recv(1 << 20):
                    pass
        t[0] += 3.0
        watch.read(full=False)
        st = m.queues.state("c0")
        assert frozen._queued == 0 and st is not None and st.queued == 0 and not m.queues.view()
        watch.read(full=True)  # a full read: every stream's bytes as of now
        assert [by_id[f"c{i}"].bytes_sent for i in (1, 2)] == [1500, 1500]
    finally:
        for client, server in pairs:
            client.close()
            server.close()
        listener.close()
