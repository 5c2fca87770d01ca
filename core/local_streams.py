"""The streams this process serves: their records, how to close them, what they sent.

PURE bookkeeping (no store, no clock of its own): :class:`LocalStreams` is the id -> stream
table the registry writes behind to the store, with the process's own counters (opened,
closed by reason, events and bytes: the ``sse_pod_*`` metrics, safe to ``sum()`` over
pods), and what one flush writes of the streams' activity.
"""

from __future__ import annotations

import inspect
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from .models import ConnectionRecord, Touch

__all__ = ["CLOSE_REASONS", "ActivitySource", "Counts", "LocalStream", "LocalStreams", "OnClose", "Origin", "PodStats", "new_connection_id", "shared"]

log = logging.getLogger("sse")

OnClose = Callable[[], Awaitable[None] | None]
MAX_CHANNEL = 256  # characters stored of client-controlled fields
MAX_CLIENT = 256
MAX_USER_AGENT = 256
MAX_CONNECTION_ID = 128
CLOSE_REASONS = ("client_gone", "stale", "removed_elsewhere", "operator", "shutdown", "max_lifetime",
                 "send_timeout", "error", "other")


def new_connection_id() -> str:
    """12 URL-safe characters (72 random bits): unique across a fleet's live connections (a
    collision among a million has odds of about 1e-10). Twelve is what fits Redis's smallest
    string allocation (16 bytes with its header), once in each of the two sorted sets."""
    return secrets.token_urlsafe(9)


class ActivitySource(Protocol):
    """A stream's own running totals, read by the manager at each flush instead of a
    ``touch()`` per send (the tracked stream's hot path is then two integer additions).

    ``events_sent`` / ``bytes_sent`` are counted into the store. ``progress`` is what
    liveness is judged by: any change since the last flush is activity at the flush time.
    A source that can see what the client really took (the kernel's send queue) reports
    that; otherwise ``progress`` is simply ``bytes_sent``."""

    bytes_sent: int

    @property
    def events_sent(self) -> int | None:  # None: not counted (unknown, never 0; core.models.EVENTS_NOT_COUNTED)
        ...

    @property
    def progress(self) -> int: ...


class Removable(Protocol):
    """An :class:`ActivitySource` registered without ``on_close`` may say how to close it:
    ``on_removed()`` is called when the manager removed its connection (cleanup, an
    operator, removed elsewhere, shutdown with ``close_streams``)."""

    def on_removed(self) -> Awaitable[None] | None: ...


class ChangeMarking(Protocol):
    """An :class:`ActivitySource` that says when its totals moved (``core.stream_watch.WatchedStream``):
    given the table's change set and its key at registration, it adds the key whenever
    ``progress``, ``events_sent`` or ``bytes_sent`` changes. A flush then reads only the
    marked sources; a source without ``track_changes`` is read at every flush."""

    def track_changes(self, changes: set[str], key: str) -> None: ...


@dataclass(frozen=True, slots=True)
class PodStats:
    """This process's own streams and counters (Prometheus: safe to ``sum()`` over pods)."""

    connections: int
    opened: int
    closed: dict[str, int]  # by reason (CLOSE_REASONS)
    events_sent: int | None  # None: some stream's events were not counted (SSE_COUNT_EVENTS off): the total is unknown
    bytes_sent: int


# (events, bytes) not yet counted into the store: plain tuples of ints, which the cyclic
# collector stops tracking, where lists (thousands at a counts flush, alive across its
# round trip) were promoted to the oldest generation and brought full collections sooner
Counts = tuple[int, int]
# a record's fields, flat: worker_id, host, pid, channel, client_address, user_agent, connected_at, last_activity
RecordFields = tuple[str, str, int, str, str, str, float, float]
Origin = tuple[str, str, int]  # worker_id, host, pid: one tuple for all of a worker's streams

_SHARED_MAX = 1024
_shared_strings: dict[str, str] = {}
_origins: dict[Origin, Origin] = {}


def shared(value: str) -> str:
    """One string object for a value many streams repeat (a user agent, a channel): each
    stream keeps a reference, not its own copy (a browser's user agent is ~120 characters,
    ~170 bytes a copy). At most 1,024 distinct values are kept; beyond, values are their own."""
    got = _shared_strings.get(value)
    if got is not None:
        return got
    if len(_shared_strings) < _SHARED_MAX:
        _shared_strings[value] = value
    return value


def _origin(worker_id: str, host: str, pid: int) -> Origin:
    key = (worker_id, host, pid)
    got = _origins.get(key)
    if got is None:
        if len(_origins) >= 64:
            _origins.clear()
        got = _origins[key] = key
    return got


