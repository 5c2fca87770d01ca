"""SSE streams that the connection manager tracks: sse-starlette's ``EventSourceResponse``
plus registration, counting, close-on-cleanup and a maximum lifetime.

One line per endpoint::

    @app.get("/prices")
    async def prices(request: Request):
        return tracked_event_source(request, price_events(), manager=manager, channel="prices")

A drop-in: :class:`TrackedEventSourceResponse` takes ``EventSourceResponse``'s own
parameters (positional or keyword, same defaults; its signature is built from the
installed sse-starlette's) plus keyword-only tracking parameters, sends the same ASGI
messages and raises the same exceptions with the same timings. Any argument the caller
passes keeps stock's meaning (``send_timeout=None`` disables the timeout, ``ping=None``
is stock's 15 s); only arguments NOT passed take the project's settings
(``SSE_PING_INTERVAL_SECONDS``, ``SSE_SEND_TIMEOUT_SECONDS``).

Lifecycle of one tracked stream::

    __call__ ──► watch_socket(): one exact lookup of its TCP connection (core.stream_watch)
       ├─ manager.register(activity=self)   (closed by on_removed(); before the headers go out)
       │
       ├─ kernel counting (Linux, the socket found): stock gets the server's own send;
       │     with SSE_COUNT_EVENTS a send wrapper adds events_sent += 1 unless the frame
       │     is comment-only (a ping: ": ping - <time>")
       ├─ ASGI counting (the kernel cannot name the socket): the send wrapper adds
       │     bytes_sent += n and counts events
       ├─ the manager's flush hook (one socket-table read for all streams, at most every
       │                     half activity resolution) ──► bytes_sent (kernel counting)
       │                     and progress = bytes the client's TCP stack acknowledged
       │
       └─ ends on: client gone | generator done | send timeout (connection aborted, error
                   re-raised) | shutdown | cancellation | max lifetime (+jitter)
                   | the manager's cleanup removed it | close_tracked_streams
          ──► manager.unregister(id) in a shielded finally (skipped when the manager
              itself removed it: it is already gone from the store)

No private sse-starlette hooks: events and pings are counted (where they are) from a
wrapper around the ASGI ``send`` given to stock ``__call__``, and a close from our side goes through the
ASGI ``receive`` given to it (the stream's disconnect listener is handed a message that
ends it, exactly as a client disconnect would end it, without calling the caller's
``client_close_handler_callable``). A stream closed by tracking (not by the client, not
by shutdown) then ends its chunked body with the terminating chunk, or is aborted (RST)
when its client is not taking what is already queued.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, Union

import anyio
from sse_starlette.sse import EventSourceResponse, SendTimeoutError
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from . import sockets
from .config import SSEConfig
from .stream_watch import Flag, SocketWatch, WatchedStream, is_ping_frame, live_streams, socket_watch

if TYPE_CHECKING:
    from .manager import ConnectionManager
    from .provider import SSEProvider

__all__ = ["TrackedEventSourceResponse", "tracked_event_source", "close_tracked_streams", "live_stream_count",
           "resolve_manager", "SSE_STARLETTE_VERSION", "is_ping_frame", "manager_streams",
           "TRACKED_SCOPE_KEY"]

log = logging.getLogger("sse")

ManagerSource = Union["ConnectionManager", "SSEProvider", None]

try:
    SSE_STARLETTE_VERSION = version("sse-starlette")
except PackageNotFoundError:  # pragma: no cover - vendored copy
    SSE_STARLETTE_VERSION = "unknown"

# -- what we need from sse-starlette, checked at import (fail loudly, never silently) -----
_UPSTREAM_SIG = inspect.signature(EventSourceResponse.__init__)
_UPSTREAM_PARAMS = [p for p in _UPSTREAM_SIG.parameters.values()][1:]  # without self
_UPSTREAM_NAMES = [p.name for p in _UPSTREAM_PARAMS]
_TRACKING_PARAMS = ("manager", "channel", "config", "connection_id", "max_lifetime")


def _check_upstream() -> None:
    problems = [f"no {name!r} parameter" for name in ("content", "ping", "send_timeout") if name not in _UPSTREAM_NAMES]
    problems += [f"parameter {p.name!r} is {p.kind.description}" for p in _UPSTREAM_PARAMS
                 if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    problems += [f"parameter {n!r} clashes with a tracking parameter" for n in _TRACKING_PARAMS if n in _UPSTREAM_NAMES]
    call = list(inspect.signature(EventSourceResponse.__call__).parameters)
    if call[1:4] != ["scope", "receive", "send"]:
        problems.append(f"__call__ takes {call[1:]}, not (scope, receive, send)")
    if problems:
        raise ImportError(f"core.streaming does not support sse-starlette {SSE_STARLETTE_VERSION}: "
                          f"EventSourceResponse.__init__ has {'; '.join(problems)} (tested range: see pyproject.toml)")


_check_upstream()
_PING_POS = _UPSTREAM_NAMES.index("ping")
_TIMEOUT_POS = _UPSTREAM_NAMES.index("send_timeout")

_UNREGISTER_TIMEOUT = 5.0
# set on the ASGI scope by a tracked response: core.middleware then leaves that response alone
TRACKED_SCOPE_KEY = "sse_dash.tracked"
# close_reason -> the manager's CLOSE_REASONS (the sse_pod_connections_closed_total label)
_CLOSE_REASONS = {"max lifetime": "max_lifetime", "send timeout": "send_timeout", "server shutdown": "shutdown"}
_CLOSE_MSG = "sse-dash: stream closed"
_current_task = asyncio.current_task
_FINAL_SEND_TIMEOUT = 1.0  # the terminating chunk of a stream closed by tracking
# what the disconnect listener receives when tracking ends the stream: not a disconnect
# (the caller's client_close_handler_callable is for clients that left); stock's listener
# loops while ``active``, which is False by then. A listener that would wait again is
# handed an ``http.disconnect`` next.
_END_MSG: Message = {"type": "http.request", "body": b"", "more_body": False}
_DISCONNECT: Message = {"type": "http.disconnect"}


def _user_agent(scope: Scope) -> str:
    for name, value in scope.get("headers") or ():
        if name == b"user-agent":
            return bytes(value).decode("latin-1")
    return ""


def _has_header(scope: Scope, wanted: bytes) -> bool:
    return any(name == wanted for name, _ in scope.get("headers") or ())


def _is_send_timeout(exc: BaseException) -> bool:
    if isinstance(exc, SendTimeoutError):
        return True
    return isinstance(exc, BaseExceptionGroup) and exc.subgroup(SendTimeoutError) is not None


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
        manager: ConnectionManager = await get()
        return manager
    return source  # type: ignore[return-value]


# what issue 26's middleware and the tests reuse (the interface is core.stream_watch's)
_SocketWatch = SocketWatch


def manager_streams(manager: "ConnectionManager") -> "set[Any]":
    """The live streams of ``manager`` in this process (tracked responses and the middleware's
    streams); the first call installs the socket watch on the manager's flush."""
    return socket_watch(manager).streams


