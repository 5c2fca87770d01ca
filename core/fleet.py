"""FleetReader: the fleet's state read straight from Redis, without being a worker.

Used by ``sse-dash --redis``: an observer manager (no heartbeat, no periodic task, no
local streams) over the Redis store, configured with the settings the workers published
(``{ns}:config``), so thresholds and the stale line are the fleet's, and so is the shard
count (``SSE_REDIS_SHARDS``: the observer reads the layout the workers write, and follows a
change). Its cleanup runs directly against Redis with the
same atomic scripts the workers use.
"""

from __future__ import annotations

from .clock import Clock
from .config import MAX_REDIS_SHARDS, ConfigError, SSEConfig, load_config
from .durations import parse_duration
from .manager import ConnectionManager
from .models import (
    ChannelsPage,
    CleanupResult,
    ConnectionPage,
    ConnectionRecord,
    DisconnectResult,
    HistorySeries,
    MonitoringStats,
    ReapResult,
)
from .store.base import StoreUnavailable
from .store.sharded import ShardedRedisStore


class FleetReader:
    def __init__(self, manager: ConnectionManager, *, follow_published: bool = True) -> None:
        self.manager = manager
        self._follow = follow_published

    @classmethod
    async def connect(cls, redis_url: str, namespace: str = "sse", config: SSEConfig | None = None,
                      clock: Clock | None = None) -> "FleetReader":
        """``clock``: None reads the store's clock (Redis ``TIME``); a test hands a fixed one
        to ask the age classes at an exact moment."""
        cfg = config or load_config()
        # shard 0 holds the published settings whatever the shard count
        store = ShardedRedisStore(redis_url, namespace, 1, timeout=cfg.REDIS_TIMEOUT_SECONDS)
        try:
            await store.start()
            published = await store.published_config()
            if published and config is None:
                # judge the fleet by the settings its workers run with, not this shell's environment
                cfg = load_config(**published)
            # the layout is the fleet's fact, whoever configured this observer
            await store.reshard(_published_shards(published) or cfg.REDIS_SHARDS)
        except BaseException:  # a cancel too (a dashboard closing while it connects): no socket left open
            await store.close()
            raise
        if clock is None:
            manager = ConnectionManager(store, cfg, observer=True, worker_id="sse-dash-observer", store_clock=True)
        else:
            manager = ConnectionManager(store, cfg, observer=True, worker_id="sse-dash-observer", clock=clock)
        try:
            await manager.start()
        except BaseException:  # a cancel too (a dashboard closing while it connects): no socket left open
            await store.close()
            raise
        return cls(manager, follow_published=config is None)

    async def _refresh_settings(self) -> None:
        """Follow the settings the fleet publishes (a long-running observer must not judge
        by what it read at start)."""
        if not self._follow:
            return
        try:
            published = await self.manager.store.published_config()
        except StoreUnavailable:
            return  # keep judging by the last settings read; the snapshot names the store's trouble
        if not published:
            return
        shards = _published_shards(published)
        store = self.manager.store
        if shards and isinstance(store, ShardedRedisStore) and shards != store.count:
            await store.reshard(shards)
        try:
            cfg = load_config(**published)
        except ConfigError:
            return  # a half-written or foreign config: keep judging by the last good one
        if cfg != self.manager.config:
            self.manager.config = cfg

    async def snapshot(self) -> MonitoringStats:
        await self._refresh_settings()
        await self.manager.measure_clock()
        await self.manager.refresh_trends_if_due()
        return await self.manager.monitoring_snapshot()

    async def history(self, range_s: float | str, step: float | str | None = None,
                      workers: bool = False) -> HistorySeries:
        """The fleet history the workers recorded (``range_s`` / ``step``: seconds or
        ``"1h"``-style durations); ValueError for a range/step the tiers cannot answer.
        ``workers``: with the per-worker counts (read only then; ``--export-history``)."""
        await self.manager.measure_clock()
        r = parse_duration(range_s) if isinstance(range_s, str) else float(range_s)
        st = parse_duration(step) if isinstance(step, str) else step
        return await self.manager.history(r, st, workers=workers)

    async def list_connections(self, state: str = "all", query: str = "", sort: str | None = None, order: str = "desc",
                               limit: int = 50, offset: int = 0) -> ConnectionPage:
        return await self.manager.list_connections(state, limit, offset, query=query, sort=sort, order=order)

    async def connections(self, state: str = "stale", limit: int = 50, offset: int = 0) -> list[ConnectionRecord]:
        return (await self.manager.list_connections(state, limit, offset)).connections

    async def connection(self, connection_id: str) -> ConnectionRecord | None:
        return await self.manager.connection(connection_id)

    async def disconnect(self, connection_id: str) -> DisconnectResult:
        return await self.manager.disconnect(connection_id)

    async def reap_worker(self, worker_id: str) -> ReapResult:
        return await self.manager.reap_worker_now(worker_id)

    async def channels(self) -> ChannelsPage:
        return await self.manager.channels()

    async def cleanup(self, batch_size: int | None = None) -> CleanupResult:
        return await self.manager.run_cleanup(batch_size)

    async def close(self) -> None:
        await self.manager.stop(close_streams=False)


def _published_shards(published: dict[str, str]) -> int | None:
    """The shard count the workers published (None: not published or not a valid count)."""
    try:
        n = int(published.get("REDIS_SHARDS", ""))
    except ValueError:
        return None
    return n if 1 <= n <= MAX_REDIS_SHARDS else None