@dataclass(slots=True)
class LocalStream:
    """One stream this process serves, and what the store has heard of it.

    The record is kept flat in slots, not as a pydantic model: a model per open stream
    cost about 1.2 KB of the process's memory for every stream (its instance dict and
    fields-set), a tuple of its fields another ~100 bytes; the worker's own fields
    (worker id, host, pid) are one tuple shared by all of its streams. :attr:`record`
    builds a model when one is needed (registration, re-registration after store trouble)."""

    connection_id: str
    origin: Origin
    channel: str
    client_address: str
    user_agent: str
    connected_at: float
    registered_activity: float  # the record's last_activity as registered
    on_close: OnClose | None
    last_touch: float = 0.0  # latest local activity, so a resync never re-registers a live stream as stale
    activity: ActivitySource | None = None
    seen_progress: int = 0  # activity.progress at the last flush
    flushed_events: int = 0  # activity totals already counted into a store flush
    flushed_bytes: int = 0
    stored: bool = False  # the store confirmed it holds this connection
    stored_activity: float = 0.0  # the activity time the store holds (rewritten only past the resolution)
    sent: bool = False  # a registration was sent (its outcome may be unknown after a failure)

    @classmethod
    def of(cls, record: ConnectionRecord, on_close: OnClose | None) -> LocalStream:
        r = record
        return cls(r.connection_id, _origin(r.worker_id, r.host, r.pid), shared(r.channel), r.client_address,
                   shared(r.user_agent), r.connected_at, r.last_activity, on_close)

    @property
    def fields(self) -> RecordFields:
        """The record's fields as a tuple (a new one at each call)."""
        w, h, p = self.origin
        return (w, h, p, self.channel, self.client_address, self.user_agent, self.connected_at,
                self.registered_activity)

    @property
    def record(self) -> ConnectionRecord:
        """The stream's record as registered (a new model at each call: keep it no longer than needed)."""
        w, h, p = self.origin
        return ConnectionRecord.model_construct(connection_id=self.connection_id, worker_id=w, host=h, pid=p,
                                                channel=self.channel, client_address=self.client_address,
                                                user_agent=self.user_agent, connected_at=self.connected_at,
                                                last_activity=self.registered_activity, bytes_sent=0, counts_at=None,
                                                events_sent=None if self.activity is not None
                                                and self.activity.events_sent is None else 0)


