"""The store contract fixtures: every contract test runs against the memory store and the
Redis store, on one redis-server and on a 3-node Redis Cluster, unsharded and with 3 shards."""

from __future__ import annotations

import pytest

from core.config import load_config
from core.manager import ConnectionManager
from core.store.memory import MemoryStore
from core.store.redis import RedisStore
from core.store.sharded import ShardedRedisStore
from tests.redis_server import RedisServer


class FakeClock:
    """Injected time (the stores take their scores from it); advances only when told."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


SHARDS = 3  # the sharded kinds: 3 shards (on the 3-node cluster, one per node)


@pytest.fixture(params=["memory", "redis", "redis-cluster", "redis-sharded", "redis-cluster-sharded"])
def store_kind(request) -> str:
    return request.param


def _url(store_kind: str, request) -> str:
    return request.getfixturevalue("redis_cluster_url" if store_kind.startswith("redis-cluster") else "redis_url")


def redis_store(store_kind: str, request, namespace: str) -> RedisStore | ShardedRedisStore:
    """The Redis store of ``store_kind`` (``*-sharded``: SHARDS hash tags)."""
    if store_kind.endswith("-sharded"):
        return ShardedRedisStore(_url(store_kind, request), namespace, SHARDS)
    return RedisStore(_url(store_kind, request), namespace)


@pytest.fixture
async def store(store_kind, request, namespace):
    if store_kind == "memory":
        s = MemoryStore()
    else:
        s = redis_store(store_kind, request, namespace)
    await s.start()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def config():
    return load_config(PERIODIC_CLEANUP_ENABLED=False, CLEANUP_BATCH_SIZE=10)


@pytest.fixture
async def make_manager(store_kind, request, namespace, clock):
    """Factory: managers sharing one store backend (several workers on one Redis namespace)."""
    made: list[ConnectionManager] = []
    shared_memory = MemoryStore()

    async def factory(*, worker_id: str | None = None, store=None, observer: bool = False, **cfg) -> ConnectionManager:
        cfg.setdefault("PERIODIC_CLEANUP_ENABLED", False)
        if store is None:
            if store_kind == "memory":
                store = shared_memory
            else:
                store = redis_store(store_kind, request, namespace)
        m = ConnectionManager(store, load_config(**cfg), clock=clock, worker_id=worker_id, observer=observer)
        await m.start()
        made.append(m)
        return m

    yield factory
    for m in made:
        await m.stop(close_streams=False)


@pytest.fixture
async def outage_redis(namespace):
    """A redis-server of this test's own (the test may stop and restart it) and a started
    manager on it with short timeouts: ``(server, manager)``."""
    server = RedisServer().start()
    try:
        cfg = load_config(PERIODIC_CLEANUP_ENABLED=False, REDIS_TIMEOUT_SECONDS=0.5)
        manager = ConnectionManager(RedisStore(server.url, namespace, timeout=0.5), cfg)
        await manager.start()
        yield server, manager
        await manager.stop()
    finally:
        server.stop()
