"""The store contract fixtures: every contract test runs against the memory store and the
Redis store, on one redis-server and on a 3-node Redis Cluster, unsharded and with 3 shards."""

from __future__ import annotations

import asyncio

import pytest

from core.config import load_config
from core.manager import ConnectionManager
from core.store.base import StoreUnavailable
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


async def in_step(m: ConnectionManager, timeout: float = 30.0) -> None:
    """Wait until ``m`` is connected and in step with the store. start() waits at most 0.5 s for
    the store (then serves and connects in the background): on a busy machine it can give up
    first, and the manager then resyncs over its next flushes. The tests start from a manager
    in step, so the flushes are done here (a deadline, never a sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (m.store_ok and not m.registry.resyncing):
        assert loop.time() < deadline, f"manager {m.worker_id} not in step with the store: {m.store_status}"
        if m.status_tracker.connected:
            await m.flush_touches()
        else:
            try:
                await m.registry.connect()
            except StoreUnavailable as exc:
                m.status_tracker.mark_unavailable(exc)
                await asyncio.sleep(0.05)  # the next try (bounded by the deadline)


@pytest.fixture
async def make_manager(store_kind, request, namespace, clock):
    """Factory: managers sharing one store backend (several workers on one Redis namespace)."""
    made: list[ConnectionManager] = []
    shared_memory = MemoryStore()

    async def factory(*, worker_id: str | None = None, store=None, observer: bool = False, writer: bool = False,
                      **cfg) -> ConnectionManager:
        """``writer``: keep the registry's writer task. Off by default: it flushes every
        TOUCH_FLUSH_INTERVAL of *real* time, with the fake clock's times, between the test's
        own steps (a busy machine makes that happen mid-test); the test flushes itself
        (``flush_touches``), and registrations go straight to the store."""
        cfg.setdefault("PERIODIC_CLEANUP_ENABLED", False)
        if store is None:
            if store_kind == "memory":
                store = shared_memory
            else:
                store = redis_store(store_kind, request, namespace)
        m = ConnectionManager(store, load_config(**cfg), clock=clock, worker_id=worker_id, observer=observer)
        await m.start()
        made.append(m)
        if not observer:
            if not writer:
                await m.registry.loop.stop()
            await in_step(m)
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
