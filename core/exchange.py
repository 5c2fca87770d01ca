"""A stream core.middleware tracks: one request whose response turned out to be an event stream.

The middleware hands every request one ``send`` (a bound method over a small state list:
a request that is not a stream costs nothing more). At ``http.response.start`` it decides,
once: a ``content-type`` of ``text/event-stream`` (status 2xx, not for ``HEAD``, not a
response that tracks itself: ``core.streaming``'s marks the scope) makes an
:class:`Exchange`, which takes every later message; anything else is handed straight
through from then on (the server's own send).
A stream::

    http.response.start ──► manager.register(activity=self, on_close=...)   (before the headers go out)
       │
       ├─ every body frame ──► bytes_sent += n; events_sent += 1 unless comment-only (a ping)
       ├─ a keep-alive comment (": ping") every ping interval, from a task of its own
       ├─ the manager's flush: the socket watch (core.streaming.manager_streams) stores the
       │    bytes the client's TCP stack acknowledged (progress), as for a tracked response
       │
       └─ ends on: the app returns | client gone | app error | cancellation | close()
          ──► ended(): manager.unregister(id) in a shielded block (skipped when the manager removed it)

A close from our side (cleanup, the dashboard's disconnect, a drain on shutdown, the maximum
lifetime) cancels the task that streams the response, which is what these frameworks do
themselves when the client leaves (Django cancels its response task, Starlette and
Litestar their task group); frames the app sends after the close are dropped. Then the
chunked body is ended with the terminating chunk, or the connection is aborted (RST) when
its client is not taking what is already queued. The app's ``receive`` is never wrapped: a
stream whose app returns without completing its response stopped because its client left.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio
from starlette.types import Message, Scope, Send

from . import sockets
from .streaming import is_ping_frame, manager_streams

if TYPE_CHECKING:
    from .manager import ConnectionManager

__all__ = ["Exchange", "is_event_stream"]

log = logging.getLogger("sse")

_UNREGISTER_TIMEOUT = 5.0
_FINAL_SEND_TIMEOUT = 1.0
_COLON = 58  # ord(":")
_PING = b": ping\r\n\r\n"
_EVENT_STREAM = b"text/event-stream"
_END: Message = {"type": "http.response.body", "body": b"", "more_body": False}
_CLOSE_REASONS = {"max lifetime": "max_lifetime", "server shutdown": "shutdown"}
_current_task = asyncio.current_task



def is_event_stream(message: Message) -> bool:
    """True for an ``http.response.start`` of a 2xx ``text/event-stream`` response (header
    names compared case-insensitively: Django keeps the case it was given). On every
    response's start: the common spellings are tried first, without a copy."""
    for name, value in message.get("headers") or ():
        if name == b"content-type" or (len(name) == 12 and name.lower() == b"content-type"):
            if not value.startswith(_EVENT_STREAM) and (value[:1] not in b"tT" or bytes(value[:17]).lower() != _EVENT_STREAM):
                return False
            status = message.get("status", 200)
            return bool(200 <= status < 300)
    return False


async def _dropped() -> None:
    return None


# the middleware's answer for a request whose response is a stream: (manager, channel,
# ping interval, lifetime; 0: none)
Opener = Callable[[Scope], Awaitable[tuple["ConnectionManager", str, float, float]]]


