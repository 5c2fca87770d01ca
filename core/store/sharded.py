"""A registry spread over several Redis Cluster hash tags (``SSE_REDIS_SHARDS``).

One :class:`~core.store.redis.RedisStore` per shard, all on one client (one connection
pool; on a cluster the client routes each shard's calls to the node holding its slot).
Shard 0 is today's unsharded layout (tag ``{ns}``); see core.keys for the tags.

* A connection lives on shard ``shard_of(id)``: every per-connection operation (register,
  unregister, touch, get, missing) groups its ids by shard and runs the shards at once
  (``asyncio.gather``): each shard's Lua script touches one slot and stays atomic, so a
  removal is still counted once (each shard has its own counter; the registry's is the sum).
* Fleet-wide keys (worker heartbeats, cleanup counters, events, config, history) live on
  shard 0 only.
* Reads that sum (census, fleet_read) are one pipeline over every shard (shard 0's store
  holds every shard's keys): one round trip on a single Redis, one per node, in parallel,
  on a cluster. Their cost stays flat in the number of connections and grows only with
  the number of shards.
* Cleanup picks the oldest stale connections across shards (a read per shard, then a
  removal per shard, both in parallel); reaping takes the lease on shard 0 first, then
  removes on every shard.
* A single Redis is simply one node holding every shard.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from ..config import MAX_REDIS_SHARDS
from ..history import HistorySample, Point, Tier
from ..keys import Keys, shard_of, shard_tags
from ..models import CleanupCounters, ConnectionRecord, FleetEvent, Touch, WorkerHeartbeat
from .base import SCAN_LIMIT, AgeQuery, BlastRead, Census, ChannelCounts, Cut, FleetRead, FlushResult, Page
from .redis import RedisStore, _state_range, redact_url, worker_info_value

T = TypeVar("T")
K = TypeVar("K")


class ShardedRedisStore:
    """The StateStore protocol over ``shards`` hash tags (see the module docstring)."""

    kind = "redis"

    def __init__(self, url: str, namespace: str = "sse", shards: int = 1, *, timeout: float = 2.0) -> None:
        if not 1 <= shards <= MAX_REDIS_SHARDS:
            raise ValueError(f"shards must be 1..{MAX_REDIS_SHARDS}, not {shards}")
        self._url = url
        self._namespace = namespace
        self._timeout = timeout
        self.shards: list[RedisStore] = []
        self._build(shards)

    def _build(self, n: int) -> None:
        tags = shard_tags(self._namespace, n)
        first = self.shards[0] if self.shards else RedisStore(self._url, self._namespace, timeout=self._timeout)
        self.shards = [first] + [RedisStore(self._url, self._namespace, timeout=self._timeout, tag=t) for t in tags[1:]]
        first.shard_keys = tuple(s.keys for s in self.shards)  # its census and fleet read sum every shard
        if first.connected:
            for s in self.shards[1:]:
                s.use_client(first.client)

    @property
    def count(self) -> int:
        return len(self.shards)

    @property
    def keys(self) -> Keys:
        """Shard 0's keys (the fleet-wide ones)."""
        return self.shards[0].keys

    @property
    def client(self) -> Any:
        return self.shards[0].client

    @property
    def connected(self) -> bool:
        return self.shards[0].connected

    def describe(self) -> str:
        return redact_url(self._url) + f" (namespace {self._namespace}, {self.count} shards)"

    def shard(self, connection_id: str) -> RedisStore:
        return self.shards[shard_of(connection_id, self.count)]

    async def reshard(self, n: int) -> None:
        """Follow a new shard count (an observer following the fleet's published settings)."""
        if n != self.count:
            self._build(n)
            if self.connected:
                await self.start()

    async def retire(self, old_shards: int, batch: int = 1000) -> dict[str, int]:
        """After every worker runs this store's shard count: remove what is left under the
        tags of ``old_shards`` that this count does not use (connections of workers that
        died during the roll; a worker that stops gracefully removes its own), with their
        counters and user-agent tables. Returns the connections removed per retired tag.
        Run it only once no worker writes the old count: it removes whatever it finds."""
        current = {s.keys.prefix for s in self.shards}
        out: dict[str, int] = {}
        for tag in shard_tags(self._namespace, old_shards):
            old = RedisStore(self._url, self._namespace, timeout=self._timeout, tag=tag)
            if old.keys.prefix in current:
                continue
            old.use_client(self.client)
            await old.start()
            removed = 0
            while True:
                n, _ = await old.remove_stale(_EVERYTHING, batch)
                removed += n
                if n < batch:
                    break
            await old.drop_shard_keys()
            out[tag] = removed
        return out

    # -- plumbing -------------------------------------------------------------------------
    def _group(self, items: Sequence[K], key: Callable[[K], str]) -> dict[int, list[K]]:
        by: dict[int, list[K]] = {}
        for item in items:
            by.setdefault(shard_of(key(item), self.count), []).append(item)
        return by

    @staticmethod
    async def _all(calls: Sequence[Awaitable[T]]) -> list[T]:
        """Run the shards' calls at once; the first StoreUnavailable is raised after all end
        (no call is left running behind the caller's back)."""
        res = await asyncio.gather(*calls, return_exceptions=True)
        for r in res:
            if isinstance(r, BaseException):
                raise r
        return res  # type: ignore[return-value]

    async def start(self) -> None:
        first = self.shards[0]
        await first.start()
        for s in self.shards[1:]:
            s.use_client(first.client)
            await s.start()

    async def close(self) -> None:
        await self.shards[0].close()
        for s in self.shards[1:]:
            s.use_client(None)

    async def ping(self) -> None:
        await self.shards[0].ping()

    async def server_time(self) -> float | None:
        return await self.shards[0].server_time()

    # -- registry -------------------------------------------------------------------------
    async def register(self, record: ConnectionRecord) -> bool:
        return await self.shard(record.connection_id).register(record)

    async def register_many(self, records: Sequence[ConnectionRecord]) -> int:
        by = self._group(records, lambda r: r.connection_id)
        return sum(await self._all([self.shards[i].register_many(rs) for i, rs in by.items()]))

    async def unregister(self, connection_id: str) -> bool:
        return await self.shard(connection_id).unregister(connection_id)

    async def unregister_many(self, connection_ids: Sequence[str]) -> int:
        by = self._group(connection_ids, str)
        return sum(await self._all([self.shards[i].unregister_many(ids) for i, ids in by.items()]))

    async def sync_worker(self, worker_id: str, held: Sequence[str]) -> tuple[int, list[str]]:
        """Every shard (even one holding none of ``held``: its phantoms are removed)."""
        by = self._group(held, str)
        res = await self._all([s.sync_worker(worker_id, by.get(i, [])) for i, s in enumerate(self.shards)])
        return sum(n for n, _ in res), [c for _, absent in res for c in absent]

    def _split_touches(self, touches: Mapping[str, Touch]) -> list[dict[str, Touch]]:
        parts: list[dict[str, Touch]] = [{} for _ in self.shards]
        for cid, t in touches.items():
            parts[shard_of(cid, self.count)][cid] = t
        return parts

    async def touch_many(self, touches: Mapping[str, Touch]) -> list[str]:
        parts = self._split_touches(touches)
        res = await self._all([self.shards[i].touch_many(p) for i, p in enumerate(parts) if p])
        return [c for r in res for c in r]

    async def missing(self, connection_ids: Sequence[str]) -> list[str]:
        by = self._group(connection_ids, str)
        gone = {c for r in await self._all([self.shards[i].missing(ids) for i, ids in by.items()]) for c in r}
        return [c for c in connection_ids if c in gone]

    async def remove_stale(self, cutoff: float, limit: int, worker_id: str = "") -> tuple[int, list[str]]:
        """The ``limit`` oldest stale connections across shards: read each shard's oldest
        ``limit`` (in parallel), keep the oldest ``limit`` of all, remove each shard's share
        atomically (in parallel). A connection touched or removed between the two steps is
        skipped or removed by someone else: at most ``limit`` are removed, each counted once.
        ``mine`` is oldest first."""
        found = await self._all([s.stale_candidates(cutoff, limit) for s in self.shards])
        tagged = [(score, cid, i) for i, rows in enumerate(found) for cid, score in rows]
        chosen = heapq.nsmallest(int(limit), tagged)
        share = [0] * self.count
        for _, _, i in chosen:
            share[i] += 1
        if not chosen:
            return 0, []
        res = await self._all([self.shards[i].remove_stale(cutoff, n, worker_id) for i, n in enumerate(share) if n])
        order = {cid: score for score, cid, _ in tagged}
        mine = sorted((c for _, m in res for c in m), key=lambda c: (order.get(c, math.inf), c))
        return sum(n for n, _ in res), mine

    async def reap_worker(self, worker_id: str, limit: int, reaper: str = "") -> tuple[int, int]:
        """Shard 0 first (its lease decides who reaps), then every other shard at once; the
        limit is shared evenly (the caller loops until nothing is left)."""
        each = max(1, math.ceil(int(limit) / self.count))
        removed, left = await self.shards[0].reap_worker(worker_id, each, reaper)
        if left < 0:
            return 0, -1
        res = await self._all([s.reap_worker(worker_id, each, reaper) for s in self.shards[1:]])
        removed += sum(n for n, _ in res)
        if any(lf < 0 for _, lf in res):  # a shard's lease is still held by an earlier reaper
            return removed, -1
        return removed, left + sum(lf for _, lf in res)

    async def census(self, q: AgeQuery) -> Census:
        """One pipeline over every shard (shard 0's store holds every shard's keys): one round
        trip on a single Redis, one per node, in parallel, on a cluster."""
        return await self.shards[0].census(q)

    async def reconcile_counter(self) -> tuple[int, int]:
        res = await self._all([s.reconcile_counter() for s in self.shards])
        before = -1 if any(b < 0 for b, _ in res) else sum(b for b, _ in res)
        return before, sum(a for _, a in res)

    async def list_connections(self, state: str, q: AgeQuery, limit: int, offset: int, *, query: str = "",
                               sort: str | None = None, order: str = "desc") -> Page:
        """Each shard's first ``offset + limit`` rows in the same order, merged: the page is
        exact (the cost grows with the offset, as a deep page of one sorted set does). A text
        search or an events/bytes sort reads up to SCAN_LIMIT candidates per shard."""
        zset = _state_range(state, q)[0]  # ValueError for an unknown state, before any call
        sort = sort or ("idle" if zset == "activity" else "age")
        pages = await self._all([s.list_connections(state, q, offset + limit, 0, query=query, sort=sort, order=order)
                                 for s in self.shards])
        key = _sort_key(sort)
        rows = sorted((r for p in pages for r in p.records), key=key, reverse=(order == "asc"))
        return Page(total=sum(p.total for p in pages), records=rows[offset:offset + limit],
                    scanned=sum(p.scanned for p in pages), truncated=any(p.truncated for p in pages),
                    bad_data=tuple(b for p in pages for b in p.bad_data))

    async def get_connection(self, connection_id: str) -> ConnectionRecord | None:
        return await self.shard(connection_id).get_connection(connection_id)

    async def channels(self, q: AgeQuery, scan_limit: int = SCAN_LIMIT) -> tuple[list[ChannelCounts], int, bool]:
        """Each shard's oldest ``scan_limit / shards`` connections, merged per channel."""
        each = max(1, math.ceil(scan_limit / self.count))
        res = await self._all([s.channels(q, each) for s in self.shards])
        merged: dict[str, ChannelCounts] = {}
        for rows, _, _ in res:
            for r in rows:
                m = merged.get(r.channel)
                if m is None:
                    merged[r.channel] = r
                    continue
                olds = [x for x in (m.oldest_connected_at, r.oldest_connected_at) if x is not None]
                merged[r.channel] = ChannelCounts(channel=r.channel, connections=m.connections + r.connections,
                                                  stale=m.stale + r.stale, oldest_connected_at=min(olds) if olds else None)
        rows = sorted(merged.values(), key=lambda c: (c.oldest_connected_at is None, c.oldest_connected_at or 0.0, c.channel))
        return rows, sum(n for _, n, _ in res), any(t for _, _, t in res)

    async def fleet_read(self, q: AgeQuery, events: int = 20) -> FleetRead:
        """Shard 0's fleet read: heartbeats, counters, events and every shard's census in one
        pipeline (the workers' held counts in a second one)."""
        return await self.shards[0].fleet_read(q, events)

    # -- fleet-wide (shard 0) -------------------------------------------------------------
    async def add_event(self, event: FleetEvent, *, group: bool = False, marks_since: float | None = None) -> None:
        await self.shards[0].add_event(event, group=group, marks_since=marks_since)

    async def history_marks(self, start: float, end: float) -> list[FleetEvent]:
        return await self.shards[0].history_marks(start, end)

    async def hold_conditions(self, now: float, holding: Sequence[str], clear: Sequence[str]) -> dict[str, float]:
        return await self.shards[0].hold_conditions(now, holding, clear)

    async def mark_dead(self, worker_id: str, reason: str, ttl: float) -> bool:
        return await self.shards[0].mark_dead(worker_id, reason, ttl)

    async def reseed_counters(self, counters: CleanupCounters) -> None:
        await self.shards[0].reseed_counters(counters)

    async def mark_settled(self, since: float) -> bool:
        return await self.shards[0].mark_settled(since)

    async def claim(self, name: str, token: str, ttl: float) -> bool:
        return await self.shards[0].claim(name, token, ttl)

    async def probe_write(self, token: str) -> None:
        await self.shards[0].probe_write(token)

    async def record_connects(self, closed: Sequence[tuple[str, float]], connects: Sequence[tuple[str, float, bool]],
                              window: float, now: float) -> int:
        return await self.shards[0].record_connects(closed, connects, window, now)

    async def connect_counts(self, since: float, now: float) -> list[tuple[int, int, int]]:
        return await self.shards[0].connect_counts(since, now)

    async def history_connects_append(self, t: float, connects: float, reconnects: float, keep_from: float,
                                      rollup: tuple[float, float] | None = None) -> None:
        await self.shards[0].history_connects_append(t, connects, reconnects, keep_from, rollup)

    async def history_connects(self, start: float, end: float, rollup: bool = False) -> list[tuple[float, float, float]]:
        return await self.shards[0].history_connects(start, end, rollup)

    async def worker_records(self, worker_id: str, limit: int) -> list[ConnectionRecord]:
        """Every shard's, at most ``limit`` in all."""
        res = await self._all([s.worker_records(worker_id, limit) for s in self.shards])
        return [r for rows in res for r in rows][:max(int(limit), 0)]

    async def put_blast(self, blast_id: str, cut_at: float, window: float, cut_total: int, cuts: Sequence[Cut],
                        keep: float) -> int:
        return await self.shards[0].put_blast(blast_id, cut_at, window, cut_total, cuts, keep)

    async def note_arrivals(self, arrivals: Sequence[tuple[str, float]], keep: float, now: float) -> int:
        return await self.shards[0].note_arrivals(arrivals, keep, now)

    async def get_blasts(self, blast_ids: Sequence[str]) -> dict[str, BlastRead]:
        return await self.shards[0].get_blasts(blast_ids)

    async def put_queues(self, worker_id: str, body: str, ttl: float) -> None:
        await self.shards[0].put_queues(worker_id, body, ttl)

    async def get_queues(self, worker_ids: Sequence[str]) -> dict[str, str]:
        return await self.shards[0].get_queues(worker_ids)

    async def diagnose(self) -> list[str]:
        return await self.shards[0].diagnose()

    async def repair_types(self, scan: bool = True) -> list[str]:
        return await self.shards[0].repair_types(scan)

    async def record_cleanup(self, cleaned: int, failed: int, duration_ms: float, error: bool, at: float = 0.0) -> None:
        await self.shards[0].record_cleanup(cleaned, failed, duration_ms, error, at)

    async def cleanup_counters(self) -> CleanupCounters:
        return await self.shards[0].cleanup_counters()

    async def heartbeat(self, hb: WorkerHeartbeat, ttl: float) -> tuple[bool, int]:
        r = await self.flush({}, hb, ttl)
        return r.existed, r.held

    async def flush(self, touches: Mapping[str, Touch], hb: WorkerHeartbeat, ttl: float, *,
                    settle: bool = False) -> FlushResult:
        """Shard 0: its touches, the heartbeat and the registry's health; every other shard:
        its touches and the worker's held count there; at once. ``held`` and the registry
        size are the sums."""
        parts = self._split_touches(touches)
        info = worker_info_value(hb)
        first, *rest = await self._all([self.shards[0].flush(parts[0], hb, ttl, settle=settle),
                                        *(s.touch_held(p, hb.worker_id, hb.counts_at, info)
                                          for s, p in zip(self.shards[1:], parts[1:], strict=True))])
        assert isinstance(first, FlushResult)
        unknown = list(first.unknown)
        held, size = first.held, first.registry_size
        for r in rest:
            assert isinstance(r, tuple)
            unknown.extend(r[0])
            held += r[1]
            size += r[2]
        return dataclasses.replace(first, unknown=unknown, held=held, registry_size=size)

    async def workers(self) -> list[WorkerHeartbeat]:
        return await self.shards[0].workers()

    async def forget_worker(self, worker_id: str) -> bool:
        forgot = await self.shards[0].forget_worker(worker_id)
        await self._all([s.drop_lease(worker_id) for s in self.shards[1:]])
        return forgot

    async def publish_config(self, settings: Mapping[str, str]) -> None:
        await self.shards[0].publish_config(settings)

    async def published_config(self) -> dict[str, str]:
        return await self.shards[0].published_config()

    async def history_append(self, sample: HistorySample, tiers: Sequence[Tier], token: str) -> bool:
        return await self.shards[0].history_append(sample, tiers, token)

    async def history_first(self, tier: Tier) -> float | None:
        return await self.shards[0].history_first(tier)

    async def history_range(self, tier: Tier, start: float, end: float) -> tuple[list[Point], int]:
        return await self.shards[0].history_range(tier, start, end)

    async def history_bytes(self, tiers: Sequence[Tier]) -> int:
        return await self.shards[0].history_bytes(tiers)

    async def history_members(self, tier: Tier, start: float, end: float) -> list[str]:
        return await self.shards[0].history_members(tier, start, end)

    async def history_workers(self, start: float, end: float) -> list[str]:
        return await self.shards[0].history_workers(start, end)

    async def history_times(self, tier: Tier, members: Sequence[str]) -> list[float | None]:
        return await self.shards[0].history_times(tier, members)

    async def history_trends_claim(self, period: int, token: str, ttl: float) -> bool:
        return await self.shards[0].history_trends_claim(period, token, ttl)

    async def history_trends_put(self, body: str, ttl: float) -> None:
        await self.shards[0].history_trends_put(body, ttl)

    async def history_trends_get(self) -> str | None:
        return await self.shards[0].history_trends_get()


