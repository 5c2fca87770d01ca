"""Tracking for any ASGI framework, without code changes: an ASGI middleware.

Wrap the app your server runs (Django, Litestar, Quart, BlackSheep, plain Starlette...)::

    from core.middleware import SSETrackingMiddleware, with_monitoring
    from core.provider import SSEProvider

    provider = SSEProvider()
    app = SSETrackingMiddleware(with_monitoring(your_asgi_app, provider), provider)

Every response whose ``content-type`` is ``text/event-stream`` is registered with the
process's manager (channel: the request path, or ``channel=`` a string or a function of
the ASGI scope), counted as a tracked response is (bytes; events vs comment-only pings;
progress = bytes the client acknowledged, from the one socket-table read per flush),
kept alive with a comment every ``SSE_PING_INTERVAL_SECONDS``, unregistered on every way
out, and closed by cleanup and the dashboard's disconnect (core.exchange says how). Every
other response is handed straight through: the decision is made once, at
``http.response.start``.

The manager's lifecycle, where the framework has none for us:

- **ASGI lifespan** (uvicorn, Hypercorn, Granian pass it to the outermost app): the
  manager starts at ``lifespan.startup`` before the app's own startup, and at the app's
  ``lifespan.shutdown.complete`` the streams still open are closed and it stops. An app
  that does not speak lifespan (Django's ``ASGIHandler`` raises on it) is answered by the
  middleware itself, so the manager still starts and stops with the server.
- **no lifespan** (Daphne, ``uvicorn --lifespan off``): the manager starts on the first
  request; on SIGTERM/SIGINT it is stopped after the streams are drained. A process that
  ends otherwise leaves its streams in the store until its heartbeat lapses and a fleet
  mate reaps them (``SSE_WORKER_HEARTBEAT_TTL_SECONDS``).
- **SIGTERM/SIGINT drain**: servers wait for open responses before shutting down (uvicorn
  up to ``--timeout-graceful-shutdown``, then cancels them). On those signals the
  middleware closes its streams at once (each ends with the terminating chunk and
  unregisters as ``shutdown``). It chains the handler the server installed (never
  replaces it); ``drain_on_signal=False`` leaves signals alone.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import threading
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .asgi import AuthMode, monitoring_routes
from .config import SSEConfig
from .exchange import Exchange, is_event_stream
from .manager import ConnectionManager
from .streaming import TRACKED_SCOPE_KEY, close_tracked_streams, manager_streams

__all__ = ["SSETrackingMiddleware", "with_monitoring", "MONITORING_ROOTS"]

log = logging.getLogger("sse")

ChannelOf = Callable[[Scope], str]
_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_current_task = asyncio.current_task


def _default_source(source: Any) -> Any:
    if source is None:
        from .provider import SSEProvider

        return SSEProvider()
    return source


def _content_type(headers: Any) -> bytes | None:
    """The first ``content-type`` header's value, the name in any case (Django keeps the case
    it was given); None when there is none."""
    for name, value in headers:
        if name == b"content-type" or (len(name) == 12 and name.lower() == b"content-type"):
            return value  # type: ignore[no-any-return]
    return None


def _send(st: list[Any], message: Message) -> Awaitable[None]:
    """The ``send`` every request of the middleware gets, bound to its state list ``st``
    (``[server's send, scope, middleware, decision]``; decision None until the response
    starts, then False: not a stream, from then on the server's own send; or the stream's
    :class:`Exchange`, which takes every later message).

    A bound method of a module function over a list, not a closure: per request one list
    and one method object (made in C) instead of a function object, its cell and its
    defaults (docs/benchmarks.md counts the difference). The response's start is looked at
    once: the last header, then the first (where Starlette and Django put the content
    type), then all; a content type whose first letter is not t/T is not a stream."""
    ex = st[3]
    if ex is False:
        return st[0](message)  # type: ignore[no-any-return]
    if ex is not None:
        return ex.send(message)  # type: ignore[no-any-return]
    st[3] = False  # decided once: from here on the server's own send, unless a stream below
    try:
        headers = message["headers"]
        name, value = headers[-1]
        if name != b"content-type":
            name, value = headers[0]
            if name != b"content-type":
                value = _content_type(headers)
        maybe = value[0] | 32 == 116  # t or T (None, "", a str...: not a stream, handed on as is)
    except (KeyError, IndexError, TypeError, ValueError):
        maybe = False
    if not maybe:
        return st[0](message)  # type: ignore[no-any-return]
    scope = st[1]
    if message["type"] == "http.response.start" and is_event_stream(message) and scope.get("method") != "HEAD" \
            and TRACKED_SCOPE_KEY not in scope:
        # the task that starts the response is the one close() cancels
        ex = st[3] = Exchange(scope, st[0], st[2].stream_opened, _current_task())
        return ex.opening(message)
    return st[0](message)  # type: ignore[no-any-return]


_bind = _send.__get__  # _bind(st): the bound method, made in C (no function object per request)


class SSETrackingMiddleware:
    """Registers every ``text/event-stream`` response of ``app`` with the process's manager.

    ``source``: a ConnectionManager or an SSEProvider (default ``SSEProvider()``).
    ``channel``: a string, or ``f(scope) -> str`` (default: the request path).
    ``paths``: path prefixes to look at (default: every HTTP request); a request outside
    them is handed to ``app`` with nothing wrapped. ``ping``: seconds between keep-alive
    comments (default ``SSE_PING_INTERVAL_SECONDS``; 0: none, for an app that pings
    itself). ``max_lifetime``: close streams after this long (default
    ``SSE_MAX_CONNECTION_LIFETIME_SECONDS`` plus its jitter; 0: never). ``lifespan``:
    start and stop the manager with the server (False: the app's own lifespan does, e.g.
    :func:`core.integration.sse_lifespan_for`). ``drain_timeout``: how long shutdown waits
    for the streams to end.
    """

    def __init__(self, app: ASGIApp, source: Any = None, *, channel: str | ChannelOf | None = None,
                 paths: list[str] | tuple[str, ...] | None = None, ping: float | None = None,
                 max_lifetime: float | None = None, lifespan: bool = True, drain_on_signal: bool = True,
                 drain_timeout: float = 5.0) -> None:
        self.app = app
        self.source = _default_source(source)
        self.channel = channel
        self.paths = tuple(p.rstrip("/") for p in paths) if paths is not None else None
        # the paths test in two C calls (no generator per request): the path itself, or under it
        self._exact = frozenset(self.paths or ())
        self._under = tuple(p + "/" for p in self.paths or ())
        self.ping = ping
        self.max_lifetime = max_lifetime
        self.manage = lifespan
        self.drain_on_signal = drain_on_signal
        self.drain_timeout = drain_timeout
        self.manager: ConnectionManager | None = None
        # True while a request needs more than the plain path: paths= to test, or no manager yet
        self._gated = True
        self._lifespan_seen = False  # the server runs the lifespan: it stops the manager
        self._chained: dict[int, tuple[Any, Any]] = {}  # signal -> (our handler, the one before it)
        self._starting: asyncio.Lock | None = None
        self._draining: asyncio.Task[None] | None = None

    # -- ASGI -----------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The path every request takes is kept to a few operations (docs/benchmarks.md counts
        # them): one test for "plain HTTP, manager started, no paths=", one list, one bound method.
        if scope["type"] != "http" or self._gated:
            kind = scope["type"]
            if kind != "http":
                if kind == "lifespan" and self.manage:
                    await self._lifespan(scope, receive, send)
                else:
                    await self.app(scope, receive, send)
                return
            if self.paths is not None:
                path = scope["path"]
                if path not in self._exact and not path.startswith(self._under):
                    await self.app(scope, receive, send)
                    return
            if self.manager is None:
                await self.start()
        # the request's state (see _send): [server's send, scope, this middleware, decision]
        st: list[Any] = [send, scope, self, None]
        try:
            await self.app(scope, receive, _bind(st))
        except BaseException as exc:
            ex = st[3]
            if not ex or not ex.is_registered or not await ex.ended(exc):
                raise
            # else our own close: swallowed
        else:
            ex = st[3]
            if not ex or not ex.is_registered:
                return
            await ex.ended(None)
        if self._draining is not None:  # no lifespan: the server must not end before the manager stopped
            await asyncio.shield(self._draining)

    async def stream_opened(self, scope: Scope) -> tuple[ConnectionManager, str, float, float]:
        """A response turned out to be a stream: where and how to track it."""
        manager = self.manager or await self.start()
        cfg = manager.config
        channel = self.channel
        name = channel(scope) if callable(channel) else channel or scope.get("path") or "default"
        lifetime = self.max_lifetime if self.max_lifetime is not None else cfg.MAX_CONNECTION_LIFETIME_SECONDS
        if lifetime:
            lifetime += random.uniform(0.0, cfg.MAX_CONNECTION_LIFETIME_JITTER_SECONDS)
        return manager, name, cfg.PING_INTERVAL_SECONDS if self.ping is None else self.ping, lifetime or 0.0

    # -- the manager's lifecycle ------------------------------------------------------------------
    async def start(self) -> ConnectionManager:
        """The started manager (started now on the first call)."""
        if self.manager is not None:
            return self.manager
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self.manager is None:
                get = getattr(self.source, "get_connection_manager", None)
                manager: ConnectionManager = await get() if get is not None else self.source
                await manager.start()  # a no-op when already started
                self.manager = manager
                self._gated = self.paths is not None
                if self.drain_on_signal:
                    self._chain_signals()
        return self.manager

    async def stop(self) -> None:
        """Close the streams still open (waiting up to ``drain_timeout``) and stop the manager."""
        manager, self.manager = self.manager, None
        self._gated = True
        self._unchain_signals()
        if manager is None:
            return
        await close_tracked_streams(manager, timeout=self.drain_timeout)
        shutdown = getattr(type(self.source), "shutdown", None)
        if shutdown is not None and getattr(self.source, "get_connection_manager", None) is not None:
            await shutdown()  # SSEProvider: the process's manager
        else:
            await manager.stop()

    def drain(self, reason: str = "server shutdown") -> int:
        """Close every stream this process tracks now (they end and unregister themselves)."""
        manager = self.manager
        if manager is None:
            return 0
        streams = list(manager_streams(manager))
        for s in streams:
            s.close(reason)
        return len(streams)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app's lifespan with the manager's around it; answered by us for an app that
        does not speak it."""
        self._lifespan_seen = True
        seen: list[str] = []
        spoke = False

        async def receive_() -> Message:
            message = await receive()
            seen.append(message["type"])
            if message["type"] == "lifespan.startup":
                await self.start()  # before the app's startup code, which may use it
            return message

        async def send_(message: Message) -> None:
            nonlocal spoke
            spoke = True
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed", "lifespan.startup.failed"):
                await self.stop()  # after the app's shutdown code
            await send(message)

        try:
            await self.app(scope, receive_, send_)
        except Exception as exc:  # an app without lifespan support raises (Django: ValueError)
            if spoke:
                raise
            log.info("the app does not support ASGI lifespan (%s): SSETrackingMiddleware answers it", exc)
        if not spoke:
            await self._own_lifespan(receive, send, "lifespan.startup" in seen)

    async def _own_lifespan(self, receive: Receive, send: Send, started: bool) -> None:
        if not started:
            await receive()  # lifespan.startup
            await self.start()
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        await self.stop()
        await send({"type": "lifespan.shutdown.complete"})

    # -- signals: drain the streams at once instead of waiting out the server's graceful timeout ---
    def _chain_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for sig in _SIGNALS:
            previous = signal.getsignal(sig)
            # only in front of a handler a server installed: never the defaults (nor pytest's)
            if not callable(previous) or previous is signal.default_int_handler or sig in self._chained:
                continue

            def handler(signum: int, frame: FrameType | None, previous: Any = previous) -> None:
                loop.call_soon_threadsafe(self._on_signal)
                previous(signum, frame)

            signal.signal(sig, handler)
            self._chained[sig] = (handler, previous)

    def _unchain_signals(self) -> None:
        chained, self._chained = self._chained, {}
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, (handler, previous) in chained.items():
            if signal.getsignal(sig) is handler:  # still ours (a server restores its own on exit)
                signal.signal(sig, previous)

    def _on_signal(self) -> None:
        n = self.drain()
        if n:
            log.info("SSE shutdown signal: closing %d stream(s)", n)
        if not self._lifespan_seen and self._draining is None and self.manager is not None:
            # no lifespan will stop the manager: stop it once the streams are gone
            self._draining = asyncio.get_running_loop().create_task(self._stop_without_lifespan(self.manager),
                                                                    name="sse-middleware-stop")

    async def _stop_without_lifespan(self, manager: ConnectionManager) -> None:
        """The stop after a signal when no lifespan will come. The streams' requests wait for
        it (the server waits for them); a server with none open may end its event loop first,
        whose teardown cancels every task: then finish the stop anyway (bounded), once."""
        task = _current_task()
        try:
            await self.stop()
        except asyncio.CancelledError:
            if task is None or task.uncancel() > 0:
                raise
            with anyio.move_on_after(self.drain_timeout):
                await manager.stop()  # a no-op when the first attempt got that far


# -- the monitoring endpoints beside the app -------------------------------------------------------
MONITORING_ROOTS = ("/monitoring", "/metrics", "/health")


def with_monitoring(app: ASGIApp, source: Any = None, *, prefix: str = "", config: SSEConfig | None = None,
                    auth: AuthMode = "bearer", include_metrics: bool = True) -> ASGIApp:
    """``app`` with the monitoring endpoints of :mod:`core.asgi` beside it (``{prefix}/monitoring``,
    ``/monitoring/*``, ``/metrics``, ``/health*``), for frameworks whose routes are not
    Starlette's: requests under those paths go to the monitoring app, everything else
    (lifespan included) to ``app``. Same JSON, status codes and auth as everywhere else."""
    src = _default_source(source)
    p = prefix.rstrip("/")
    routes = [r for r in monitoring_routes(src, config, prefix=p, auth=auth)
              if include_metrics or getattr(r, "name", None) != "sse_metrics"]
    monitoring = Starlette(routes=routes)
    roots = tuple(p + r for r in MONITORING_ROOTS if include_metrics or r != "/metrics")

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope.get("path", "")
            for root in roots:
                if path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
                    await monitoring(scope, receive, send)
                    return
        await app(scope, receive, send)

    return dispatch
