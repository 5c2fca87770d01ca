"""SSE streams that the connection manager tracks (sse-starlette underneath).

One line per endpoint::

    @app.get("/prices")
    async def prices(request: Request):
        return tracked_event_source(request, price_events(), manager=manager, channel="prices")

Lifecycle of one tracked stream::

    __call__ ──► manager.register(on_close=...)          (before the headers go out)
       │
       ├─ every event sent ──► events_sent += 1, bytes_sent += n   (the manager reads both
       ├─ every ping sent  ──► bytes_sent += n                      at each flush: activity)
       │
       └─ ends on: client gone | generator done | send timeout | max lifetime (+jitter)
                   | server shutdown (sse-starlette's watcher, or close_tracked_streams)
                   | cancellation | the manager's cleanup removed it (on_close)
          ──► manager.unregister(id) in a shielded finally (skipped when the manager
              itself removed it: it is already gone from the store)

Sends and pings are hooked where sse-starlette makes them: ``_stream_response(send)``
and ``_ping(send)`` receive a wrapped ``send`` that counts each event or ping as it is
handed to the server (no extra coroutine, manager call or clock read per event).
"""

from __future__ import annotations

import asyncio
import logging
import random
import weakref
from typing import TYPE_CHECKING, Any, Awaitable, Union

import anyio
from sse_starlette.sse import EventSourceResponse, SendTimeoutError
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from .config import SSEConfig

if TYPE_CHECKING:
    from .manager import ConnectionManager
    from .provider import SSEProvider

__all__ = ["TrackedEventSourceResponse", "tracked_event_source", "close_tracked_streams", "live_stream_count",
           "resolve_manager"]

log = logging.getLogger("sse")

ManagerSource = Union["ConnectionManager", "SSEProvider", None]

# live tracked responses per manager (for draining on shutdown)
_live: "weakref.WeakKeyDictionary[Any, set[TrackedEventSourceResponse]]" = weakref.WeakKeyDictionary()

_UNREGISTER_TIMEOUT = 5.0
_CLOSE_MSG = "sse-dash: stream closed"
_current_task = asyncio.current_task
_FINAL_SEND_TIMEOUT = 1.0


async def resolve_manager(source: ManagerSource, request: Request | None = None) -> "ConnectionManager":
    """A started manager from a ConnectionManager, an SSEProvider, or (None) ``app.state.sse_manager``."""
    if source is None:
        if request is None:
            raise RuntimeError("no manager given and no request to find app.state.sse_manager on")
        source = getattr(request.app.state, "sse_manager", None)
        if source is None:
            raise RuntimeError("no SSE manager: pass manager=... or install core.asgi.sse_lifespan on the app")
    get = getattr(source, "get_connection_manager", None)
    if get is not None:
        return await get()
    return source  # type: ignore[return-value]


