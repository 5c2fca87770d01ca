"""Tracked vs stock: the same scenarios against sse-starlette's ``EventSourceResponse`` and
``TrackedEventSourceResponse``, side by side on one real uvicorn, real client sockets.

Each scenario opens one stock and one tracked stream at the same time (so both meet the
same shutdown, the same machine load) and records, at the ASGI level, every message the
response sent, the exception it raised and when it returned. They must agree: same
messages (pings compared without their timestamp), same exception type, return times
within ``TOLERANCE``; and the tracked registry is empty afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from sse_starlette.sse import AppStatus, EventSourceResponse
from starlette.requests import Request
from starlette.routing import Route

from core.demo import build_demo_app, serve_app, stop_server
from core.manager import ConnectionManager
from core.provider import make_store
from core.streaming import (
    SSE_STARLETTE_VERSION,
    TrackedEventSourceResponse,
    close_tracked_streams,
    is_ping_frame,
    live_stream_count,
    tracked_event_source,
)

from .conftest import fast_config, wait_for
from .sse_compat import fresh_sse_starlette_state  # noqa: F401 - autouse fixture

TOLERANCE = 0.3  # seconds between stock's and tracked's return (a busy 2-core machine)
UPSTREAM = [p for p in inspect.signature(EventSourceResponse.__init__).parameters.values()][1:]
HAS = {p.name for p in UPSTREAM}
BIG = "z" * 65536
_PING_TS = re.compile(rb"^: ping - [^\r\n]*", re.M)


@dataclass
class Run:
    """What one response did, as seen by the server's ASGI ``send``."""

    messages: list[tuple] = field(default_factory=list)
    exc: str | None = None
    started_at: float = 0.0
    ended_at: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    response: Any = None
    cancel_after_events: int | None = None

    def add(self, message: dict) -> None:
        if message["type"] == "http.response.start":
            self.messages.append(("start", message["status"], sorted((bytes(k), bytes(v)) for k, v in message["headers"])))
        else:
            self.messages.append((message["type"], _PING_TS.sub(b": ping", bytes(message.get("body", b""))),
                                  message.get("more_body", False)))

    @property
    def events(self) -> int:
        return sum(1 for m in self.messages if m[0] == "http.response.body" and m[1] and not is_ping_frame(m[1]))

    @property
    def pings(self) -> int:
        return sum(1 for m in self.messages if m[0] == "http.response.body" and m[1] and is_ping_frame(m[1]))


class Parity:
    """A server whose ``/p/{rid}`` answers with the response planned under ``rid``."""

    def __init__(self) -> None:
        self.plans: dict[str, Callable[[], Any]] = {}
        self.runs: dict[str, Run] = {}
        self.manager: ConnectionManager | None = None
        self.port = 0
        self.server: Any = None
        self.clients: list[Client] = []  # closed by the fixture too: a failed test must not leak sockets

    def plan(self, rid: str, make: Callable[[], Any], **run: Any) -> Run:
        self.plans[rid] = make
        self.runs[rid] = r = Run(**run)
        return r

    async def endpoint(self, request: Request):
        rid = request.path_params["rid"]
        run, response = self.runs[rid], self.plans[rid]()
        run.response = response

        async def app(scope, receive, send):
            async def recorded(message):
                run.add(message)
                if run.cancel_after_events is not None and run.events >= run.cancel_after_events:
                    scope_.cancel()
                await send(message)

            run.started_at = time.monotonic()
            try:
                with anyio.CancelScope() as scope_:
                    await response(scope, receive, recorded)
            except BaseException as exc:
                run.exc = type(exc).__name__
                raise
            finally:
                run.ended_at = time.monotonic()
                run.done.set()
        return app

    def build(self, impl: str, *args: Any, **kwargs: Any):
        if impl == "stock":
            return EventSourceResponse(*args, **kwargs)
        return TrackedEventSourceResponse(*args, manager=self.manager, **kwargs)

    async def both(self, name: str, make: Callable[[str], Any], **run: Any) -> tuple[Run, Run]:
        return (self.plan(f"{name}-stock", lambda: make("stock"), **run),
                self.plan(f"{name}-tracked", lambda: make("tracked"), **run))

    async def assert_registry_empty(self) -> None:
        m = self.manager
        await wait_for(lambda: asyncio.sleep(0, m.local_connection_count == 0 and live_stream_count(m) == 0), 5,
                       "tracked streams unregistered")
        total = (await m.list_connections("all", 10, 0)).total
        assert total == 0


