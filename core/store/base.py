"""The one StateStore protocol that both stores implement.

Semantics every implementation honours (the contract suite in tests/core checks them):

* A connection's age classes are :mod:`core.classify`'s (stale when ``last_activity < now -
  stale_threshold``; long-lived / very old when ``connected_at < now - long_lived`` /
  ``very_old``): the stores ask their indexes for :func:`core.classify.state_range`.
* Every removal (unregister, stale cleanup, reaping a dead worker) is atomic: a
  connection removed twice at once is removed, and counted, once. The counter never
  goes below zero.
* Errors of the backend are translated once, here: :class:`StoreUnavailable`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from ..classify import AgeCut, cut
from ..history import HistorySample, Point, Tier
from ..liveness import Epoch
from ..models import AgeCounts, CleanupCounters, ConnectionRecord, FleetEvent, Touch, WorkerHeartbeat

StoreProblem = Literal["unreachable", "refusing_writes", "error"]


class StoreUnavailable(RuntimeError):
    """The state store cannot be reached, refuses writes, or answered with an error.

    ``state`` says which (``unreachable``, ``refusing_writes``, ``error``); the message is
    safe to show anywhere: it never holds a password, a token or the store's address."""

    def __init__(self, message: str, state: StoreProblem = "unreachable") -> None:
        super().__init__(message)
        self.state: StoreProblem = state


@dataclass(frozen=True, slots=True)
class Census:
    """Counts from one round trip: the four age classes, the counter, the age histogram."""

    ages: AgeCounts
    counter: int | None  # None: the counter holds something that is not a count (bad data)
    older_than: list[int]  # connections with age >= edges[i]
    bad_data: tuple[str, ...] = ()  # "key: what is wrong", for keys skipped while reading


@dataclass(frozen=True, slots=True)
class FleetRead:
    """Everything a monitoring snapshot needs from the store, read together."""

    census: Census
    counters: CleanupCounters
    workers: list[WorkerHeartbeat]
    events: list[FleetEvent]
    bad_data: tuple[str, ...] = ()
    epoch: Epoch | None = None  # the registry's generation (None: none: empty namespace, or the store lost it)


@dataclass(frozen=True, slots=True)
class Cut:
    """One cut stream as stored."""

    client: str
    channel: str
    user_agent: str
    connected_at: float


@dataclass(frozen=True, slots=True)
class BlastRead:
    """One event's record as the store holds it: the cut streams and the clients back
    (client key -> the seconds after the cut of each of its comebacks, earliest first; a key
    may hold more comebacks than it had streams cut: core.blast.summarize counts no more)."""

    cut_at: float
    window: float
    cut_total: int
    cuts: tuple[Cut, ...]
    back: Mapping[str, tuple[float, ...]]


@dataclass(frozen=True, slots=True)
class FlushResult:
    unknown: list[str]  # touched ids the store does not hold
    existed: bool  # the worker's heartbeat existed before this flush
    held: int  # connections the store holds for this worker
    server_time: float | None = None  # the store's clock at the flush (None: the store is this process)
    epoch: Epoch | None = None  # the registry's generation after this flush (None: an observer's touch)
    lost: bool = False  # the epoch the worker knew is gone: the store lost the fleet's data
    config_published: bool = True  # the fleet's settings are in the store (republish when False)
    registry_size: int = 0  # connections registered (on the heartbeat's shard, times the shards)
    peers: tuple[tuple[str, float], ...] = ()  # every listed worker and its heartbeat time


@dataclass(frozen=True, slots=True)
class Page:
    """One page of connections: ``total`` matching, the rows, and how the search was bounded."""

    total: int
    records: list[ConnectionRecord]
    scanned: int = 0
    truncated: bool = False
    bad_data: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ChannelCounts:
    channel: str
    connections: int
    stale: int
    oldest_connected_at: float | None


CONNECT_COUNTS_KEPT = 3600.0  # seconds the fleet's per-second connect counts are kept (core.reconnects)