_EVERYTHING = 1e18  # a cutoff later than any activity time: remove_stale then removes everything


def _sort_key(sort: str) -> Callable[[ConnectionRecord], tuple[float, str]]:
    """The order the page script sorts in for ``desc`` (ties by id); ``asc`` is its reverse."""
    if sort == "idle":
        return lambda r: (r.last_activity, r.connection_id)
    if sort == "events":
        return lambda r: (-(-1 if r.events_sent is None else r.events_sent), r.connection_id)
    if sort == "bytes":
        return lambda r: (-r.bytes_sent, r.connection_id)
    return lambda r: (r.connected_at, r.connection_id)


def make_redis_store(url: str, namespace: str = "sse", shards: int = 1, *, timeout: float = 2.0) -> RedisStore | ShardedRedisStore:
    """One shard: the plain store (today's layout, nothing to route); more: the sharded one."""
    if shards <= 1:
        return RedisStore(url, namespace, timeout=timeout)
    return ShardedRedisStore(url, namespace, shards, timeout=timeout)


async def _retire_main(old_shards: int) -> int:
    from ..config import load_config
    cfg = load_config()
    if not cfg.redis_url:
        print("SSE_REDIS_URL is not set")
        return 2
    store = ShardedRedisStore(cfg.redis_url, cfg.REDIS_NAMESPACE, cfg.REDIS_SHARDS, timeout=cfg.REDIS_TIMEOUT_SECONDS)
    await store.start()
    try:
        done = await store.retire(old_shards)
    finally:
        await store.close()
    for tag, n in done.items():
        print(f"{{{tag}}}: {n} connection(s) removed")
    print(f"{len(done)} retired shard tag(s) emptied; {store.count} shard(s) in use")
    return 0


if __name__ == "__main__":
    import argparse
    import sys
    p = argparse.ArgumentParser(prog="python -m core.store.sharded",
                                description="Empty the shard tags a previous SSE_REDIS_SHARDS used and the current one does not "
                                            "(reads SSE_REDIS_URL, SSE_REDIS_NAMESPACE, SSE_REDIS_SHARDS).")
    p.add_argument("--retire", type=int, required=True, metavar="OLD_SHARDS", help="the shard count the fleet used before")
    sys.exit(asyncio.run(_retire_main(p.parse_args().retire)))