class TrackedEventSourceResponse(EventSourceResponse):
    """An ``EventSourceResponse`` registered with a :class:`~core.manager.ConnectionManager`.

    ``ping`` defaults to ``SSE_PING_INTERVAL_SECONDS``, ``send_timeout`` to
    ``SSE_SEND_TIMEOUT_SECONDS`` and ``max_lifetime`` to ``SSE_MAX_CONNECTION_LIFETIME_SECONDS``
    (plus a uniform random 0.._JITTER_SECONDS); pass 0 to disable the lifetime. Every other
    keyword goes to ``EventSourceResponse``. After the stream opened, ``connection_id`` is set.
    """

    def __init__(self, content: Any, *, manager: ManagerSource = None, channel: str = "default",
                 config: SSEConfig | None = None, connection_id: str | None = None,
                 ping: float | None = None, send_timeout: float | None = None,
                 max_lifetime: float | None = None, **kwargs: Any) -> None:
        super().__init__(content, ping=ping if ping is not None else EventSourceResponse.DEFAULT_PING_INTERVAL,
                         send_timeout=send_timeout, **kwargs)
        self._source = manager
        self._config = config
        self._explicit_ping = ping is not None
        self._explicit_send_timeout = send_timeout is not None
        self._max_lifetime = max_lifetime
        self.channel = channel
        self.connection_id: str | None = connection_id
        self.close_reason: str | None = None
        self._manager: ConnectionManager | None = None
        # close() stops our _listen_for_disconnect task; sse-starlette's own task group then
        # ends the stream. No cancel scope of ours around every send, and no extra tasks or
        # events per connection: both showed up as CPU (and GC) at thousands of streams.
        self._close_requested = False
        self._listen_task: asyncio.Task[Any] | None = None
        self._removed_by_manager = False
        self._started = False
        self._complete = False
        self._send: Send | None = None  # the server's send (set when sse-starlette starts its tasks)
        self.events_sent = 0  # events handed to the server (read by the manager at each flush)
        self.bytes_sent = 0  # bytes of events and pings

    @property
    def progress(self) -> int:
        """What the manager judges liveness by (see ActivitySource): bytes handed to the server."""
        return self.bytes_sent

    # -- closing from outside -----------------------------------------------------------
    def close(self, reason: str = "closed") -> None:
        """End the stream now (from any task of this event loop)."""
        if self.close_reason is None:
            self.close_reason = reason
        if self._close_requested:
            return
        self._close_requested = True
        task = self._listen_task
        if task is not None and not task.done() and task is not _current_task():
            task.cancel(_CLOSE_MSG)

    def _on_manager_close(self) -> None:
        # the manager removed us from the store already (cleanup, stop, removed elsewhere)
        self._removed_by_manager = True
        self.close("removed by manager")

    # -- sse-starlette hooks ------------------------------------------------------------
    # The hot path. A send costs two integer additions on this object: the manager reads
    # events_sent/bytes_sent at each flush (it was registered as the activity source), so
    # there is no manager call, clock read or dict update per event. And at thousands of
    # streams the cyclic GC dominates (every object a stream keeps alive is traversed by
    # each full collection), so a tracked stream adds no closures, cells or wrapper
    # coroutines: the two senders are bound methods made once per stream, and the hooks
    # are plain functions returning sse-starlette's own coroutines.
    def _send_event(self, message: Message) -> Awaitable[None]:
        """``send`` for events. Counts the event as it is handed to the server (uvicorn
        writes it to the socket buffer right away; a send that then blocks is ended by the
        send timeout). Not a coroutine function: it returns the server's own send
        awaitable, so an event costs no extra coroutine."""
        if message["type"] == "http.response.body":
            body = message.get("body")
            if body:
                self.events_sent += 1
                self.bytes_sent += len(body)
            if not message.get("more_body", False):
                self._complete = True
        elif message["type"] == "http.response.start":
            self._started = True
        return self._send(message)  # type: ignore[misc]

    def _send_ping(self, message: Message) -> Awaitable[None]:
        """``send`` for pings: activity (bytes), not an event."""
        if message["type"] == "http.response.body":
            body = message.get("body")
            if body:
                self.bytes_sent += len(body)
        return self._send(message)  # type: ignore[misc]

    def _stream_response(self, send: Send) -> Awaitable[None]:  # type: ignore[override]
        self._send = send
        return super()._stream_response(self._send_event)

    def _ping(self, send: Send) -> Awaitable[None]:  # type: ignore[override]
        self._send = send
        return super()._ping(self._send_ping)

    async def _listen_for_disconnect(self, receive: Receive) -> None:
        """Returns when the client disconnects *or* close() is called; sse-starlette then
        cancels the stream and ping tasks (even a send blocked on a dead socket)."""
        self._listen_task = _current_task()
        if self._close_requested:
            self.active = False
            return
        try:
            await super()._listen_for_disconnect(receive)
        except asyncio.CancelledError as exc:
            if not (self._close_requested and exc.args == (_CLOSE_MSG,)):
                raise  # sse-starlette's task group (or the server) is cancelling us
            task = _current_task()
            if task is not None:
                task.uncancel()
            self.active = False

    # -- ASGI ---------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method", "GET").upper() == "HEAD":
            await super().__call__(scope, receive, send)  # no stream, nothing to track
            return
        manager = await resolve_manager(self._source, Request(scope) if self._source is None else None)
        cfg = self._config or manager.config
        if not self._explicit_ping:
            self.ping_interval = cfg.PING_INTERVAL_SECONDS
        if not self._explicit_send_timeout:
            self.send_timeout = cfg.SEND_TIMEOUT_SECONDS
        lifetime = self._max_lifetime if self._max_lifetime is not None else cfg.MAX_CONNECTION_LIFETIME_SECONDS
        if lifetime:
            lifetime += random.uniform(0.0, cfg.MAX_CONNECTION_LIFETIME_JITTER_SECONDS)

        client = scope.get("client") or ("", 0)
        headers = dict(scope.get("headers") or [])
        record = await manager.register(
            self.connection_id, channel=self.channel, client_address=f"{client[0]}:{client[1]}" if client[0] else "",
            user_agent=headers.get(b"user-agent", b"").decode("latin-1"), on_close=self._on_manager_close,
            activity=self,
        )
        self._manager = manager
        self.connection_id = record.connection_id
        live = _live.setdefault(manager, set())
        live.add(self)
        send_timed_out = False
        lifetime_timer = asyncio.get_running_loop().call_later(lifetime, self.close, "max lifetime") if lifetime else None
        try:
            try:
                await super().__call__(scope, receive, send)
            except SendTimeoutError:
                send_timed_out = True
                self.close_reason = self.close_reason or "send timeout"
                log.info("SSE stream %s closed: send blocked longer than %gs", self.connection_id, self.send_timeout)
            if self._started and not self._complete and not send_timed_out:
                # End the chunked body cleanly so the client sees the end (and reconnects).
                with anyio.move_on_after(_FINAL_SEND_TIMEOUT):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    self._complete = True
        finally:
            if lifetime_timer is not None:
                lifetime_timer.cancel()
            live.discard(self)
            if not self._removed_by_manager:
                with anyio.move_on_after(_UNREGISTER_TIMEOUT, shield=True):
                    await manager.unregister(record.connection_id)


def tracked_event_source(request: Request | None, content: Any, *, manager: ManagerSource = None,
                         channel: str = "default", **kwargs: Any) -> TrackedEventSourceResponse:
    """The one-liner for an endpoint. ``manager`` may be a ConnectionManager, an SSEProvider,
    or omitted (then ``request.app.state.sse_manager``, set by :func:`core.asgi.sse_lifespan`)."""
    if manager is None and request is not None:
        manager = getattr(request.app.state, "sse_manager", None)
    return TrackedEventSourceResponse(content, manager=manager, channel=channel, **kwargs)


def live_stream_count(manager: "ConnectionManager") -> int:
    """Tracked streams of ``manager`` that are open in this process."""
    return len(_live.get(manager, ()))


async def close_tracked_streams(manager: "ConnectionManager", timeout: float = 5.0,
                                reason: str = "server shutdown") -> int:
    """Close every open tracked stream of ``manager`` and wait (up to ``timeout``) until each
    has ended and unregistered itself. Returns how many were closed. Use before stopping a
    server that runs without signal handlers (an embedded server); under ``uvicorn`` with
    signals sse-starlette's shutdown watcher does the same on SIGTERM."""
    streams = list(_live.get(manager, ()))
    for s in streams:
        s.close(reason)
    with anyio.move_on_after(timeout):
        while _live.get(manager):
            await anyio.sleep(0.02)
    return len(streams)
