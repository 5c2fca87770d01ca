"""The one StateStore protocol that both stores implement.

Semantics every implementation honours (the contract suite in tests/core checks them):

* A connection is *stale* when ``last_activity < now - stale_threshold``; *long-lived*
  when ``connected_at < now - long_lived``; *very old* when ``connected_at < now - very_old``.
* Every removal (unregister, stale cleanup, reaping a dead worker) is atomic: a
  connection removed twice at once is removed, and counted, once. The counter never
  goes below zero.
* Errors of the backend are translated once, here: :class:`StoreUnavailable`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Protocol, Sequence, runtime_checkable

from ..models import AgeCounts, CleanupCounters, ConnectionRecord, Touch, WorkerHeartbeat


class StoreUnavailable(RuntimeError):
    """The state store cannot be reached or answered with an error."""


@dataclass(frozen=True, slots=True)
class Census:
    """Counts from one round trip: the four age classes, the counter, the age histogram."""

    ages: AgeCounts
    counter: int
    older_than: list[int]  # connections with age >= edges[i]


@dataclass(frozen=True, slots=True)
class AgeQuery:
    now: float
    stale_threshold: float
    long_lived: float
    very_old: float
    edges: tuple[float, ...] = ()


@runtime_checkable
class StateStore(Protocol):
    kind: str

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None: ...

    async def register(self, record: ConnectionRecord) -> bool:
        """Add (or replace) a connection. True when it was new (the counter went up)."""
    async def register_many(self, records: Sequence[ConnectionRecord]) -> int:
        """Add several connections in one round trip; returns how many were new."""
    async def unregister(self, connection_id: str) -> bool:
        """Remove one connection. True when this call removed it."""
    async def touch_many(self, touches: Mapping[str, Touch]) -> list[str]:
        """Record activity for many connections at once; returns the ids the store does not know."""
    async def missing(self, connection_ids: Sequence[str]) -> list[str]:
        """The ids of ``connection_ids`` that are not registered."""
    async def remove_stale(self, cutoff: float, limit: int, worker_id: str = "") -> tuple[int, list[str]]:
        """Atomically remove up to ``limit`` connections with last_activity < cutoff, oldest first.
        Returns (how many were removed, the removed ids held by ``worker_id``)."""
    async def reap_worker(self, worker_id: str, limit: int) -> tuple[int, int]:
        """Remove up to ``limit`` connections of a dead worker; returns (removed, still left)."""
    async def census(self, q: AgeQuery) -> Census: ...
    async def reconcile_counter(self) -> tuple[int, int]:
        """Set the counter from ground truth (registry size); returns (before, after)."""
    async def list_connections(self, state: str, q: AgeQuery, limit: int, offset: int) -> tuple[int, list[ConnectionRecord]]:
        """(total in that state, one page of records oldest first)."""

    async def record_cleanup(self, cleaned: int, failed: int, duration_ms: float, error: bool) -> None: ...
    async def cleanup_counters(self) -> CleanupCounters: ...

    async def heartbeat(self, hb: WorkerHeartbeat, ttl: float) -> tuple[bool, int]:
        """Write a worker's heartbeat (expires after ``ttl``). Returns (the heartbeat existed
        before this call, how many connections the store holds for that worker)."""
    async def flush(self, touches: Mapping[str, Touch], hb: WorkerHeartbeat, ttl: float) -> tuple[list[str], bool, int]:
        """touch_many + heartbeat in one round trip: (unknown ids, heartbeat existed, worker's connections)."""
    async def workers(self) -> list[WorkerHeartbeat]:
        """Every worker that has sent a heartbeat and not been forgotten (live or dead), with
        ``connections`` = what the registry holds for it now."""
    async def forget_worker(self, worker_id: str) -> None: ...

    async def publish_config(self, settings: Mapping[str, str]) -> None:
        """Store the fleet's (non-secret) settings so observers see what the workers use."""
    async def published_config(self) -> dict[str, str]:
        """The settings a worker published ({} when none did)."""