class Exchange:
    """A request whose response turned out to be a stream (made at its ``http.response.start``
    by the middleware's per-request send wrapper, which hands every later message to it): an
    :class:`~core.local_streams.ActivitySource` the socket watch reads (``_sock_keys``, ``_take``, ``_lost``)."""

    __slots__ = ("_scope", "_send", "_opener", "_task", "_forced", "_lifetime_timer", "_manager", "_pinger", "channel",
                 "connection_id", "close_reason", "_closing", "_complete", "_removed_by_manager", "_sock_keys", "_acked",
                 "_queued", "events_sent", "bytes_sent")

    def __init__(self, scope: Scope, send: Send, opener: Opener, task: asyncio.Task[object] | None) -> None:
        self._scope = scope
        self._send = send
        self._opener = opener  # the middleware: where and how to track it
        self._task = task  # the task that started the response (the request's, or a framework's child task)
        self._forced = False  # close() cancelled it
        self._lifetime_timer: asyncio.TimerHandle | None = None
        self._manager: ConnectionManager | None = None  # set once registered
        self._pinger: asyncio.Task[None] | None = None
        self.channel = ""
        self.connection_id: str | None = None
        self.close_reason: str | None = None
        self._closing = False
        self._complete = False  # the app (or we) sent the end of the body
        self._removed_by_manager = False
        self._sock_keys: tuple[sockets.Key, ...] = ()
        self._acked: int | None = None  # bytes the client acknowledged, at the last socket-table read
        self._queued = 0  # bytes waiting in the kernel for the client, at the last read
        self.events_sent = 0  # event frames handed to the server (read by the manager at each flush)
        self.bytes_sent = 0  # body bytes of events and pings handed to the server

    @property
    def is_registered(self) -> bool:
        """Registered with a manager: ended() must run on every way out."""
        return self._manager is not None

    @property
    def progress(self) -> int:
        """Bytes the client acknowledged (the socket table) or, where unknown, bytes handed over."""
        acked = self._acked
        return self.bytes_sent if acked is None else acked

    # -- the socket watch's answers (core.stream_watch.SocketWatch.read, once per flush) ---------
    def _take(self, acked: int | None, queued: int) -> None:
        self._acked, self._queued = acked, queued

    def _lost(self) -> None:
        self._acked, self._queued = None, 0

    # -- the stream's side of the send wrapper (the hot path: no coroutine of ours per frame) ----
    def send(self, message: Message) -> Awaitable[None]:
        if self._closing:
            return _dropped()  # we are ending the stream: its goodbye is ours
        body = message.get("body")
        if body:
            self.bytes_sent += len(body)
            if body[0] != _COLON or not is_ping_frame(body):
                self.events_sent += 1
            if message.get("more_body"):
                return self._send(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self._complete = True
        return self._send(message)

    # -- opening, ending -------------------------------------------------------------------------
    async def opening(self, message: Message) -> None:
        """Register before the headers go out, then start the keep-alive pings."""
        scope = self._scope
        manager, self.channel, ping, lifetime = await self._opener(scope)
        client = scope.get("client") or ("", 0)
        self._sock_keys = sockets.keys_for(scope.get("server"), scope.get("client"))
        agent = b""
        resumed = False  # the client sent Last-Event-ID: a reconnect (core.reconnects)
        for name, value in scope.get("headers") or ():
            if name == b"user-agent":
                agent = value
            elif name == b"last-event-id":
                resumed = True
        record = await manager.register(
            None, channel=self.channel, client_address=f"{client[0]}:{client[1]}" if client[0] else "",
            user_agent=agent.decode("latin-1"), on_close=self.on_manager_close, activity=self, resumed=resumed)
        self.connection_id = record.connection_id
        self._manager = manager
        manager_streams(manager).add(self)
        loop = asyncio.get_running_loop()
        if lifetime:
            self._lifetime_timer = loop.call_later(lifetime, self.close, "max lifetime")
        await self._send(message)
        if ping > 0:
            self._pinger = loop.create_task(self._ping(ping), name="sse-middleware-ping")

    async def ended(self, exc: BaseException | None) -> bool:
        """The app returned (``exc`` None) or raised ``exc``: end the body if we are closing the
        stream, and unregister (every way out). True when ``exc`` was our own doing (close()
        cancelled the stream, or the app failed while we ended it): swallow it."""
        ours = errored = False
        task = self._task
        try:
            if isinstance(exc, asyncio.CancelledError):
                # ours only when close() cancelled it and nothing else did too
                ours = self._forced and task is not None and task.uncancel() == 0
            elif exc is not None:
                ours = self._closing  # an app that fails while we end it has not failed
                errored = not ours
            if self._forced and task is _current_task() and task is not None and task.cancelling():
                task.uncancel()  # the app turned our cancellation into an ending of its own: it was ours
            if (exc is None or ours) and self._closing and not self._complete:
                await self._finish()
        finally:
            if self._manager is not None:
                await self._ended(self._manager, errored)
        return ours

    async def _ended(self, manager: "ConnectionManager", errored: bool) -> None:
        if self._lifetime_timer is not None:
            self._lifetime_timer.cancel()
        if self._pinger is not None:
            self._pinger.cancel()
        manager_streams(manager).discard(self)
        if not self._removed_by_manager and self.connection_id is not None:
            # an app that returned without ending its body stopped because its client left
            gone = not self._complete and not self._closing
            why = _CLOSE_REASONS.get(self.close_reason or "", "error" if errored else "client_gone" if gone else "other")
            with anyio.move_on_after(_UNREGISTER_TIMEOUT, shield=True):
                await manager.unregister(self.connection_id, why)

    async def _finish(self) -> None:
        """End the chunked body so the client sees the end and reconnects; abort instead when
        the client is not taking what is already queued (a frozen client would hold it)."""
        if self._removed_by_manager and self._queued:
            return  # reset at the removal (on_manager_close)
        with anyio.move_on_after(_FINAL_SEND_TIMEOUT) as timer:
            await self._send(_END)
            self._complete = True
        if timer.cancel_called:
            sockets.abort_connection(self._sock_keys)

    async def _ping(self, interval: float) -> None:
        """A keep-alive comment every ``interval`` seconds while the stream is open."""
        try:
            while True:
                await asyncio.sleep(interval)
                if self._closing or self._complete:
                    return
                self.bytes_sent += len(_PING)
                await self._send({"type": "http.response.body", "body": _PING, "more_body": True})
        except Exception:  # noqa: BLE001 - the response ended under us (client gone, app done): stop
            return

    # -- closing from our side ------------------------------------------------------------------
    def close(self, reason: str = "closed") -> None:
        """End the stream now (from any task of this event loop): its streaming task is
        cancelled, as its framework would on a client's disconnect."""
        if self.close_reason is None:
            self.close_reason = reason
        if self._closing or self._manager is None:
            return
        self._closing = True
        task = self._task
        if task is not None and not task.done() and task is not _current_task():
            self._forced = True
            task.cancel()

    def on_manager_close(self) -> None:
        """The manager removed us from the store already (cleanup, the dashboard's disconnect, stop)."""
        self._removed_by_manager = True
        if self._queued:
            sockets.abort_connection(self._sock_keys)  # a client that takes nothing: reset it now
        self.close("removed by manager")