def reconnect_flags(connects: Sequence[tuple[str, float, bool]], closed_at: Sequence[float | None],
                    window: float) -> list[int]:
    """1 for each connect (key, when, resumed) that is a reconnect: resumed, or its client's
    stream closed (``closed_at``, the same order) within ``window`` before it (or just after:
    notes of one flush arrive together)."""
    return [int(resumed or (c is not None and t - window <= c <= t + 5.0))
            for (_, t, resumed), c in zip(connects, closed_at, strict=True)]


SORTS = ("age", "idle", "events", "bytes")  # what a store sorts by
LIST_SORTS = (*SORTS, "queued")  # what /monitoring/connections sorts by (the send queue: core.queues)
ORDERS = ("desc", "asc")
RUNS_KEPT = 500  # cleanup runs kept for the windowed error rate
SCAN_LIMIT = 20_000  # records a text search / events-bytes sort / channel summary reads at most


@dataclass(frozen=True, slots=True)
class AgeQuery:
    now: float
    stale_threshold: float
    long_lived: float
    very_old: float
    edges: tuple[float, ...] = ()

    @property
    def cut(self) -> AgeCut:
        """The age classes' cuts at ``now`` (core.classify: the one place they are written)."""
        return cut(self.now, self.stale_threshold, self.long_lived, self.very_old)


