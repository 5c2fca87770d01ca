"""core.middleware in-process on a real uvicorn (loopback, real sockets): what passes
through untouched, what is tracked, how a stream is closed when its app does not listen,
and the lifespan around an app's own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from core.demo import serve_app, stop_server
from core.manager import ConnectionManager
from core.middleware import SSETrackingMiddleware, with_monitoring
from core.store.memory import MemoryStore
from core.streaming import close_tracked_streams, live_stream_count
from tests.service.conftest import SSEClient, fast_config, wait_for

from .common import frames


async def _raw(port: int, request: bytes, *, headers_only: bool = False) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    read = reader.readuntil(b"\r\n\r\n") if headers_only else reader.read()
    data = await asyncio.wait_for(read, 10)
    writer.close()
    return data


def _without_date(raw: bytes) -> bytes:
    return b"\r\n".join(line for line in raw.split(b"\r\n") if not line.lower().startswith(b"date:"))


@contextlib.asynccontextmanager
async def served(app: Any) -> AsyncIterator[int]:
    server, task, port = await serve_app(app, "127.0.0.1", 0)
    try:
        yield port
    finally:
        await stop_server(server, task)


def _inner() -> Starlette:
    async def events(request: Request) -> StreamingResponse:
        return StreamingResponse(frames(0.05), media_type="text/event-stream")

    async def json_route(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "items": list(range(50))}, headers={"X-Own": "kept"})

    return Starlette(routes=[Route("/events", events, methods=["GET", "HEAD"]), Route("/other/events", events),
                             Route("/events/room", events), Route("/eventsx", events), Route("/json", json_route)])


async def test_other_responses_pass_through_byte_for_byte_and_register_nothing():
    manager = ConnectionManager(MemoryStore(), fast_config())
    inner = _inner()
    async with served(inner) as plain_port, served(SSETrackingMiddleware(inner, manager)) as port:
        request = b"GET /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        assert _without_date(await _raw(port, request)) == _without_date(await _raw(plain_port, request))
        head = b"HEAD /events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        assert b"text/event-stream" in await _raw(port, head, headers_only=True)  # a HEAD of a stream: no stream, not tracked
        assert manager.pod_stats().opened == 0 and live_stream_count(manager) == 0
    await manager.stop()


async def test_channel_function_and_paths():
    manager = ConnectionManager(MemoryStore(), fast_config())
    app = SSETrackingMiddleware(_inner(), manager, paths=["/events"],
                                channel=lambda scope: "chan:" + scope["path"].strip("/"))
    async with served(app) as port:
        tracked, untracked = SSEClient("127.0.0.1", port, "/events"), SSEClient("127.0.0.1", port, "/other/events")
        await tracked.connect()
        await untracked.connect()
        try:
            await wait_for(lambda: asyncio.sleep(0, tracked.events >= 3 and untracked.events >= 3), 10, "events")
            page = await manager.list_connections()
            assert page.total == 1 and page.connections[0].channel == "chan:events"
        finally:
            await tracked.close()
            await untracked.close()
        await wait_for(lambda: asyncio.sleep(0, manager.local_connection_count == 0), 5, "unregistered")
    await manager.stop()


async def test_paths_take_in_a_path_and_what_is_under_it_not_a_sibling_that_shares_its_prefix():
    manager = ConnectionManager(MemoryStore(), fast_config())
    app = SSETrackingMiddleware(_inner(), manager, paths=["/events/"])  # a trailing slash means the same
    async with served(app) as port:
        clients = [SSEClient("127.0.0.1", port, p) for p in ("/events", "/events/room", "/eventsx", "/other/events")]
        for c in clients:
            await c.connect()
        try:
            await wait_for(lambda: asyncio.sleep(0, all(c.events >= 3 for c in clients)), 10, "events")
            page = await manager.list_connections()
            assert sorted(c.channel for c in page.connections) == ["/events", "/events/room"]
        finally:
            for c in clients:
                await c.close()
        await wait_for(lambda: asyncio.sleep(0, manager.local_connection_count == 0), 5, "unregistered")
    await manager.stop()


async def test_a_stream_whose_app_never_listens_is_ended_by_cancellation():
    """A raw ASGI app that never calls receive() (nothing would tell it of a disconnect):
    close() cancels its task; the body still ends with the terminating chunk."""
    manager = ConnectionManager(MemoryStore(), fast_config(PING_INTERVAL_SECONDS=0.2))
    cancelled: list[bool] = []

    async def deaf(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return  # no lifespan here: the middleware answers it
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"Content-Type", b"text/event-stream; charset=utf-8")]})
        try:
            n = 0
            while True:
                n += 1
                await send({"type": "http.response.body", "body": f"data: {n}\n\n".encode(), "more_body": True})
                await asyncio.sleep(0.1)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    mw = SSETrackingMiddleware(deaf, manager)
    async with served(mw) as port:
        c = await SSEClient("127.0.0.1", port, "/x").connect()
        try:
            await wait_for(lambda: asyncio.sleep(0, c.events >= 3 and manager.local_connection_count == 1), 10, "a stream")
            [cid] = manager.local_connection_ids()
            await manager.disconnect(cid)
            await asyncio.wait_for(c.closed_by_server.wait(), 5)
            assert c.clean_end and cancelled == [True]
            assert manager.local_connection_count == 0 and live_stream_count(manager) == 0
        finally:
            await c.close()
    await manager.stop()


async def test_lifespan_starts_the_manager_before_the_apps_own_and_drains_after():
    manager = ConnectionManager(MemoryStore(), fast_config())
    seen: list[str] = []

    @contextlib.asynccontextmanager
    async def own(app: Any) -> AsyncIterator[None]:
        seen.append(f"app startup, manager started: {manager.registry.started}")
        yield
        seen.append(f"app shutdown, streams still open: {live_stream_count(manager)}")

    inner = _inner()
    inner.router.lifespan_context = own
    app = SSETrackingMiddleware(with_monitoring(inner, manager), manager)
    server, task, port = await serve_app(app, "127.0.0.1", 0)
    c = await SSEClient("127.0.0.1", port, "/events").connect()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            await wait_for(lambda: asyncio.sleep(0, manager.local_connection_count == 1), 5, "a stream")
            r = await http.get("/monitoring")
            assert r.json()["connection_stats"]["active_connections"] == 1
        # what an embedded server's owner does (no signals): drain, then stop the server
        assert await close_tracked_streams(manager) == 1
        await asyncio.wait_for(c.closed_by_server.wait(), 5)
        assert c.clean_end
    finally:
        await stop_server(server, task)
        await c.close()
    assert seen == ["app startup, manager started: True", "app shutdown, streams still open: 0"]
    assert not manager.registry.started  # stopped after the app's shutdown


async def test_a_response_that_tracks_itself_is_not_tracked_twice():
    """tracked_event_source behind the middleware: one registration, the tracked response's."""
    from core.streaming import tracked_event_source

    manager = ConnectionManager(MemoryStore(), fast_config())

    async def ticks() -> AsyncIterator[dict[str, str]]:
        while True:
            yield {"data": "x"}
            await asyncio.sleep(0.05)

    async def tracked(request: Request) -> Any:
        return tracked_event_source(request, ticks(), manager=manager, channel="own")

    app = SSETrackingMiddleware(Starlette(routes=[Route("/tracked", tracked)]), manager)
    async with served(app) as port:
        c = await SSEClient("127.0.0.1", port, "/tracked").connect()
        try:
            await wait_for(lambda: asyncio.sleep(0, c.events >= 3), 10, "events")
            page = await manager.list_connections()
            assert page.total == 1 and page.connections[0].channel == "own"
            assert manager.pod_stats().opened == 1
        finally:
            await c.close()
    await manager.stop()


