"""Clients that stop reading, seen from the kernel's socket table (real sockets, real uvicorn).

A frozen client is a real TCP socket with a tiny receive buffer that is never read: its
kernel stops acknowledging once that buffer is full, so bytes wait in the server's send
queue. The tracked stream's ``progress`` (bytes the client acknowledged) then stops, the
connection goes stale although the server keeps handing it bytes, and cleanup closes
it with a reset instead of leaving megabytes queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

import pytest
from sse_starlette.sse import SendTimeoutError
from starlette.requests import Request
from starlette.routing import Route

from core import sockets
from core.models import EVENTS_NOT_COUNTED
from core.streaming import live_stream_count, tracked_event_source

from .conftest import SSEClient, fast_config, serve, wait_for
from .sse_compat import fresh_sse_starlette_state  # noqa: F401 - autouse fixture


def _socket_table_works() -> bool:
    table = sockets.SocketTable()
    table.read(sockets.keys_for(("127.0.0.1", 1), ("127.0.0.1", 2)))
    return table.available


pytestmark = pytest.mark.skipif(not _socket_table_works(), reason="needs Linux sock_diag (the socket table)")

CHUNK = "x" * 2048


async def frozen_client(host: str, port: int, path: str) -> socket.socket:
    """A client that sends its request and never reads: 2 KiB receive buffer (the kernel
    rounds it up a little), so its TCP window closes after a few KiB."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    s.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(s, (host, port))
    await loop.sock_sendall(s, f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: frozen\r\n\r\n".encode())
    return s


def server_socket(server_port: int, client: socket.socket) -> sockets.TcpState | None:
    """The server side of ``client``'s connection in the kernel's table (None: gone)."""
    keys = sockets.keys_for(("127.0.0.1", server_port), ("127.0.0.1", client.getsockname()[1]))
    return next(iter(sockets.SocketTable().read(keys).values()), None)


async def drain_until_closed(s: socket.socket, timeout: float) -> str:
    """Read what the client's kernel buffered, then the end: 'reset' or 'eof'."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = s.recv(65536)
        except BlockingIOError:
            await asyncio.sleep(0.02)
            continue
        except ConnectionResetError:
            return "reset"
        if not data:
            return "eof"
    raise AssertionError(f"the server did not end the frozen connection within {timeout}s")


def steady_route(get_manager, name: str = "/steady", **kwargs):
    async def steady(request: Request):
        async def gen():
            while True:
                yield {"data": CHUNK}
                await asyncio.sleep(0.05)
        return tracked_event_source(request, gen(), manager=get_manager(), **kwargs)
    return Route(name, steady)


async def test_a_client_that_stops_reading_is_stale_and_closed_by_cleanup():
    cfg = fast_config(STALE_CONNECTION_THRESHOLD_SECONDS=1.5, PING_INTERVAL_SECONDS=0.3,
                      PERIODIC_CLEANUP_ENABLED=False, SEND_TIMEOUT_SECONDS=120)
    holder: dict = {}
    async with serve(cfg, [steady_route(lambda: holder["m"])]) as s:
        holder["m"] = s.manager
        reader = await SSEClient(s.host, s.port, "/steady").connect()
        frozen = await frozen_client(s.host, s.port, "/steady")
        fport = frozen.getsockname()[1]
        try:
            await wait_for(lambda: asyncio.sleep(0, s.manager.local_connection_count == 2), 5, "two streams")

            # bytes pile up in the server's queue for the frozen client
            st = await wait_for(lambda: asyncio.sleep(0, (x := server_socket(s.port, frozen)) and x.queued > 16384 and x),
                                10, "bytes queued for the frozen client")
            assert st.bytes_acked is not None and st.bytes_acked < 16384

            async def stale_page():
                r = await s.http.get("/monitoring/connections", params={"state": "stale"})
                assert r.status_code == 200
                return r.json()
            page = await wait_for(lambda: _only_frozen_stale(stale_page, fport), 10, "the frozen client reported stale")
            assert page["connections"][0]["user_agent"] == "frozen"
            # the reader gets the same events all along and is not stale
            active = (await s.http.get("/monitoring/connections", params={"state": "active"})).json()
            assert [c["user_agent"] for c in active["connections"]] == ["test-client"]
            assert reader.events > 20

            result = await s.manager.run_cleanup()
            assert result.cleaned == 1 and result.failed == 0
            assert await drain_until_closed(frozen, 10) in ("reset", "eof")
            await wait_for(lambda: asyncio.sleep(0, server_socket(s.port, frozen) is None), 5,
                           "the server's socket of the frozen client to be gone")
            assert s.manager.local_connection_count == 1 and live_stream_count(s.manager) == 1
            before = reader.events
            await wait_for(lambda: asyncio.sleep(0, reader.events > before + 5), 5, "the reader still streaming")
        finally:
            frozen.close()
            await reader.close()


async def _only_frozen_stale(stale_page, fport: int):
    page = await stale_page()
    if page["total"] == 1 and page["connections"][0]["client_address"].endswith(f":{fport}"):
        return page
    return None


async def test_send_timeout_aborts_the_connection_and_reraises():
    """A send blocked past ``send_timeout`` raises SendTimeoutError as stock does, and the
    connection is reset instead of kept open with megabytes queued."""
    big = "y" * 65536
    errors: list[BaseException] = []

    async def flood(request: Request):
        async def gen():
            while True:
                yield {"data": big}
        resp = tracked_event_source(request, gen(), manager=s.manager, send_timeout=0.5)

        async def app(scope, receive, send):
            try:
                await resp(scope, receive, send)
            except BaseException as exc:
                errors.append(exc)
                raise
        return app

    async with serve(fast_config(SEND_TIMEOUT_SECONDS=120), [Route("/flood", flood)]) as s:
        frozen = await frozen_client(s.host, s.port, "/flood")
        try:
            await wait_for(lambda: asyncio.sleep(0, bool(errors)), 10, "the send timeout")
            exc = errors[0]  # bare, or in an ExceptionGroup before sse-starlette 3.4 (as stock raises it)
            assert isinstance(exc, SendTimeoutError) or (
                isinstance(exc, BaseExceptionGroup) and exc.subgroup(SendTimeoutError) is not None), repr(exc)
            await wait_for(lambda: asyncio.sleep(0, server_socket(s.port, frozen) is None), 5,
                           "the server's socket to be gone (reset)")
            assert await drain_until_closed(frozen, 5) == "reset"
            await wait_for(lambda: asyncio.sleep(0, s.manager.local_connection_count == 0), 5, "unregistered")
            total = (await s.manager.list_connections("all", 10, 0)).total
            assert total == 0 and live_stream_count(s.manager) == 0
        finally:
            with contextlib.suppress(OSError):
                frozen.close()


class CountingClient:
    """A raw socket client that counts every byte its socket received (the response head,
    the chunk framing and the bodies) and the chunks' payload bytes apart."""

    def __init__(self, host: str, port: int, path: str, extra: str = "") -> None:
        self.host, self.port, self.path, self.extra = host, port, path, extra
        self.received = 0
        self.payload = 0
        self.events = 0
        self.task: asyncio.Task[None] | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> "CountingClient":
        reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(f"GET {self.path} HTTP/1.1\r\nHost: x\r\n{self.extra}\r\n".encode())
        self.task = asyncio.create_task(self._run(reader))
        return self

    async def _run(self, reader: asyncio.StreamReader) -> None:
        buf = b""
        while data := await reader.read(65536):
            self.received += len(data)
            buf += data
            if b"\r\n\r\n" not in buf:
                continue
            head, _, body = buf.partition(b"\r\n\r\n")
            while (i := body.find(b"\r\n")) >= 0:  # the chunked body: size line, payload, CRLF
                size = int(body[:i], 16)
                if len(body) < i + 2 + size + 2:
                    break
                chunk = body[i + 2:i + 2 + size]
                self.payload += size
                self.events += chunk.count(b"data:")
                body = body[i + 2 + size + 2:]
            buf = head + b"\r\n\r\n" + body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task


def burst_route(get_manager, n: int):
    """n events, then silence (no pings within the test): the counts settle."""
    async def burst(request: Request):
        async def gen():
            for i in range(n):
                yield {"data": f"{i}:{CHUNK}"}
            await asyncio.Event().wait()
        return tracked_event_source(request, gen(), manager=get_manager(), ping=600)
    return Route("/burst", burst)


@pytest.mark.parametrize("count_events", [True, False])
async def test_connection_bytes_and_progress_are_what_the_client_socket_received(count_events):
    """Kernel counting: a connection's bytes in /monitoring/connections, and the progress
    liveness is judged by, equal the bytes the client's socket received (the response
    head and the chunk framing included). With SSE_COUNT_EVENTS the events are counted
    too (a send wrapper); without it the server's own send is used and events are unknown
    (null with the reason in the API, the pod's events counter left out of /metrics)."""
    holder: dict = {}
    cfg = fast_config(COUNT_EVENTS=count_events, ACTIVITY_RESOLUTION_SECONDS=0)
    async with serve(cfg, [burst_route(lambda: holder["m"], 40)]) as s:
        holder["m"] = s.manager
        client = await CountingClient(s.host, s.port, "/burst").connect()
        try:
            await wait_for(lambda: asyncio.sleep(0, client.events == 40), 5, "40 events received")
            [stream] = list(_streams(s.manager))
            assert stream.counting == "kernel" and stream._observed is count_events

            async def listed():
                await s.manager.flush_touches()
                r = (await s.http.get("/monitoring/connections")).json()
                [rec] = r["connections"]
                return rec if rec["bytes_sent"] == client.received and stream.progress == client.received else None
            rec = await wait_for(listed, 5, f"bytes and progress = the {client.received} bytes the client received")
            # not counted: unknown with its reason, never 0
            assert rec["events_sent"] == (40 if count_events else None)
            assert rec["events_sent_reason"] == (None if count_events else EVENTS_NOT_COUNTED)
            assert client.received > client.payload > 40 * len(CHUNK)  # the head and framing are counted
            conf = (await s.monitoring())["configuration"]
            assert conf["count_events"] is count_events
            assert conf["stream_counting"] == {"kernel": 1, "asgi": 0, "other": 0}
        finally:
            await client.close()
        await wait_for(lambda: asyncio.sleep(0, s.manager.local_connection_count == 0), 5, "unregistered")
        pod = s.manager.registry.local.pod_stats()
        assert pod.bytes_sent == client.received  # the final kernel figures went into the process's totals
        assert pod.events_sent == (40 if count_events else None)  # a total of unknowns is unknown
        metrics = (await s.http.get("/metrics")).text
        assert ("sse_pod_events_sent_total" in metrics) is count_events, metrics


@pytest.mark.parametrize("how", ["close_tracked_streams", "cleanup"])
async def test_without_a_send_wrapper_a_stream_closed_by_tracking_still_ends_cleanly(how):
    """SSE_COUNT_EVENTS off: nothing of ours sees the messages, so the end of the body is
    not known to us; a stream tracking closes still ends with the terminating chunk (sent
    by stock, or by us when stock does not), exactly once."""
    holder: dict = {}
    cfg = fast_config(COUNT_EVENTS=False, STALE_CONNECTION_THRESHOLD_SECONDS=1.5, PING_INTERVAL_SECONDS=600,
                      PERIODIC_CLEANUP_ENABLED=how == "cleanup", ACTIVITY_RESOLUTION_SECONDS=0)
    async with serve(cfg, [burst_route(lambda: holder["m"], 3)]) as s:
        holder["m"] = s.manager
        client = await SSEClient(s.host, s.port, "/burst").connect()
        try:
            await wait_for(lambda: asyncio.sleep(0, client.events == 3), 5, "three events")
            [stream] = list(_streams(s.manager))
            assert stream.counting == "kernel" and not stream._observed
            if how == "close_tracked_streams":
                from core.streaming import close_tracked_streams
                assert await close_tracked_streams(s.manager) == 1
            await asyncio.wait_for(client.closed_by_server.wait(), 10)
            assert client.clean_end
            await wait_for(lambda: asyncio.sleep(0, s.manager.local_connection_count == 0), 5, "unregistered")
        finally:
            await client.close()


async def test_a_socket_the_kernel_cannot_name_is_counted_by_the_send_wrapper():
    """Behind a proxy that rewrites the client address (X-Forwarded-For, trusted from
    loopback by uvicorn's defaults) the kernel's table has no such connection: the send
    wrapper counts the body bytes and events, and progress is the bytes handed over."""
    holder: dict = {}
    async with serve(fast_config(COUNT_EVENTS=False, ACTIVITY_RESOLUTION_SECONDS=0),
                     [burst_route(lambda: holder["m"], 40)]) as s:
        holder["m"] = s.manager
        client = await CountingClient(s.host, s.port, "/burst", "X-Forwarded-For: 203.0.113.9\r\n").connect()
        try:
            await wait_for(lambda: asyncio.sleep(0, client.events == 40), 5, "40 events received")
            [stream] = list(_streams(s.manager))
            assert stream.counting == "asgi" and stream._observed

            async def listed():
                await s.manager.flush_touches()
                [rec] = (await s.http.get("/monitoring/connections")).json()["connections"]
                return rec if rec["bytes_sent"] == client.payload else None
            rec = await wait_for(listed, 5, f"bytes = the {client.payload} payload bytes the client received")
            assert rec["events_sent"] == 40 and rec["client_address"].startswith("203.0.113.9")
            assert stream._acked is None and stream.progress == client.payload
            assert (await s.monitoring())["configuration"]["stream_counting"] == {"kernel": 0, "asgi": 1, "other": 0}
        finally:
            await client.close()


def _streams(manager):
    from core.stream_watch import live_streams
    return live_streams(manager)


def test_socket_table_filters_by_port_and_matches_every_address_spelling():
    """Real sockets on three ports (IPv4 and dual-stack): a read for two of them returns
    exactly their connections, and the kernel accepted the request (a rejected port
    filter would switch the table off)."""
    listeners, conns, keys = [], [], {}
    try:
        for fam, bind, host in ((socket.AF_INET, "127.0.0.1", "127.0.0.1"), (socket.AF_INET6, "::", "127.0.0.1"),
                                (socket.AF_INET, "127.0.0.1", "127.0.0.1")):
            srv = socket.socket(fam)
            srv.bind((bind, 0))
            srv.listen()
            listeners.append(srv)
            c = socket.create_connection((host, srv.getsockname()[1]))
            a, addr = srv.accept()
            a.sendall(b"x" * 100)
            conns += [c, a]
            keys[srv.getsockname()[1]] = sockets.keys_for((addr[0], srv.getsockname()[1]), addr[:2])
        wanted_ports = list(keys)[:2]
        table = sockets.SocketTable()
        got = table.read({k for p in wanted_ports for k in keys[p]})
        assert table.available
        assert sorted(int.from_bytes(k[:2], "big") for k in got) == sorted(wanted_ports)
        assert all(st.inode and st.bytes_acked is not None for st in got.values())
    finally:
        for s in conns + listeners:
            s.close()


def test_ping_frames_are_told_from_events_by_their_framing():
    from core.streaming import is_ping_frame
    assert is_ping_frame(b": ping - 2026-11-27 18:00:00.000000+00:00\r\n\r\n")
    assert is_ping_frame(b": one\n: two\n\n")
    assert not is_ping_frame(b"data: hello\r\n\r\n")
    assert not is_ping_frame(b": note\r\ndata: carried\r\n\r\n")  # a comment on an event: an event
    assert not is_ping_frame(b"event: tick\r\n\r\n") and not is_ping_frame(b"")


def test_the_socket_table_is_read_at_most_every_half_activity_resolution():
    """One dump with thousands of streams costs milliseconds: the watch reads it again only
    after half the activity resolution (the store keeps activity only to within it), or
    half of SSE_NOT_READING_SECONDS when that is shorter (issue 27: a client that stops
    reading is flagged within about that): ``ConnectionManager.socket_read_interval``."""
    from core.manager import ConnectionManager
    from core.streaming import _SocketWatch

    class Manager:  # what the watch asks of its manager: the resolution and the not-reading time
        activity_resolution = 30.0
        config = fast_config(NOT_READING_SECONDS=60.0)
        socket_read_interval = ConnectionManager.socket_read_interval

    m, t = Manager(), [1000.0]
    watch = _SocketWatch(set(), m, clock=lambda: t[0])  # type: ignore[arg-type]
    assert watch.due() == "full"  # the first flush reads
    t[0] += 14.9
    assert watch.due() is None
    t[0] += 0.1  # 15 s: half of 30
    assert watch.due() == "full"
    t[0] -= 100.0  # a clock that went back (the default is monotonic): read, do not wait for it
    assert watch.due() == "full"
    # the default: every 2.5 s for the queues (half of 5 s), whole every 15 s
    m.config = fast_config(NOT_READING_SECONDS=5.0)
    t[0] += 2.4
    assert watch.due() is None
    kinds = []
    for _ in range(12):  # a flush a second for 12 s
        t[0] += 1.0
        kinds.append(watch.due())
    assert kinds == ["queues", None, None] * 4, kinds  # (at 3.4 s, then every third flush)
    t[0] += 2.6  # 15 s since the last full read
    assert watch.due() == "full"
    t[0] += 3.0
    assert watch.due() == "queues"
    t[0] += 15.0
    assert watch.due() == "full"  # half the resolution since the last full read: whole again
    m.activity_resolution = 0.0  # resolution 0: every flush, whole
    assert watch.due() == "full" and watch.due() == "full"


async def test_a_frozen_client_between_events_is_reset_by_cleanup_without_reading():
    """A client that takes nothing while the stream waits for its next event (the server's
    transport not write-paused: the bytes sit in the kernel's queue). Cleanup must reset it
    at once: a goodbye (ours, or stock's closing body from sse-starlette 3.7.1) would only
    queue behind bytes the client never takes, and the socket would outlive the stream.
    Nothing here reads the frozen socket until the server's side of it is gone."""
    cfg = fast_config(STALE_CONNECTION_THRESHOLD_SECONDS=1.5, PING_INTERVAL_SECONDS=0.3,
                      PERIODIC_CLEANUP_ENABLED=False, SEND_TIMEOUT_SECONDS=120)
    holder: dict = {}

    async def burst(request: Request):
        async def gen():
            for _ in range(16):  # 32 KiB: more than the client's window, far less than a paused transport
                yield {"data": CHUNK}
            await asyncio.Event().wait()  # then only pings
            yield {}
        return tracked_event_source(request, gen(), manager=holder["m"])

    async with serve(cfg, [Route("/burst", burst)]) as s:
        holder["m"] = s.manager
        frozen = await frozen_client(s.host, s.port, "/burst")
        try:
            await wait_for(lambda: asyncio.sleep(0, (x := server_socket(s.port, frozen)) and x.queued > 4096 and x),
                           10, "bytes queued for the frozen client")

            async def stale():
                r = await s.http.get("/monitoring/connections", params={"state": "stale"})
                return r.json()["total"] == 1
            await wait_for(stale, 10, "the frozen client reported stale")
            result = await s.manager.run_cleanup()
            assert result.cleaned == 1 and result.failed == 0
            await wait_for(lambda: asyncio.sleep(0, server_socket(s.port, frozen) is None), 5,
                           "the server's socket of the frozen client to be gone, the client never reading")
            await wait_for(lambda: asyncio.sleep(0, live_stream_count(s.manager) == 0), 5, "the stream to end")
            assert await drain_until_closed(frozen, 5) == "reset"
        finally:
            frozen.close()