@runtime_checkable
class StateStore(Protocol):
    kind: str

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None: ...
    async def server_time(self) -> float | None:
        """The store's clock (unix seconds); None when the store is this process."""

    async def register(self, record: ConnectionRecord) -> bool:
        """Add (or replace) a connection. True when it was new (the counter went up)."""
    async def register_many(self, records: Sequence[ConnectionRecord]) -> int:
        """Add several connections in one round trip; returns how many were new."""
    async def unregister(self, connection_id: str) -> bool:
        """Remove one connection. True when this call removed it."""
    async def unregister_many(self, connection_ids: Sequence[str]) -> int:
        """Remove several connections in one round trip; returns how many this call removed."""
    async def sync_worker(self, worker_id: str, held: Sequence[str]) -> tuple[int, list[str]]:
        """Make the registry agree with what ``worker_id`` really holds: remove the ids of its
        set that are not in ``held`` (counted once); returns (how many were removed, the ids
        of ``held`` the registry lacks)."""
    async def touch_many(self, touches: Mapping[str, Touch]) -> list[str]:
        """Record activity for many connections at once (never re-adding a removed one).
        Returns the ids the store does not know among the touches that carry counts
        (activity-only touches are one variadic ZADD XX GT: removals are learned from the
        worker's held count instead)."""
    async def missing(self, connection_ids: Sequence[str]) -> list[str]:
        """The ids of ``connection_ids`` that are not registered."""
    async def remove_stale(self, cutoff: float, limit: int, worker_id: str = "") -> tuple[int, list[str]]:
        """Atomically remove up to ``limit`` connections with last_activity < cutoff, oldest first.
        Returns (how many were removed, the removed ids held by ``worker_id``)."""
    async def reap_worker(self, worker_id: str, limit: int, reaper: str = "") -> tuple[int, int]:
        """Remove up to ``limit`` connections of a dead worker under ``reaper``'s lease;
        returns (removed, still left), left = -1 when another reaper holds the lease."""
    async def census(self, q: AgeQuery) -> Census: ...
    async def reconcile_counter(self) -> tuple[int, int]:
        """Set the counter from ground truth (registry size); returns (before, after)."""
    async def list_connections(self, state: str, q: AgeQuery, limit: int, offset: int, *, query: str = "",
                               sort: str | None = None, order: str = "desc") -> Page:
        """One page of the connections in ``state`` matching ``query`` (case-insensitive
        substring of id, client, worker, host, channel, user agent), sorted by ``sort``
        (``desc``: oldest / most idle / most events / most bytes first; None: by the
        state's own index, idle for stale/active and age for the others)."""
    async def get_connection(self, connection_id: str) -> ConnectionRecord | None: ...
    async def channels(self, q: AgeQuery, scan_limit: int = SCAN_LIMIT) -> tuple[list[ChannelCounts], int, bool]:
        """Per-channel counts from up to ``scan_limit`` connections: (rows, scanned, truncated)."""
    async def fleet_read(self, q: AgeQuery, events: int = 20) -> FleetRead:
        """census + cleanup_counters + workers + the latest ``events`` fleet events, together."""
    async def add_event(self, event: FleetEvent, *, group: bool = False, marks_since: float | None = None) -> None:
        """Append to the fleet's short event log (kept to the last 100); ``group``: a routine
        event merged into the same kind at the head (count and runs add up). Also a mark on the
        history's timeline (``history_marks``), kept from ``marks_since`` on."""
    async def history_marks(self, start: float, end: float) -> list[FleetEvent]:
        """The fleet events marked on the history between ``start`` and ``end`` (oldest first)."""
    async def hold_conditions(self, now: float, holding: Sequence[str], clear: Sequence[str]) -> dict[str, float]:
        """The fleet's hysteresis clock: note that the conditions of ``holding`` hold at ``now``
        (unless already noted) and that those of ``clear`` do not; returns when each of
        ``holding`` was first seen holding."""
    async def mark_dead(self, worker_id: str, reason: str, ttl: float) -> bool:
        """Note on a listed worker's heartbeat that it is dead (its process is gone)."""
    async def reseed_counters(self, counters: CleanupCounters) -> None:
        """Raise the fleet's cleanup counters to at least ``counters`` (after a data loss)."""
    async def mark_settled(self, since: float) -> bool:
        """End the rebuild / settle that began at ``since`` (True when this call ended it)."""
    async def claim(self, name: str, token: str, ttl: float) -> bool:
        """Take the fleet-wide lease ``name`` for ``ttl`` seconds: True for one caller."""
    async def record_connects(self, closed: Sequence[tuple[str, float]], connects: Sequence[tuple[str, float, bool]],
                              window: float, now: float) -> int:
        """The reconnect meter (core.reconnects): clients whose stream closed (key, when) join
        the fleet's recently-closed set (kept ``window`` seconds); each connect (key, when,
        resumed) is a reconnect when resumed or its key closed within ``window`` before it;
        both are counted per second. Returns the reconnects among ``connects``."""
    async def connect_counts(self, since: float, now: float) -> list[tuple[int, int, int]]:
        """(second, connects, reconnects) of the fleet from ``since`` to ``now``."""
    async def history_connects_append(self, t: float, connects: float, reconnects: float, keep_from: float,
                                      rollup: tuple[float, float] | None = None) -> None:
        """Add the fleet's connect rates (per second) of the sample interval ending at ``t``
        to the history; rates older than ``keep_from`` are dropped. ``rollup``: (the rollup
        step's start, keep from): the step's point keeps the highest rates recorded in it."""
    async def history_connects(self, start: float, end: float, rollup: bool = False) -> list[tuple[float, float, float]]:
        """(t, connects/s, reconnects/s) recorded from ``start`` to ``end``, oldest first
        (``rollup``: one a rollup step, at its start, the step's highest rates)."""
    async def worker_records(self, worker_id: str, limit: int) -> list[ConnectionRecord]:
        """Up to ``limit`` of a worker's registered connections (a dead one's, before it is reaped: core.blast)."""
    async def put_blast(self, blast_id: str, cut_at: float, window: float, cut_total: int, cuts: Sequence[Cut],
                        keep: float) -> int:
        """Record an event's cut streams (core.blast; expiring after ``keep``) and match the
        connects already noted; returns the clients found back at once."""
    async def note_arrivals(self, arrivals: Sequence[tuple[str, float]], keep: float, now: float) -> int:
        """The fleet's connects (client key, when), every one of them: kept ``keep`` seconds
        for events recorded later, and matched against the events open now (core.blast.match_arrivals:
        one connect per cut stream of its key, the earliest). Returns the comebacks newly recorded."""
    async def get_blasts(self, blast_ids: Sequence[str]) -> dict[str, BlastRead]:
        """The events' records still kept (an expired or unknown id is left out)."""
    async def put_queues(self, worker_id: str, body: str, ttl: float) -> None:
        """Publish a worker's view of its streams' send queues (core.queues), expiring after ``ttl``."""
    async def get_queues(self, worker_ids: Sequence[str]) -> dict[str, str]:
        """The published views of ``worker_ids`` that exist (worker id -> body)."""
    async def probe_write(self, token: str) -> None:
        """A tiny expiring write: raises StoreUnavailable when the store refuses writes."""
    async def diagnose(self) -> list[str]:
        """Keys of the namespace holding another type than the store writes (WRONGTYPE's cause)."""
    async def repair_types(self, scan: bool = True) -> list[str]:
        """Delete the keys :meth:`diagnose` names (a registry key among them: the epoch too,
        so every worker re-registers); returns what was repaired."""

    async def record_cleanup(self, cleaned: int, failed: int, duration_ms: float, error: bool, at: float = 0.0) -> None:
        """Count one cleanup run (``at``: when, on the fleet's clock, for the windowed error rate)."""
    async def cleanup_counters(self) -> CleanupCounters: ...

    async def heartbeat(self, hb: WorkerHeartbeat, ttl: float) -> tuple[bool, int]:
        """Write a worker's heartbeat (expires after ``ttl``). Returns (the heartbeat existed
        before this call, how many connections the store holds for that worker)."""
    async def flush(self, touches: Mapping[str, Touch], hb: WorkerHeartbeat, ttl: float, *,
                    settle: bool = False) -> FlushResult:
        """touch_many + heartbeat in one round trip, with the registry's health (its epoch: a
        missing one or another than ``hb.epoch`` means the store lost the fleet's data; the
        worker's code put back when lost; whether the published settings exist). ``settle``:
        the worker is back from store trouble (the fleet settles until every live worker has
        resynced). ``hb.counts_at``: these touches complete the worker's counts as of then."""
    async def workers(self) -> list[WorkerHeartbeat]:
        """Every worker that has sent a heartbeat and not been forgotten (live or dead), with
        ``connections`` = what the registry holds for it now."""
    async def forget_worker(self, worker_id: str) -> bool:
        """Forget a worker (its heartbeat and reaping lease); True when this call forgot it."""

    async def publish_config(self, settings: Mapping[str, str]) -> None:
        """Store the fleet's (non-secret) settings so observers see what the workers use."""
    async def published_config(self) -> dict[str, str]:
        """The settings a worker published ({} when none did)."""

    # -- fleet history (core.history) -----------------------------------------------------
    async def history_append(self, sample: HistorySample, tiers: Sequence[Tier], token: str) -> bool:
        """Write the fleet's sample for the interval holding ``sample.t`` (``tiers[0]`` is the
        raw tier, its step the interval) unless another writer holds that interval's lease
        (True: this call wrote it). Folds it into the rollup tiers (min / max / last) and
        trims every tier to its retention, atomically."""
    async def history_range(self, tier: Tier, start: float, end: float) -> tuple[list[Point], int]:
        """The tier's stored points with ``start <= t <= end``, oldest first, and how many
        stored points were malformed (skipped)."""
    async def history_members(self, tier: Tier, start: float, end: float) -> list[str]:
        """The tier's stored points with ``start <= t <= end``, oldest first, as stored (the
        members of core.history's stored formats; a reader decodes them in one pass,
        ``decode_columns``)."""
    async def history_workers(self, start: float, end: float) -> list[str]:
        """The per-worker counts stored with the raw samples of ``start <= t <= end`` (once a
        minute; their own key, read only when shown), oldest first, as stored
        (``HistorySample.workers_member``; ``history.decode_workers`` reads them)."""
    async def history_first(self, tier: Tier) -> float | None:
        """The time of the tier's first stored point (None: none: no data yet)."""
    async def history_times(self, tier: Tier, members: Sequence[str]) -> list[float | None]:
        """The times of the given stored points (None: no longer stored)."""
    async def history_trends_claim(self, period: int, token: str, ttl: float) -> bool:
        """Take the lease of trend period ``period`` for ``ttl`` seconds: True for one caller
        per period (the fleet computes its trend verdicts once per period)."""
    async def history_trends_put(self, body: str, ttl: float) -> None:
        """Store the fleet's trend verdicts (``core.history.trends_to_json``) for ``ttl`` seconds."""
    async def history_trends_get(self) -> str | None:
        """The stored trend verdicts (None: none, or expired)."""
