"""FleetReader: the fleet's state read straight from Redis, without being a worker.

Used by ``sse-dash --redis``: an observer manager (no heartbeat, no periodic task, no
local streams) over the Redis store, configured with the settings the workers published
(``{ns}:config``), so thresholds and the stale line are the fleet's. Its cleanup runs directly against Redis with the
same atomic scripts the workers use.
"""

from __future__ import annotations

from .config import SSEConfig, load_config
from .manager import ConnectionManager
from .models import CleanupResult, ConnectionRecord, MonitoringStats
from .store.redis import RedisStore


class FleetReader:
    def __init__(self, manager: ConnectionManager) -> None:
        self.manager = manager

    @classmethod
    async def connect(cls, redis_url: str, namespace: str = "sse", config: SSEConfig | None = None) -> "FleetReader":
        cfg = config or load_config()
        store = RedisStore(redis_url, namespace, timeout=cfg.REDIS_TIMEOUT_SECONDS)
        await store.start()
        try:
            published = await store.published_config()
        except Exception:
            await store.close()
            raise
        if published and config is None:
            # judge the fleet by the settings its workers run with, not this shell's environment
            cfg = load_config(**published)
        manager = ConnectionManager(store, cfg, observer=True, worker_id="sse-dash-observer")
        await manager.start()
        return cls(manager)

    async def snapshot(self) -> MonitoringStats:
        return await self.manager.monitoring_snapshot()

    async def connections(self, state: str = "stale", limit: int = 50, offset: int = 0) -> list[ConnectionRecord]:
        return (await self.manager.list_connections(state, limit, offset))[1]

    async def cleanup(self, batch_size: int | None = None) -> CleanupResult:
        return await self.manager.run_cleanup(batch_size)

    async def close(self) -> None:
        await self.manager.stop(close_streams=False)
