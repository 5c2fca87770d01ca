"""The early frozen signal (issue 27): each stream's kernel send queue, and whether its
client still reads.

A client that stops reading (a frozen tab, a laptop lid closed, a half-open TCP) is seen
by cleanup only once it crosses the stale threshold, minutes later. The kernel knows much
sooner: once the client's receive window is full it stops acknowledging, and the bytes
the server hands it wait in the send queue. The socket table (:mod:`core.sockets`, read
once per flush by ``core.streaming``'s socket watch) gives each stream's queued and
acknowledged bytes; :class:`QueueWatch` follows them from read to read:

* **stuck**: bytes are queued and the client acknowledged nothing since the last read;
* **falling behind**: the queue grew at every read and holds at least
  :data:`BEHIND_MIN_BYTES` (the client reads, slower than the server writes).

A stream stuck, or falling behind, for ``SSE_NOT_READING_SECONDS`` is flagged *not
reading*. A client that reads slowly but keeps up acknowledges between reads: never
flagged. Unknown is not zero: a stream whose socket the table does not show (not Linux,
behind a proxy that rewrites the client address) has an unknown queue (``None``).

Each worker publishes what it saw after every table read to ``{ns}:queues:<worker>``
(expiring: a dead worker's view vanishes with it); ``/monitoring/connections`` and
``/monitoring/connections/{id}`` join it to the records (:func:`annotate`), so any worker,
and ``sse-dash --redis``, shows every worker's streams.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .loops import cancel
from .models import ConnectionRecord
from .store.base import StateStore, StoreUnavailable

__all__ = ["BEHIND_MIN_BYTES", "QueueState", "QueueWatch", "annotate", "parse_published", "publish_body"]

log = logging.getLogger("sse")

BEHIND_MIN_BYTES = 64 * 1024  # a growing queue smaller than this is in-flight data, not a client falling behind
MAX_LISTED = 2000  # streams with a queue listed per worker (the largest first); the rest: unknown
MAX_UNKNOWN = 500  # streams whose socket was not found, listed by id; beyond: the rest unknown too
FRESH_READS = 3.0  # a published view older than this many read intervals is unknown


# one stream's queue between reads: (bytes acknowledged, bytes queued, since when bytes wait
# and nothing was acknowledged (monotonic; None: not stuck), since when the queue grew at
# every read (None: not growing), bytes the queue grew by since the read before). A plain
# tuple of numbers, not an object: thousands are made at every read of the socket table and
# live until the next one; the cyclic collector stops tracking such tuples, where objects
# alive across collections were promoted and brought the next full collection sooner
_Track = tuple[int, int, float | None, float | None, int]


@dataclass(frozen=True, slots=True)
class QueueState:
    """One stream's queue as last read: bytes waiting, their growth since the read before,
    how long the client has not been reading (None: it reads), and the flag."""

    queued: int
    growth: int
    not_reading_for: float | None
    not_reading: bool


class QueueWatch:
    """This worker's streams' queues, read by read. ``observe`` is called by the socket
    watch after each read of the table (``now``: monotonic); ``publish`` runs in a task of
    its own after each observation (one SET per read; nothing when the table is unread)."""

    def __init__(self, store: StateStore, worker_id: str, *, not_reading_seconds: Callable[[], float],
                 read_interval: Callable[[], float], fleet_now: Callable[[], float]) -> None:
        self.store = store
        self.worker_id = worker_id
        self.not_reading_seconds = not_reading_seconds
        self.read_interval = read_interval
        self.fleet_now = fleet_now
        self._tracks: dict[str, _Track] = {}
        self._unknown: list[str] = []
        self._now: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._dirty = False

    def observe(self, now: float, states: Iterable[tuple[str | None, int | None, int]], *,
                partial: bool = False, ended: Iterable[str] = ()) -> None:
        """One read of the table: (connection id, bytes acknowledged or None when the socket
        was not found, bytes queued) per live stream. ``partial`` (a queue read,
        core.stream_watch.SocketWatch): only the streams with bytes queued now or at the read
        before; every other stream keeps what the last read saw of it (an empty queue), the
        streams not found stay as the last full read found them, and ``ended`` (streams
        queued at the read before that ended since) are forgotten."""
        old, before = self._tracks, self._now
        new: dict[str, _Track] = dict(old) if partial else {}
        unknown: list[str] = list(self._unknown) if partial else []
        for gone in ended:
            new.pop(gone, None)
        for cid, acked, queued in states:
            if cid is None:
                continue
            if acked is None:
                unknown.append(cid)
                continue
            was = old.get(cid)
            if was is None:
                new[cid] = (acked, queued, now if queued > 0 else None, None, 0)
                continue
            was_acked, was_queued, was_stuck, was_growing, _ = was
            growth = queued - was_queued
            since = before if before is not None else now  # nothing acknowledged since the read before
            stuck = None if queued <= 0 or acked != was_acked else (since if was_stuck is None else was_stuck)
            growing = (since if was_growing is None else was_growing) if growth > 0 else None
            new[cid] = (acked, queued, stuck, growing, growth)
        self._tracks, self._unknown, self._now = new, unknown, now
        self._schedule()

    def state(self, connection_id: str) -> QueueState | None:
        """What the last read saw of one of this worker's streams (None: not seen)."""
        t = self._tracks.get(connection_id)
        if t is None or self._now is None:
            return None
        return self._judge(t, self._now)

    def _judge(self, t: _Track, now: float) -> QueueState:
        n = self.not_reading_seconds()
        _, queued, stuck_since, growing_since, growth = t
        stuck = now - stuck_since if stuck_since is not None else None
        behind = now - growing_since if growing_since is not None and queued >= BEHIND_MIN_BYTES else None
        worst = max((d for d in (stuck, behind) if d is not None), default=None)
        return QueueState(queued, growth, worst, worst is not None and worst >= n)

    def view(self) -> dict[str, QueueState]:
        """Every stream with bytes waiting, as last judged."""
        now = self._now
        if now is None:
            return {}
        return {cid: self._judge(t, now) for cid, t in self._tracks.items() if t[1] > 0}

    # -- publishing ------------------------------------------------------------------
    def _schedule(self) -> None:
        self._dirty = True
        if self._task is None or self._task.done():
            try:
                self._task = asyncio.get_running_loop().create_task(self._publish(), name="sse-queues")
            except RuntimeError:  # no running loop (a synchronous test): nothing to publish to
                self._task = None

    async def _publish(self) -> None:
        while self._dirty:
            self._dirty = False
            body = publish_body(self.view(), self._unknown, self.fleet_now(), len(self._tracks))
            ttl = max(FRESH_READS * self.read_interval(), 3.0)
            try:
                await self.store.put_queues(self.worker_id, body, ttl)
            except StoreUnavailable:
                return  # the registry's flushes judge the store; the next read publishes again
            except Exception:  # a view that is not published is only unknown
                log.exception("SSE could not publish the streams' send queues")
                return

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel(task)