def expected_events(parity: "Parity", tracked: Any, n: int) -> int | None:
    """``n`` where the stream counts events; None (unknown, never 0) where the kernel counts
    its bytes and SSE_COUNT_EVENTS is off."""
    counted = parity.manager.config.COUNT_EVENTS or tracked.response.counting == "asgi"
    return n if counted else None


@pytest.fixture(params=[False, True], ids=["count-events-off", "count-events-on"])
async def parity(request):
    """Both ways a tracked stream runs: the server's own send (SSE_COUNT_EVENTS off, the
    default: kernel counting) and the send wrapper that counts events."""
    p = Parity()
    cfg = fast_config(SEND_TIMEOUT_SECONDS=0.4, PING_INTERVAL_SECONDS=0.2, PERIODIC_CLEANUP_ENABLED=False,
                      COUNT_EVENTS=request.param)
    p.manager = ConnectionManager(make_store(cfg), cfg)
    app = build_demo_app(p.manager)
    app.router.routes.append(Route("/p/{rid}", p.endpoint, methods=["GET", "HEAD"]))
    await p.manager.start()
    p.server, task, p.port = await serve_app(app, "127.0.0.1", 0)
    try:
        yield p
    finally:
        for c in p.clients:
            c.close()
        await close_tracked_streams(p.manager)
        await stop_server(p.server, task)
        await p.manager.stop()


