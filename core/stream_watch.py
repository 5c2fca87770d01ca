"""What a stream sent and what its client took, counted by the kernel where it can.

A stream the socket watch reads is a :class:`WatchedStream` (tracked sse-starlette
streams, :mod:`core.streaming`; any ASGI stream can be one). At its start it asks the
kernel for its TCP connection by its exact address (:meth:`WatchedStream.watch_socket`:
one netlink request answered from the kernel's connection hash, ~20-40 µs, once per
stream). Then:

* **kernel counting** (Linux, a TCP socket the ASGI scope names): ``bytes_sent`` (what the
  server wrote into the connection since the stream started: the response head, the chunk
  framing and the body) and ``progress`` (what the client's TCP stack acknowledged) come
  from ``tcp_info`` at each read of the socket table; no frame of ours runs per message.
  Events are counted only with ``SSE_COUNT_EVENTS`` (a small ``send`` wrapper: one Python
  call per message, its cost is in docs/benchmarks.md; off by default); without it
  ``events_sent`` is None (unknown, never 0: ``/monitoring/connections`` gives the reason)
  and ``/monitoring`` says events are not counted.
* **ASGI counting** (the fallback where the kernel cannot answer: not Linux, a Unix
  socket, a proxy that rewrites the client address, no ``sock_diag``): a ``send`` wrapper
  adds each body's length and counts the frames that are not comment-only.

The interface (also for streams of other frameworks, e.g. an ASGI middleware)::

    watch = socket_watch(manager)              # one per manager: its flush hook reads the table
    stream.watch_socket(scope, watch.table, count_events)   # before the response head goes out
    record = await manager.register(..., activity=stream)   # the registry binds its change set
    watch.streams.add(stream)
    send = stream.watched_send(send)           # the server's own send, or a counting wrapper
    ...                                        # serve the stream with ``send``
    watch.streams.discard(stream); stream.watch_end(watch.table)   # final counts, one lookup

The registry flushes only the streams that marked themselves changed (the socket watch
marks those whose kernel figures moved; the ``send`` wrapper marks its stream), so the
once-a-second flush costs in proportion to activity, not to open streams.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

from starlette.types import Message, Scope, Send

from . import sockets

if TYPE_CHECKING:
    from .manager import ConnectionManager

__all__ = ["Flag", "WatchedStream", "SocketWatch", "socket_watch", "live_streams", "is_ping_frame", "Counting"]

Counting = Literal["kernel", "asgi"]
_COLON = 58  # ord(":")
_KERNEL = 1  # WatchedStream._kernel's bit
_NOWHERE: set[str] = set()  # change marks of a stream no registry watches (one shared, harmless element)


def is_ping_frame(body: bytes) -> bool:
    """True for a comment-only SSE frame (stock's ping ``": ping - <time>"``): every
    non-empty line starts with ``:``. Anything carrying a field (data, event, id, retry)
    is an event."""
    if not body or body[0] != _COLON:
        return False
    for line in bytes(body).splitlines():
        if line and line[0] != _COLON:
            return False
    return True


class Flag:
    """A yes/no attribute kept as one bit of the instance's ``_flags`` int (one slot for all
    of a stream's flags instead of one slot each)."""

    __slots__ = ("bit",)

    def __init__(self, bit: int) -> None:
        self.bit = bit

    def __get__(self, obj: Any, owner: type | None = None) -> bool:
        if obj is None:
            return self  # type: ignore[return-value]  # (the class's attribute: the descriptor)
        return bool(obj._flags & self.bit)

    def __set__(self, obj: Any, on: bool) -> None:
        obj._flags = obj._flags | self.bit if on else obj._flags & ~self.bit


class WatchedStream:
    """A stream whose totals the registry reads at each flush (an ``ActivitySource``).

    ``events_sent`` / ``bytes_sent`` / ``progress`` as in :class:`core.local_streams.ActivitySource`;
    ``counting`` says where the bytes come from. Subclasses call :meth:`_watch_init` in
    their ``__init__`` and provide ``close(reason)`` (shutdown drains the watch's streams)."""

    __slots__ = ("_sock_key", "_flags", "_base_written", "_base_acked", "_acked", "_queued", "events_sent",
                 "bytes_sent", "_changes", "_change_key", "_send")

    # yes/no state in the bits of one slot (a stream class has thousands of instances):
    # bits 0-7 here, 8 and up for subclasses (core.streaming)
    _kernel = Flag(_KERNEL)  # bytes and progress from tcp_info
    _started = Flag(1 << 1)  # http.response.start went out (known only where a wrapper sees the messages)
    _complete = Flag(1 << 2)  # the body's end went out
    _observed = Flag(1 << 3)  # a send wrapper sees every message (else _started/_complete are unknown)

    def _watch_init(self) -> None:
        """The counting state (keeps the subclass's flags: bits 8 and up)."""
        self._flags = getattr(self, "_flags", 0) & ~0xFF
        # the connection's key in the socket table: the one spelling the table uses (bytes),
        # or every spelling it can have while exact lookups are unsupported (a tuple); one
        # object per stream, not a tuple around it (thousands of streams)
        self._sock_key: sockets.Key | tuple[sockets.Key, ...] = ()
        self._base_written = 0  # the connection's bytes before this stream (a kept-alive connection's earlier responses)
        self._base_acked = 0
        self._acked: int | None = None  # bytes the client acknowledged, at the last read (None: unknown)
        self._queued = 0  # bytes waiting in the kernel for the client, at the last read
        self.events_sent: int | None = 0  # None: not counted (kernel counting without SSE_COUNT_EVENTS)
        self.bytes_sent = 0
        self._changes = _NOWHERE
        self._change_key = ""
        self._send: Send | None = None

    @property
    def _sock_keys(self) -> tuple[sockets.Key, ...]:
        """Every key of the stream's connection (what :func:`core.sockets.abort_connection` takes)."""
        k = self._sock_key
        return (k,) if isinstance(k, bytes) else k

    @property
    def counting(self) -> Counting:
        return "kernel" if self._kernel else "asgi"

    @property
    def progress(self) -> int:
        """Kernel counting: bytes the client acknowledged since the stream started. ASGI
        counting: acknowledged bytes if the socket table still matched the connection,
        else the bytes handed to the server."""
        acked = self._acked
        return self.bytes_sent if acked is None else acked

    def track_changes(self, changes: set[str], key: str) -> None:
        """The registry's change set: the stream adds ``key`` to it when its totals move."""
        self._changes, self._change_key = changes, key

    # -- start and end ----------------------------------------------------------------
    def watch_socket(self, scope: Scope, table: sockets.SocketTable, count_events: bool) -> Counting:
        """Find the stream's TCP connection (before the response head is sent)."""
        keys = sockets.keys_for(scope.get("server"), scope.get("client"))
        found = table.lookup(keys) if keys else None
        if found is not None:
            key, st = found
            self._sock_key = key  # the one spelling the table uses
            written = sockets.written(st)
            if written is not None and st.bytes_acked is not None:
                self._kernel = True
                self._base_written, self._base_acked = written, st.bytes_acked
                self._acked = 0
        elif not table.lookups:
            self._sock_key = keys  # lookups unsupported: the dumps may still match it
        if self._kernel and not count_events:
            self.events_sent = None  # unknown: nothing of ours sees the messages
        return self.counting

    def watched_send(self, send: Send) -> Send:
        """What to hand the stream's producer as ``send``: the server's own where the
        kernel counts and events are not counted, else a wrapper (bound method: no
        closure per stream)."""
        self._send = send
        if self.events_sent is None:
            return send
        self._observed = True
        return self._send_events if self._kernel else self._send_counted

    def watch_end(self, table: sockets.SocketTable) -> None:
        """The stream ended: its final kernel figures (one lookup), so the process's totals
        hold every byte; the socket may be gone already (then the last read stands)."""
        self._send = None
        if self._kernel:
            found = table.lookup(self._sock_keys)
            if found is not None:
                self._take(found[1].bytes_acked, found[1].queued)

    def refresh_counts(self, table: sockets.SocketTable | None = None) -> None:
        """Kernel figures as of now for this one stream (a listing of connections)."""
        if self._kernel:
            found = (table or _TABLE).lookup(self._sock_keys)
            if found is not None:
                self._take(found[1].bytes_acked, found[1].queued)

    def _take(self, acked: int | None, queued: int) -> None:
        """A socket-table answer for this stream: store it, mark the stream if it moved."""
        self._queued = queued
        kernel = self._flags & _KERNEL  # (the bit itself: this runs for every stream at every read)
        if acked is None:
            if not kernel and self._acked is not None:
                self._acked = None
                self._changes.add(self._change_key)
            return
        if kernel:
            acked -= self._base_acked
            written = acked + self._base_acked + queued - self._base_written
            if written > self.bytes_sent:
                self.bytes_sent = written
                self._changes.add(self._change_key)
        if acked != self._acked:
            self._acked = acked
            self._changes.add(self._change_key)

    def _lost(self) -> None:
        """The table no longer matched the connection."""
        self._queued = 0
        if not self._kernel and self._acked is not None:
            self._acked = None
            self._changes.add(self._change_key)

    # -- the send wrappers (the hot path: a type check and an addition or two) ----------
    def _send_counted(self, message: Message) -> Awaitable[None]:
        body = message.get("body")
        if body:
            self.bytes_sent += len(body)
            if body[0] != _COLON or not is_ping_frame(body):
                self.events_sent += 1  # type: ignore[operator]  # counted: never None here
            self._changes.add(self._change_key)
            if message.get("more_body"):
                return self._send(message)  # type: ignore[misc]  # an event or a ping: done
        self._watch_message(message)
        return self._send(message)  # type: ignore[misc]

    def _send_events(self, message: Message) -> Awaitable[None]:
        body = message.get("body")
        if body:
            if body[0] != _COLON or not is_ping_frame(body):
                self.events_sent += 1  # type: ignore[operator]  # counted: never None here
                self._changes.add(self._change_key)
            if message.get("more_body"):
                return self._send(message)  # type: ignore[misc]
        self._watch_message(message)
        return self._send(message)  # type: ignore[misc]

    def _watch_message(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self._started = True
        elif kind == "http.response.body" and not message.get("more_body", False):
            self._complete = True


_TABLE = sockets.SocketTable()  # refresh_counts() without a watch at hand


class SocketWatch:
    """One per manager, run by the manager at the start of every flush: ONE read of the
    kernel's socket table for all of its live streams, each stream's figures stored on it
    and the streams whose figures moved marked for the flush.

    Two kinds of read, on a monotonic clock (a wall clock set back must not stop them):

    * a **full read** at most every half activity resolution
      (``SSE_ACTIVITY_RESOLUTION_SECONDS``, default a tenth of the stale threshold; at every
      flush when that is shorter): every stream's acknowledged and queued bytes. The store
      keeps activity only to within that resolution anyway, and decoding thousands of
      connections costs milliseconds. A progress seen late is stamped when it is seen, so
      an idle time errs short by at most half the resolution, never long.
    * between them, a **queue read** every half ``SSE_NOT_READING_SECONDS`` when that is
      shorter (issue 27's not-reading signal, :mod:`core.queues`): the same dump, but only
      the connections with bytes waiting for their client are decoded and handed to their
      stream; a stream whose queue was not empty at the read before and is not reported now
      has an empty queue (or its connection is gone: the next full read says which). A
      stream that keeps up costs such a read one look at its queue, nothing more.

    Kernel-counted bytes are as of the last read that reported the stream (a listing of
    connections asks the kernel again for each local stream it shows)."""

    def __init__(self, streams: "set[Any]", manager: "ConnectionManager",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.streams: set[Any] = streams  # WatchedStream (and, for the tests, anything with its fields)
        self.table = sockets.SocketTable()
        self._manager = weakref.ref(manager)
        self._clock = clock
        self._read_at: float | None = None  # when the table was last read (either kind)
        self._full_at: float | None = None  # when it was last read whole
        self._queued: list[Any] = []  # the streams with bytes queued at the last read

    def due(self) -> Literal["full", "queues"] | None:
        """Which read is due now (and note it as done): None when neither."""
        manager = self._manager()
        if manager is None:
            return None
        now = self._clock()
        # half the activity resolution, or sooner where the not-reading signal needs it (core.queues)
        if self._read_at is not None and 0.0 <= now - self._read_at < manager.socket_read_interval:
            return None
        self._read_at = now
        if self._full_at is not None and 0.0 <= now - self._full_at < manager.activity_resolution / 2:
            return "queues"
        self._full_at = now
        return "full"

    def __call__(self) -> None:
        streams = self.streams
        if not streams or not self.table.available:
            return
        kind = self.due()
        if kind is not None:
            self.read(full=kind == "full")

    def read(self, full: bool = True) -> None:
        """Read the table now and store each stream's acknowledged and queued bytes (a queue
        read, ``full`` False: only of the streams with bytes queued, see the class).

        Each answer goes to its stream as the kernel's dump is decoded (no table of
        answers is built: with thousands of streams that was the largest allocation of a
        flush, and so the process's high-water mark)."""
        streams = self.streams
        wanted: dict[sockets.Key, Any] = {}
        multi = False
        for s in streams:
            k = getattr(s, "_sock_key", None)  # a WatchedStream; other streams: the _sock_keys tuple
            if k is None:
                k = s._sock_keys
            if isinstance(k, bytes):
                wanted[k] = s
            elif k:
                for one in k:
                    wanted[one] = s
                multi = multi or len(k) > 1
        before = self._queued
        queued: list[Any] = []
        if wanted:
            pop, keep = wanted.pop, queued.append

            def found(key: sockets.Key, acked: int | None, waiting: int, _inode: int, _state: int) -> None:
                s = pop(key, None)
                if s is not None:
                    s._take(acked, waiting)
                    if waiting:
                        keep(s)

            self.table.scan(wanted, found, queued_only=not full)  # (unavailable: every stream is lost, as before)
            if full:
                for s in wanted.values():  # not in the table (any more)
                    if multi and any(k not in wanted for k in s._sock_keys):
                        continue  # found under another spelling
                    s._lost()
        self._queued = queued
        manager = self._manager()  # issue 27: each stream's queue, read by read (core.queues)
        if manager is None:
            return
        if full:
            manager.queues.observe(self._clock(), ((s.connection_id, s._acked, s._queued) for s in streams
                                                   if s.connection_id is not None))
            return
        reported = set(queued)  # (every stream a queue read reports has bytes queued)
        emptied = [s for s in before if s not in reported and s in streams]
        for s in emptied:
            s._queued = 0  # queued at the read before, not reported now: nothing waits
        ended = [s.connection_id for s in before if s not in streams and s.connection_id is not None]
        manager.queues.observe(self._clock(), ((s.connection_id, s._acked, s._queued) for s in (*queued, *emptied)
                                               if s.connection_id is not None), partial=True, ended=ended)


_watches: "weakref.WeakKeyDictionary[Any, SocketWatch]" = weakref.WeakKeyDictionary()


def socket_watch(manager: "ConnectionManager") -> SocketWatch:
    """The manager's socket watch (made, and hooked into its flush, on first use)."""
    watch = _watches.get(manager)
    if watch is None:
        watch = _watches[manager] = SocketWatch(set(), manager)
        add_hook = getattr(manager, "add_flush_hook", None)
        if add_hook is not None:
            add_hook(watch)
    return watch


def live_streams(manager: "ConnectionManager") -> set[Any]:
    """The manager's watched streams open in this process (empty if none ever opened)."""
    watch = _watches.get(manager)
    return watch.streams if watch is not None else set()