_manager_streams = manager_streams


class TrackedEventSourceResponse(WatchedStream, EventSourceResponse):
    """An ``EventSourceResponse`` registered with a :class:`~core.manager.ConnectionManager`.

    Takes every parameter of the installed sse-starlette's ``EventSourceResponse``, in
    the same order with the same defaults, plus keyword-only ``manager``, ``channel``,
    ``config``, ``connection_id`` and ``max_lifetime``. ``ping`` and ``send_timeout``
    default to ``SSE_PING_INTERVAL_SECONDS`` / ``SSE_SEND_TIMEOUT_SECONDS`` only when not
    passed; ``max_lifetime`` defaults to ``SSE_MAX_CONNECTION_LIFETIME_SECONDS`` (plus a
    uniform random 0..``SSE_MAX_CONNECTION_LIFETIME_JITTER_SECONDS``), 0 disables it.
    After the stream opened, ``connection_id`` is set.
    """

    # tracking state in slots, not in the instance dict: thousands of streams, and a dict
    # grown past stock's size would cost each of them a larger table
    __slots__ = ("_source", "_config", "_max_lifetime", "channel", "connection_id", "close_reason", "_listen_task",
                 "_receive")
    # yes/no state: bits of WatchedStream's one ``_flags`` slot (8 and up; 0-7 are its own)
    _explicit_ping = Flag(1 << 8)
    _explicit_send_timeout = Flag(1 << 9)
    _close_requested = Flag(1 << 10)
    _in_receive = Flag(1 << 11)  # the disconnect listener waits in our receive wrapper
    _removed_by_manager = Flag(1 << 12)
    _client_gone = Flag(1 << 13)  # the server said http.disconnect

    def __init__(self, *args: Any, manager: ManagerSource = None, channel: str = "default",
                 config: SSEConfig | None = None, connection_id: str | None = None,
                 max_lifetime: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._flags = 0
        self._watch_init()  # counting state (core.stream_watch): events_sent, bytes_sent, progress
        self._source = manager
        self._config = config
        self._explicit_ping = len(args) > _PING_POS or "ping" in kwargs
        self._explicit_send_timeout = len(args) > _TIMEOUT_POS or "send_timeout" in kwargs
        cfg = config if config is not None else getattr(manager, "config", None)
        if isinstance(cfg, SSEConfig):
            self._apply_defaults(cfg)
        self._max_lifetime = max_lifetime
        self.channel = channel
        self.connection_id: str | None = connection_id
        self.close_reason: str | None = None
        self._close_requested = False
        self._listen_task: asyncio.Task[Any] | None = None
        self._in_receive = False
        self._removed_by_manager = False
        self._client_gone = False
        self._receive: Receive | None = None

    def _apply_defaults(self, cfg: SSEConfig) -> None:
        if not self._explicit_ping:
            self.ping_interval = cfg.PING_INTERVAL_SECONDS
        if not self._explicit_send_timeout:
            self.send_timeout = cfg.SEND_TIMEOUT_SECONDS

    # -- closing from outside -----------------------------------------------------------
    def close(self, reason: str = "closed") -> None:
        """End the stream now (from any task of this event loop)."""
        if self.close_reason is None:
            self.close_reason = reason
        if self._close_requested:
            return
        self._close_requested = True
        task = self._listen_task
        if task is not None and self._in_receive and task is not _current_task():
            # only while it waits in our receive wrapper (which catches exactly this);
            # otherwise its next receive() returns the end message
            task.cancel(_CLOSE_MSG)

    def on_removed(self) -> None:
        # the manager removed us from the store already (cleanup, stop, removed elsewhere)
        self._removed_by_manager = True
        if self._queued:
            # bytes wait in the kernel for a client that takes nothing (frozen tab, half-open
            # TCP): reset it now. Any goodbye would queue behind them, ours or stock's own
            # closing body (sse-starlette >= 3.7.1 sends one with send_timeout), and the
            # socket would outlive the stream.
            sockets.abort_connection(self._sock_keys)
        self.close("removed by manager")

    # -- the ASGI receive handed to stock __call__ (its send: core.stream_watch) ---------
    async def _receive_watched(self) -> Message:
        """The disconnect listener's ``receive``: the client's messages, or (after close())
        the message that ends the stream."""
        if self._close_requested:
            return self._end_message()
        self._listen_task = task = _current_task()
        self._in_receive = True
        try:
            message = await self._receive()  # type: ignore[misc]
        except asyncio.CancelledError as exc:
            self._in_receive = False
            if not (self._close_requested and exc.args == (_CLOSE_MSG,)):
                raise  # sse-starlette's task group or the server is cancelling us
            if task is not None:
                task.uncancel()
            return self._end_message()
        self._in_receive = False
        if message["type"] == "http.disconnect":
            self._client_gone = True
        return message

    def _end_message(self) -> Message:
        if getattr(self, "active", False):
            self.active = False
            return _END_MSG
        return _DISCONNECT

    # -- ASGI ---------------------------------------------------------------------------
    # (the frame of __call__ lives as long as the stream, thousands at once: it keeps few
    # locals; opening and ending run in frames of their own that are gone while it streams)
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method", "GET").upper() == "HEAD":
            await super().__call__(scope, receive, send)  # no stream, nothing to track
            return
        manager, watch, lifetime_timer = await self._open(scope)
        self._receive = receive
        errored = False
        try:
            try:
                # the server's own send where nothing per message is counted
                await super().__call__(scope, self._receive_watched, self.watched_send(send))
            except BaseException as exc:
                if not _is_send_timeout(exc):
                    errored = not isinstance(exc, asyncio.CancelledError)
                    raise
                self._send_timed_out()
                raise
            if self._close_requested and not self._client_gone and (
                    not self._observed or (self._started and not self._complete)):
                await self._finish(send)
        finally:
            await self._ended(manager, watch, lifetime_timer, errored)

    async def _open(self, scope: Scope) -> "tuple[ConnectionManager, SocketWatch, asyncio.TimerHandle | None]":
        """Register the stream (before the response head goes out) and start its watch."""
        manager = await resolve_manager(self._source, Request(scope) if self._source is None else None)
        cfg = self._config or manager.config
        self._apply_defaults(cfg)
        lifetime = self._max_lifetime if self._max_lifetime is not None else cfg.MAX_CONNECTION_LIFETIME_SECONDS
        if lifetime:
            lifetime += random.uniform(0.0, cfg.MAX_CONNECTION_LIFETIME_JITTER_SECONDS)

        scope[TRACKED_SCOPE_KEY] = True
        client = scope.get("client") or ("", 0)
        watch = socket_watch(manager)
        self.watch_socket(scope, watch.table, cfg.COUNT_EVENTS)  # kernel counting, or the ASGI send wrapper
        # (nothing of the registration is kept: the registry holds the record's fields)
        self.connection_id = (await manager.register(
            self.connection_id, channel=self.channel, client_address=f"{client[0]}:{client[1]}" if client[0] else "",
            user_agent=_user_agent(scope), activity=self,  # closed by on_removed()
            resumed=_has_header(scope, b"last-event-id"),  # a reconnect (issue 27, core.reconnects)
        )).connection_id
        watch.streams.add(self)
        timer = asyncio.get_running_loop().call_later(lifetime, self.close, "max lifetime") if lifetime else None
        return manager, watch, timer

    def _send_timed_out(self) -> None:
        """Stock re-raises a send timeout (bare, or in an ExceptionGroup before sse-starlette
        3.4); so do we, unchanged. But first drop what is queued for a client that takes
        nothing: the server would otherwise hold the socket (and megabytes) until TCP gives up."""
        self.close_reason = self.close_reason or "send timeout"
        aborted = sockets.abort_connection(self._sock_keys)
        log.info("SSE stream %s closed: send blocked longer than %gs%s", self.connection_id,
                 self.send_timeout, " (connection aborted)" if aborted else "")

    async def _ended(self, manager: "ConnectionManager", watch: SocketWatch,
                     lifetime_timer: asyncio.TimerHandle | None, errored: bool) -> None:
        if lifetime_timer is not None:
            lifetime_timer.cancel()
        watch.streams.discard(self)
        self._receive = None
        self.watch_end(watch.table)  # the final kernel figures, before the totals are counted
        if not self._removed_by_manager:
            why = _CLOSE_REASONS.get(self.close_reason or "",
                                     "error" if errored else "client_gone" if self._client_gone else "other")
            with anyio.move_on_after(_UNREGISTER_TIMEOUT, shield=True):
                await manager.unregister(self.connection_id, why)  # type: ignore[arg-type]

    async def _finish(self, send: Send) -> None:
        """A stream tracking closed (cleanup, max lifetime, close_tracked_streams): end the
        chunked body so the client sees the end and reconnects; abort instead when the
        client is not taking what is already queued (a frozen client would hold it)."""
        if self._removed_by_manager and self._queued:
            return  # a client that takes nothing: reset at the removal (on_removed)
        with anyio.move_on_after(_FINAL_SEND_TIMEOUT) as timer:
            try:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            except Exception:
                # not watched (kernel counting, no send wrapper): the server refuses a body
                # after the response completed (stock >= 3.7.1 ends a stream cut short
                # itself) or before it started (uvicorn: RuntimeError; other servers their
                # own error); nothing was left to end
                if self._observed:
                    raise
                return
            self._complete = True
        if timer.cancel_called:
            sockets.abort_connection(self._sock_keys)


def tracked_event_source(request: Request | None, *args: Any, manager: ManagerSource = None,
                         channel: str = "default", **kwargs: Any) -> TrackedEventSourceResponse:
    """The one-liner for an endpoint: ``tracked_event_source(request, content, ...)`` takes
    what ``EventSourceResponse`` takes. ``manager`` may be a ConnectionManager, an
    SSEProvider, or omitted (then ``request.app.state.sse_manager``, set by
    :func:`core.asgi.sse_lifespan`)."""
    if manager is None and request is not None:
        manager = getattr(request.app.state, "sse_manager", None)
    return TrackedEventSourceResponse(*args, manager=manager, channel=channel, **kwargs)


def _tracked_signature() -> inspect.Signature:
    own = inspect.signature(TrackedEventSourceResponse.__init__).parameters
    params = [_UPSTREAM_SIG.parameters["self"], *_UPSTREAM_PARAMS]
    params += [own[n].replace(kind=inspect.Parameter.KEYWORD_ONLY) for n in _TRACKING_PARAMS]
    return _UPSTREAM_SIG.replace(parameters=params)


TrackedEventSourceResponse.__init__.__signature__ = _tracked_signature()  # type: ignore[attr-defined]


def _helper_signature() -> inspect.Signature:
    params = list(_tracked_signature().parameters.values())[1:]  # without self
    request = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation="Request | None")
    return inspect.signature(tracked_event_source).replace(parameters=[request, *params])


tracked_event_source.__signature__ = _helper_signature()  # type: ignore[attr-defined]


def live_stream_count(manager: "ConnectionManager") -> int:
    """Tracked streams of ``manager`` that are open in this process."""
    return len(live_streams(manager))


async def close_tracked_streams(manager: "ConnectionManager", timeout: float = 5.0,
                                reason: str = "server shutdown") -> int:
    """Close every open tracked stream of ``manager`` and wait (up to ``timeout``) until each
    has ended and unregistered itself. Returns how many were closed. Use before stopping a
    server that runs without signal handlers (an embedded server); under ``uvicorn`` with
    signals sse-starlette's shutdown watcher ends the streams on SIGTERM."""
    streams = list(live_streams(manager))
    for s in streams:
        s.close(reason)
    with anyio.move_on_after(timeout):
        while live_streams(manager):
            await anyio.sleep(0.02)
    return len(streams)