def publish_body(view: Mapping[str, QueueState], unknown: Sequence[str], at: float, seen: int) -> str:
    """The published form of a worker's view: ``at`` (fleet clock), ``s`` (connection id ->
    [queued, growth, not reading for (s) or null, flag 0/1], the largest queues first, at most
    :data:`MAX_LISTED`), ``u`` (ids whose socket was not found) and ``z`` (true: a stream of
    this worker that is listed nowhere has an empty queue; false: lists were cut, unknown)."""
    ranked = sorted(view.items(), key=lambda kv: -kv[1].queued)
    listed = {cid: [q.queued, q.growth, None if q.not_reading_for is None else round(q.not_reading_for, 1),
                    int(q.not_reading)] for cid, q in ranked[:MAX_LISTED]}
    complete = len(ranked) <= MAX_LISTED and len(unknown) <= MAX_UNKNOWN
    return json.dumps({"at": round(at, 3), "s": listed, "u": list(unknown[:MAX_UNKNOWN]), "z": complete, "n": seen},
                      separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Published:
    at: float
    streams: dict[str, list[Any]]
    unknown: frozenset[str]
    complete: bool


def parse_published(body: str | None) -> Published | None:
    """A worker's published view (None: none, or not readable)."""
    if not body:
        return None
    try:
        d = json.loads(body)
        return Published(float(d["at"]), {str(k): list(v) for k, v in dict(d["s"]).items()},
                         frozenset(map(str, d.get("u", ()))), bool(d.get("z", False)))
    except (ValueError, KeyError, TypeError):
        return None


def annotate(rec: ConnectionRecord, views: Mapping[str, Published | None], now: float, max_age: float,
             not_reading_seconds: float) -> ConnectionRecord:
    """``rec`` with its queue from its worker's published view (``views``: worker id ->
    view). Unknown (None fields) when the worker published none, or none newer than
    ``max_age``, or the stream is not in its lists."""
    view = views.get(rec.worker_id)
    if view is None or now - view.at > max_age:
        return rec
    got = view.streams.get(rec.connection_id)
    if got is not None:
        queued, growth, behind, flag = (got + [None, None, None, 0])[:4]
        return rec.model_copy(update={
            "queued_bytes": int(queued), "queue_growth_bytes": int(growth) if growth is not None else None,
            "not_reading_seconds": behind, "not_reading": bool(flag) or (behind is not None
                                                                       and behind >= not_reading_seconds),
            "queue_at": view.at})
    if rec.connection_id in view.unknown or not view.complete or rec.connected_at > view.at:
        return rec  # not seen by that read (its socket not found, lists cut, or it connected since)
    return rec.model_copy(update={"queued_bytes": 0, "queue_growth_bytes": 0, "not_reading_seconds": None,
                                  "not_reading": False, "queue_at": view.at})