class LocalStreams(dict[str, LocalStream]):
    """connection id -> :class:`LocalStream`, plus the counters of streams that ended."""

    def __init__(self) -> None:
        super().__init__()
        self.opened = 0
        self.closed: dict[str, int] = dict.fromkeys(CLOSE_REASONS, 0)
        self.gone_events = 0  # totals of streams that ended (live ones are read from their sources)
        self.events_not_counted = 0  # streams opened whose events were not counted: the events total is unknown
        self.gone_bytes = 0
        # what a flush walks: ids whose source marked a change since the last flush (the
        # set object is handed to the sources: cleared in place, never replaced), ids
        # changed since the last flush that sent counts, and the sources that cannot mark
        self.changed: set[str] = set()
        self.uncounted: set[str] = set()
        self.polled: set[str] = set()
        self.stored_count = 0  # entries with ``stored`` (kept as they come and go: no walk per flush)
        # told of every stream the fleet removed, before it is closed (the manager's reconnect meter)
        self.on_removal: Callable[[LocalStream], None] | None = None

    def add(self, entry: LocalStream) -> None:
        cid = entry.connection_id
        self.pop(cid, None)  # (the same id again: its counters are the new entry's)
        self[cid] = entry
        self.opened += 1
        if entry.stored:
            self.stored_count += 1
        src = entry.activity
        if src is not None and src.events_sent is None:
            self.events_not_counted += 1
        track = getattr(src, "track_changes", None) if src is not None else None
        if track is not None:
            track(self.changed, cid)
        elif src is not None:
            self.polled.add(cid)

    def mark_stored(self, entry: LocalStream) -> None:
        """The store holds this stream now."""
        if not entry.stored:
            entry.stored = True
            if self.get(entry.connection_id) is entry:
                self.stored_count += 1

    def pop(self, cid: str, default: LocalStream | None = None) -> LocalStream | None:  # type: ignore[override]
        entry = super().pop(cid, None)
        if entry is None:
            return default
        if entry.stored:
            self.stored_count -= 1
        self.polled.discard(cid)
        return entry

    def clear(self) -> None:
        super().clear()
        self.stored_count = 0
        self.polled.clear()
        self.changed.clear()
        self.uncounted.clear()

    def ended(self, entry: LocalStream | None, reason: str) -> None:
        """Count a stream that left the table (``reason``: one of CLOSE_REASONS, else "other")."""
        if entry is None:
            return
        self.closed[reason if reason in self.closed else "other"] += 1
        src = entry.activity
        if src is not None:
            self.gone_events += src.events_sent or 0
            self.gone_bytes += src.bytes_sent

    def counting(self) -> dict[str, int]:
        """Open streams by where their bytes and progress are counted (a source's ``counting``:
        "kernel" or "asgi"; "other" for the rest)."""
        out = {"kernel": 0, "asgi": 0, "other": 0}
        for e in self.values():
            how = getattr(e.activity, "counting", "other")
            out[how if how in out else "other"] += 1
        return out

    def pod_stats(self) -> PodStats:
        ev, by = self.gone_events, self.gone_bytes
        for e in self.values():
            if e.activity is not None:
                ev += e.activity.events_sent or 0
                by += e.activity.bytes_sent
        return PodStats(connections=len(self), opened=self.opened, closed=dict(self.closed),
                        events_sent=None if self.events_not_counted else ev, bytes_sent=by)

    def pull_activity(self, active: dict[str, float], counts: dict[str, Counts] | None,
                      now: Callable[[], float]) -> None:
        """Fold the streams' own totals into a flush: a stream that made progress since
        the last flush is active ``now()``; with ``counts``, the events/bytes not yet counted.
        Walks only the streams that marked a change (and those that cannot mark): the cost
        follows activity, not the number of open streams."""
        t: float | None = None  # read once, and only if some stream sent anything
        changed = self.changed
        if self.polled:
            changed.update(self.polled)
        get = self.get
        for cid in changed:
            entry = get(cid)
            if entry is None or entry.activity is None:
                continue
            pr = entry.activity.progress
            if pr != entry.seen_progress:
                entry.seen_progress = pr
                if t is None:
                    t = now()
                if active.get(cid, 0.0) < t:
                    active[cid] = t
        uncounted = self.uncounted
        uncounted.update(changed)
        changed.clear()
        if counts is None:
            return
        for cid in uncounted:
            entry = get(cid)
            if entry is None or (src := entry.activity) is None:
                continue
            ev, by = src.events_sent or 0, src.bytes_sent  # (None: not counted, nothing to add)
            d_ev, d_by = ev - entry.flushed_events, by - entry.flushed_bytes
            if d_ev or d_by:
                entry.flushed_events, entry.flushed_bytes = ev, by
                c = counts.get(cid)
                counts[cid] = (d_ev, d_by) if c is None else (c[0] + d_ev, c[1] + d_by)
        uncounted.clear()

    def touches(self, active: dict[str, float], counts: dict[str, Counts],
                resolution: float) -> tuple[dict[str, Touch], dict[str, Counts]]:
        """What one flush writes of the batched ``active`` times and ``counts`` (emptied):
        a stored stream's counts, and its activity when it moved past ``resolution`` from
        what the store holds. Returns (touches, counts of streams not stored yet)."""
        pending: dict[str, Touch] = {}
        unstored: dict[str, Counts] = {}
        for cid, at in active.items():
            entry = self.get(cid)
            if entry is None:
                continue
            entry.last_touch = at
            c = counts.pop(cid, None)
            if entry.stored:
                if c:
                    pending[cid] = Touch(at, c[0], c[1])
                elif at - entry.stored_activity >= resolution:
                    pending[cid] = Touch(at)
                # else the store's time is within the declared resolution: nothing to write
            elif c:
                unstored[cid] = c
        for cid, c in counts.items():  # counts of connections with no activity since the last flush
            entry = self.get(cid)
            if entry is not None and entry.stored:
                pending[cid] = Touch(max(entry.last_touch, entry.registered_activity), c[0], c[1])
            elif entry is not None:
                unstored[cid] = c
        return pending, unstored

    async def close(self, entry: LocalStream) -> bool:
        """The fleet removed the stream: tell ``on_removal``, then close it (its ``on_close``,
        else its activity source's ``on_removed``); False when that failed (logged)."""
        if self.on_removal is not None:
            self.on_removal(entry)
        close = entry.on_close
        if close is None:
            close = getattr(entry.activity, "on_removed", None)  # a WatchedStream: no bound method kept per stream
            if close is None:
                return True
        try:
            res = close()
            if inspect.isawaitable(res):
                await res
            return True
        except Exception:
            log.exception("SSE cleanup could not close stream %s", entry.connection_id)
            return False