async def test_an_event_stream_error_response_is_not_tracked():
    manager = ConnectionManager(MemoryStore(), fast_config())

    async def refused(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 503, "headers": [(b"content-type", b"text/event-stream")]})
        await send({"type": "http.response.body", "body": b"retry: 5000\n\n"})

    async with served(SSETrackingMiddleware(refused, manager)) as port:
        raw = await _raw(port, b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert raw.startswith(b"HTTP/1.1 503") and b"retry: 5000\n\n" in raw
        assert manager.pod_stats().opened == 0
    await manager.stop()


async def test_a_stream_resumed_with_last_event_id_counts_as_a_reconnect():
    """The middleware's streams feed the reconnect meter as tracked responses do: a client
    sending Last-Event-ID is a reconnect (core.reconnects), one without is a connect only."""
    manager = ConnectionManager(MemoryStore(), fast_config(CONNECT_RATE_WINDOW_SECONDS=2))
    await manager.start()
    mw = SSETrackingMiddleware(_inner(), manager)
    writers: list[asyncio.StreamWriter] = []
    try:
        async with served(mw) as port:
            async def known() -> bool:  # unknown (null) until a whole window was counted (core.reconnects)
                return (await manager.monitoring_snapshot()).connect_rate is not None
            await wait_for(known, 15, "the connect rate known")
            for extra in (b"", b"Last-Event-ID: 41\r\n"):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writers.append(writer)
                writer.write(b"GET /events HTTP/1.1\r\nHost: t\r\nUser-Agent: resumer\r\n" + extra + b"\r\n")
                await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            await wait_for(lambda: asyncio.sleep(0, manager.local_connection_count == 2), 10, "two streams")

            async def counted() -> bool:
                await manager.flush_touches()
                rate = (await manager.monitoring_snapshot()).connect_rate
                return rate is not None and rate.connects == 2

            await wait_for(counted, 15, "both connects in the fleet's rate")
            rate = (await manager.monitoring_snapshot()).connect_rate
            assert rate is not None and rate.reconnects == 1 and rate.reconnect_share_percent == 50.0
            for w in writers:
                w.close()
    finally:
        await manager.stop()


_ES = b"text/event-stream"


@pytest.mark.parametrize(("headers", "status", "method", "tracked"), [
    pytest.param([(b"content-type", _ES)], 200, "GET", True, id="alone"),
    pytest.param([(b"content-length", b"5"), (b"content-type", _ES + b"; charset=utf-8")], 200, "GET", True,
                 id="last-as-starlette-puts-it"),
    pytest.param([(b"Content-Type", _ES), (b"Cache-Control", b"no-cache")], 200, "GET", True,
                 id="first-in-djangos-case"),
    pytest.param([(b"x-a", b"1"), (b"CONTENT-TYPE", b"Text/Event-Stream"), (b"x-b", b"2")], 200, "GET", True,
                 id="in-the-middle-any-case"),
    pytest.param([(b"content-type", b"text/html; charset=utf-8")], 200, "GET", False, id="another-text-type"),
    pytest.param([(b"content-type", b"application/json"), (b"x-note", _ES)], 200, "GET", False,
                 id="json-with-a-header-that-looks-like-it"),
    pytest.param([(b"x-a", b"1")], 200, "GET", False, id="no-content-type"),
    pytest.param([], 200, "GET", False, id="no-headers"),
    pytest.param(None, 200, "GET", False, id="headers-absent"),
    pytest.param([(b"content-type", b"")], 200, "GET", False, id="empty-content-type"),
    pytest.param([(b"content-type", "text/event-stream")], 200, "GET", False, id="a-str-is-handed-on-untouched"),
    pytest.param([(b"content-type", _ES)], 503, "GET", False, id="not-2xx"),
    pytest.param([(b"content-type", _ES)], 200, "HEAD", False, id="head"),
])
async def test_which_responses_are_streams(headers: Any, status: int, method: str, tracked: bool) -> None:
    """The decision at ``http.response.start`` for every place and spelling of the content
    type: what is tracked, and that every message reaches the server as the app sent it."""
    manager = ConnectionManager(MemoryStore(), fast_config())
    start: dict[str, Any] = {"type": "http.response.start", "status": status}
    if headers is not None:
        start["headers"] = headers
    bodies = [{"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True},
              {"type": "http.response.body", "body": b"", "more_body": False}]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(start)
        for body in bodies:
            await send(body)

    got: list[dict[str, Any]] = []

    async def server_send(message: dict[str, Any]) -> None:
        got.append(message)

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()
        raise AssertionError("not reached")

    mw = SSETrackingMiddleware(app, manager, drain_on_signal=False)
    scope = {"type": "http", "method": method, "path": "/events", "headers": [], "client": ("127.0.0.1", 5000),
             "server": ("127.0.0.1", 8000), "scheme": "http", "http_version": "1.1", "query_string": b""}
    await asyncio.wait_for(mw(scope, receive, server_send), 10)
    assert (manager.pod_stats().opened == 1) is tracked
    assert got[0] is start and [m for m in got[1:] if m.get("body")] == bodies[:1]
    assert live_stream_count(manager) == 0  # ended and unregistered (or never registered)
    await mw.stop()