class Client:
    """A raw-socket client; ``read=False`` with a tiny receive buffer: a client that stops reading."""

    def __init__(self, port: int, rid: str, read: bool = True, method: str = "GET") -> None:
        self.port, self.rid, self.read, self.method = port, rid, read, method
        self.sock: socket.socket | None = None
        self.data = b""
        self.task: asyncio.Task | None = None

    async def open(self) -> "Client":
        s = socket.socket()
        if not self.read:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        s.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_connect(s, ("127.0.0.1", self.port))
        await loop.sock_sendall(s, f"{self.method} /p/{self.rid} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        self.sock = s
        if self.read:
            self.task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(OSError):
            while chunk := await loop.sock_recv(self.sock, 65536):
                self.data += chunk

    def close(self) -> float:
        if self.task is not None:
            self.task.cancel()
        with contextlib.suppress(OSError):
            self.sock.close()
        return time.monotonic()


async def open_pair(p: Parity, name: str, **kw: Any) -> tuple[Client, Client]:
    pair = (await Client(p.port, f"{name}-stock", **kw).open(), await Client(p.port, f"{name}-tracked", **kw).open())
    p.clients.extend(pair)
    return pair


async def both_done(stock: Run, tracked: Run, timeout: float = 10) -> None:
    await asyncio.wait_for(asyncio.gather(stock.done.wait(), tracked.done.wait()), timeout)


def assert_same(stock: Run, tracked: Run, since: float | None = None) -> None:
    assert tracked.messages == stock.messages
    assert tracked.exc == stock.exc
    t0s, t0t = (since, since) if since is not None else (stock.started_at, tracked.started_at)
    ds, dt = stock.ended_at - t0s, tracked.ended_at - t0t
    assert abs(dt - ds) < TOLERANCE, f"stock returned after {ds:.3f}s, tracked after {dt:.3f}s"


def events(n: int, then_wait: bool = True, delay: float = 0.0):
    async def gen():
        for i in range(n):
            yield {"data": f"event {i}", "id": str(i)}
            if delay:
                await asyncio.sleep(delay)
        if then_wait:
            await asyncio.Event().wait()
    return gen()


# -- the scenarios -----------------------------------------------------------------------
async def test_signature_is_stocks_plus_keyword_only_tracking():
    tracked = list(inspect.signature(TrackedEventSourceResponse).parameters.values())
    stock = list(inspect.signature(EventSourceResponse).parameters.values())
    assert tracked[:len(stock)] == stock  # names, order, kinds, defaults, annotations
    assert [p.name for p in tracked[len(stock):]] == ["manager", "channel", "config", "connection_id", "max_lifetime"]
    assert all(p.kind is p.KEYWORD_ONLY for p in tracked[len(stock):])
    helper = list(inspect.signature(tracked_event_source).parameters.values())
    assert helper[0].name == "request" and helper[1:] == tracked


async def test_client_disconnect(parity):
    closed: dict[str, int] = {"stock": 0, "tracked": 0}

    def make(impl):
        kw: dict[str, Any] = {"ping": 60}
        if "client_close_handler_callable" in HAS:
            async def on_close(message, impl=impl):
                closed[impl] += 1
            kw["client_close_handler_callable"] = on_close
        return parity.build(impl, events(3), **kw)
    stock, tracked = await parity.both("disc", make)
    cs, ct = await open_pair(parity, "disc")
    await wait_for(lambda: asyncio.sleep(0, stock.events == 3 and tracked.events == 3), 5, "three events each")
    t_close = cs.close()
    ct.close()
    await both_done(stock, tracked)
    assert_same(stock, tracked, since=t_close)
    assert stock.messages[-1][2] is True, "nothing is sent after the client left (no terminating chunk)"
    assert tracked.ended_at - t_close < 1.0
    if "client_close_handler_callable" in HAS:
        assert closed == {"stock": 1, "tracked": 1}
    assert tracked.response.events_sent == expected_events(parity, tracked, 3)
    await parity.assert_registry_empty()


async def test_client_disconnect_with_a_write_blocked_socket(parity):
    """The client stopped reading, then left: stock returns at once, so must tracked (it
    used to send one more frame and wait up to 1 s for it)."""
    def make(impl):
        async def gen():
            for _ in range(8):
                yield {"data": BIG}
            await asyncio.Event().wait()
        return parity.build(impl, gen(), ping=60, send_timeout=None)
    stock, tracked = await parity.both("blocked", make)
    cs, ct = await open_pair(parity, "blocked", read=False)
    await asyncio.sleep(0)  # both requests are in; the buffers fill up
    await wait_for(lambda: asyncio.sleep(0, stock.events >= 2 and tracked.events >= 2), 5, "blocked sends")
    t_close = cs.close()
    ct.close()
    await both_done(stock, tracked)
    assert stock.exc == tracked.exc
    ds, dt = stock.ended_at - t_close, tracked.ended_at - t_close
    assert abs(dt - ds) < TOLERANCE and dt < 0.9, (ds, dt)
    assert not any(m[0] == "http.response.body" and m[2] is False for m in tracked.messages), \
        "no terminating chunk after the client left"
    await parity.assert_registry_empty()


def upstream_version() -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", SSE_STARLETTE_VERSION)[:3])


async def test_server_shutdown(parity):
    stock, tracked = await parity.both("shutdown", lambda impl: parity.build(impl, events(2), ping=60))
    cs, ct = await open_pair(parity, "shutdown")
    await wait_for(lambda: asyncio.sleep(0, stock.events == 2 and tracked.events == 2), 5, "two events each")
    t_exit = time.monotonic()
    AppStatus.should_exit = True  # what uvicorn's patched handle_exit sets on SIGTERM
    ev = getattr(AppStatus, "should_exit_event", None)  # sse-starlette 2.x waits on this event
    if ev is not None:
        ev.set()
    await both_done(stock, tracked)
    assert_same(stock, tracked, since=t_exit)
    assert tracked.ended_at - t_exit < 1.5
    last = stock.messages[-1]
    if upstream_version() >= (3, 7, 1):
        # from 3.7.1 stock ends the chunked body on shutdown (one empty, final body);
        # tracked sends exactly that (assert_same), not a second one of its own
        assert last == ("http.response.body", b"", False), last
        assert sum(1 for m in tracked.messages if m[0] == "http.response.body" and m[2] is False) == 1
    else:
        assert last[2] is True, "stock sends nothing more on shutdown; neither may tracked"
    cs.close(), ct.close()
    await parity.assert_registry_empty()


async def test_send_timeout_raises_like_stock(parity):
    def make(impl):
        async def gen():
            while True:
                yield {"data": BIG}
                await asyncio.sleep(0)  # a checkpoint: after a disconnect uvicorn's send returns at once
        return parity.build(impl, gen(), ping=60, send_timeout=0.5)
    stock, tracked = await parity.both("timeout", make)
    cs, ct = await open_pair(parity, "timeout", read=False)
    await both_done(stock, tracked)
    assert stock.exc == tracked.exc
    assert stock.exc in ("SendTimeoutError", "ExceptionGroup", "BaseExceptionGroup")
    assert abs((tracked.ended_at - tracked.started_at) - (stock.ended_at - stock.started_at)) < TOLERANCE
    # how many 64 KiB events fit in the socket buffers varies by a few between two
    # connections; what was sent is the same sequence
    n = min(len(stock.messages), len(tracked.messages))
    assert stock.messages[:n] == tracked.messages[:n] and n >= 2
    assert not any(m[0] == "http.response.body" and m[2] is False for m in tracked.messages + stock.messages)
    cs.close(), ct.close()
    await parity.assert_registry_empty()


async def test_ping_send_timeout(parity):
    """Pings that cannot be sent: where stock times them out (sse-starlette >= 3.5) tracked
    raises the same; where stock waits, so does tracked. Pings are not counted as events."""
    def make(impl):
        kw: dict[str, Any] = {"ping": 0.05, "send_timeout": 0.5}
        if "ping_message_factory" in HAS:
            from sse_starlette.event import ServerSentEvent
            kw["ping_message_factory"] = lambda: ServerSentEvent(comment="p" * 65536)
        return parity.build(impl, events(0), **kw)
    stock, tracked = await parity.both("pingto", make)
    cs, ct = await open_pair(parity, "pingto", read=False)
    with contextlib.suppress(asyncio.TimeoutError):
        await both_done(stock, tracked, timeout=3)
    assert stock.done.is_set() == tracked.done.is_set()
    assert stock.exc == tracked.exc
    assert tracked.pings >= 2 and tracked.response.events_sent == expected_events(parity, tracked, 0) \
        and tracked.response.bytes_sent > 65536
    cs.close(), ct.close()
    await both_done(stock, tracked)
    await parity.assert_registry_empty()


async def test_generator_error(parity):
    def make(impl):
        async def gen():
            yield {"data": "one"}
            raise RuntimeError("boom")
        return parity.build(impl, gen(), ping=60)
    stock, tracked = await parity.both("error", make)
    cs, ct = await open_pair(parity, "error")
    await both_done(stock, tracked)
    assert_same(stock, tracked)
    assert stock.exc is not None
    cs.close(), ct.close()
    await parity.assert_registry_empty()


async def test_cancellation_from_outside(parity):
    """A surrounding cancel scope (a middleware timeout) cancels the response mid-stream."""
    stock, tracked = await parity.both("cancel", lambda impl: parity.build(impl, events(5, delay=0.05), ping=60),
                                       cancel_after_events=2)
    cs, ct = await open_pair(parity, "cancel")
    await both_done(stock, tracked)
    assert_same(stock, tracked)
    assert stock.events == 2
    cs.close(), ct.close()
    await parity.assert_registry_empty()


async def test_positional_construction(parity):
    headers = {"X-Parity": "yes"}
    stock, tracked = await parity.both(
        "positional", lambda impl: parity.build(impl, events(2, then_wait=False), 201, headers, "text/event-stream"))
    cs, ct = await open_pair(parity, "positional")
    await both_done(stock, tracked)
    assert_same(stock, tracked)
    assert stock.messages[0][1] == 201 and (b"x-parity", b"yes") in stock.messages[0][2]
    assert stock.messages[-1] == ("http.response.body", b"", False) and stock.events == 2
    cs.close(), ct.close()
    # the example: (content, status, headers) positionally
    s, t = EventSourceResponse(events(0), 204, headers), parity.build("tracked", events(0), 204, headers)
    assert (t.status_code, t.raw_headers, t.media_type) == (s.status_code, s.raw_headers, s.media_type)
    await parity.assert_registry_empty()


async def test_send_timeout_none_disables_the_timeout(parity):
    """``send_timeout=None`` passed explicitly is stock's "no timeout", not the project's
    default (SSE_SEND_TIMEOUT_SECONDS is 0.4 s here)."""
    def make(impl):
        async def gen():
            while True:
                yield {"data": BIG}
                await asyncio.sleep(0)  # a checkpoint: after a disconnect uvicorn's send returns at once
        return parity.build(impl, gen(), ping=60, send_timeout=None)
    stock, tracked = await parity.both("none", make)
    cs, ct = await open_pair(parity, "none", read=False)
    await wait_for(lambda: asyncio.sleep(0, stock.events >= 2 and tracked.events >= 2), 5, "blocked sends")
    with contextlib.suppress(asyncio.TimeoutError):
        await both_done(stock, tracked, timeout=1.5)
    assert not stock.done.is_set() and not tracked.done.is_set(), "a send blocked 1.5 s must not time out"
    assert tracked.response.send_timeout is None and stock.response.send_timeout is None
    cs.close(), ct.close()
    await both_done(stock, tracked)
    assert stock.exc == tracked.exc
    await parity.assert_registry_empty()


async def test_head(parity):
    stock, tracked = await parity.both("head", lambda impl: parity.build(impl, events(2, then_wait=False), ping=60))
    cs, ct = await open_pair(parity, "head", method="HEAD")
    await both_done(stock, tracked)
    assert_same(stock, tracked)
    assert stock.messages[0][0] == "start"
    assert parity.manager.local_connection_count == 0
    cs.close(), ct.close()
    await parity.assert_registry_empty()


async def test_project_defaults_apply_only_to_arguments_not_passed(parity):
    cfg = parity.manager.config
    t = parity.build("tracked", events(0))
    assert (t.ping_interval, t.send_timeout) == (cfg.PING_INTERVAL_SECONDS, cfg.SEND_TIMEOUT_SECONDS)
    t = parity.build("tracked", events(0), ping=None, send_timeout=None)
    s = EventSourceResponse(events(0), ping=None, send_timeout=None)
    assert (t.ping_interval, t.send_timeout) == (s.ping_interval, s.send_timeout)
    t = parity.build("tracked", events(0), 200, None, "text/event-stream", None, 7)  # ping positionally
    assert t.ping_interval == 7 and t.send_timeout == cfg.SEND_TIMEOUT_SECONDS


async def test_tracking_close_ends_the_body_and_counts(parity):
    """Tracking's own close (here close_tracked_streams; cleanup and max lifetime take the
    same path) ends the chunked body cleanly and does not call the caller's
    client_close_handler (the client did not leave)."""
    called = []

    def make(impl):
        kw: dict[str, Any] = {"ping": 60}
        if "client_close_handler_callable" in HAS:
            async def on_close(message):
                called.append(message)
            kw["client_close_handler_callable"] = on_close
        return parity.build(impl, events(3), **kw)
    tracked = parity.plan("close-tracked", lambda: make("tracked"))
    c = await Client(parity.port, "close-tracked").open()
    parity.clients.append(c)
    await wait_for(lambda: asyncio.sleep(0, tracked.events == 3), 5, "three events")
    await parity.manager.flush_touches()
    listed = (await parity.manager.list_connections("all", 10, 0)).connections[0]
    assert listed.events_sent == expected_events(parity, tracked, 3)
    assert (listed.events_sent_reason is None) is (listed.events_sent is not None)
    assert await close_tracked_streams(parity.manager) == 1
    await asyncio.wait_for(tracked.done.wait(), 5)
    assert tracked.messages[-1] == ("http.response.body", b"", False) and tracked.exc is None
    assert called == []
    c.close()
    await parity.assert_registry_empty()


def test_supported_version_is_declared():
    """The installed sse-starlette is inside the range pyproject.toml declares."""
    import tomllib
    from pathlib import Path
    deps = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]["dependencies"]
    [spec] = [d.split("#")[0].strip() for d in deps if d.startswith("sse-starlette")]
    low, cap = re.match(r"sse-starlette>=([\d.]+),<([\d.]+)", spec).groups()

    def v(s: str) -> tuple[int, ...]:
        return tuple(int(x) for x in s.split("."))
    assert v(low) <= v(SSE_STARLETTE_VERSION) < v(cap), (SSE_STARLETTE_VERSION, spec)
