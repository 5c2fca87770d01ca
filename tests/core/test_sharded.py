"""The sharded registry (SSE_REDIS_SHARDS): where keys land, and what only sharding can break.

The store contract and the manager tests already run on 3 shards (store kinds
``redis-sharded`` and ``redis-cluster-sharded`` in conftest); these tests check the layout.
"""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from core.config import load_config
from core.fleet import FleetReader
from core.keys import shard_of, shard_tags
from core.manager import ConnectionManager
from core.models import ConnectionRecord
from core.provider import make_store
from core.store.base import AgeQuery
from core.store.redis import RedisStore
from core.store.sharded import ShardedRedisStore

T0 = 1_700_000_000.0


def rec(cid: str, worker: str = "w1") -> ConnectionRecord:
    return ConnectionRecord(connection_id=cid, worker_id=worker, host="h", pid=1, channel="c",
                            client_address="127.0.0.1:5", user_agent="ua", connected_at=T0, last_activity=T0)


def test_one_shard_is_todays_layout_and_shard_tags_spread_over_the_slot_ranges():
    assert shard_tags("sse", 1) == ["sse"]
    for n in (2, 3, 5, 16):
        tags = shard_tags("sse", n)
        assert tags[0] == "sse" and tags == shard_tags("sse", n)  # deterministic
        ranges = {key_slot(t.encode()) * n // 16384 for t in tags}
        assert ranges == set(range(n))  # one shard in each of n equal slot ranges
    assert {shard_of(f"c{i}", 3) for i in range(100)} == {0, 1, 2}
    assert shard_of("anything", 1) == 0


def test_make_store_keeps_the_plain_store_for_one_shard():
    assert isinstance(make_store(load_config(REDIS_URL="redis://127.0.0.1:1/0")), RedisStore)
    store = make_store(load_config(REDIS_URL="redis://127.0.0.1:1/0", REDIS_SHARDS=4))
    assert isinstance(store, ShardedRedisStore) and store.count == 4


async def test_three_shards_on_a_three_node_cluster_put_keys_on_every_node(redis_cluster_url, namespace):
    store = ShardedRedisStore(redis_cluster_url, namespace, 3)
    await store.start()
    try:
        await store.register_many([rec(f"c{i}") for i in range(300)])
        cluster = store.client
        assert isinstance(cluster, RedisCluster)
        per_node = {}
        for node in cluster.get_primaries():
            direct = aioredis.Redis(host=node.host, port=node.port, decode_responses=True)
            try:
                per_node[node.port] = len([k async for k in direct.scan_iter(match="{" + namespace + "*", count=1000)])
            finally:
                await direct.aclose()
        assert len(per_node) == 3 and all(n > 0 for n in per_node.values()), per_node
        census = await store.census(AgeQuery(now=T0, stale_threshold=300, long_lived=3600, very_old=21600))
        assert (census.ages.total, census.counter) == (300, 300)
    finally:
        await store.close()


async def test_every_shard_holds_a_share_and_its_own_counter(redis_url, namespace):
    store = ShardedRedisStore(redis_url, namespace, 3)
    await store.start()
    try:
        await store.register_many([rec(f"c{i}") for i in range(300)])
        sizes = [await store.client.zcard(s.keys.activity) for s in store.shards]
        counters = [int(await store.client.get(s.keys.counter)) for s in store.shards]
        assert sizes == counters and all(n > 50 for n in sizes) and sum(sizes) == 300
        # fleet-wide keys live on shard 0 only
        await store.publish_config({"A": "1"})
        assert await store.client.exists(store.shards[1].keys.config) == 0
    finally:
        await store.close()


async def test_concurrent_reapers_across_shards_remove_each_connection_once(redis_url, namespace):
    stores = [ShardedRedisStore(redis_url, namespace, 3) for _ in range(4)]
    for s in stores:
        await s.start()
    try:
        await stores[0].register_many([rec(f"d{i}", "dead") for i in range(500)] + [rec("live", "w2")])

        async def reap(s: ShardedRedisStore, me: str) -> int:
            removed = 0
            while True:
                n, left = await s.reap_worker("dead", 40, me)
                removed += n
                if left <= 0:
                    return removed
                await asyncio.sleep(0)

        removed = await asyncio.gather(*(reap(s, f"r{i}") for i, s in enumerate(stores)))
        # the lease holder finishes; the others gave up at once, having removed nothing
        assert sum(removed) == 500 and sorted(removed)[:3] == [0, 0, 0]
        census = await stores[0].census(AgeQuery(now=T0, stale_threshold=300, long_lived=3600, very_old=21600))
        assert (census.ages.total, census.counter) == (1, 1)
    finally:
        for s in stores:
            await s.close()


async def test_the_observer_reads_the_layout_the_workers_publish(redis_url, namespace):
    """The layout, and the settings the fleet is judged by (sse-dash --redis publishes them
    in its configuration as a worker's /monitoring does: here a non-default not-reading time)."""
    cfg = load_config(REDIS_URL=redis_url, REDIS_NAMESPACE=namespace, REDIS_SHARDS=3, PERIODIC_CLEANUP_ENABLED=False,
                      NOT_READING_SECONDS=12.0)
    worker = ConnectionManager(make_store(cfg), cfg, worker_id="w1")
    await worker.start()
    reader = await FleetReader.connect(redis_url, namespace)  # no config: follows the published one
    try:
        assert isinstance(reader.manager.store, ShardedRedisStore) and reader.manager.store.count == 3
        for _ in range(30):
            await worker.register()
        await worker.flush_touches()
        snap = await reader.snapshot()
        assert snap.connection_stats.redis_connection_counters == 30
        assert [(w.worker_id, w.connections) for w in snap.workers] == [("w1", 30)]
        assert snap.configuration.not_reading_seconds == 12.0  # the workers' setting, not the observer's default
    finally:
        await reader.close()
        await worker.stop()


async def test_retiring_an_old_shard_count_empties_only_the_tags_no_longer_used(redis_url, namespace):
    old = ShardedRedisStore(redis_url, namespace, 3)
    new = ShardedRedisStore(redis_url, namespace, 2)
    await old.start()
    await new.start()
    try:
        await old.register_many([rec(f"c{i}", "crashed") for i in range(90)])
        retired = set(shard_tags(namespace, 3)) - set(shard_tags(namespace, 2))
        assert retired  # a tag may be shared by both counts (kept), never all of them
        held = {s.keys.tag or namespace: await old.client.zcard(s.keys.activity) for s in old.shards}
        kept = sum(n for t, n in held.items() if t not in retired)
        await new.register_many([rec(f"n{i}", "new") for i in range(10)])
        done = await new.retire(3)
        assert set(done) == retired and sum(done.values()) == 90 - kept
        leftover = [k async for k in new.client.scan_iter(match="{" + namespace + "#*")
                    if not any(k.startswith("{" + t + "}") for t in shard_tags(namespace, 2))]
        assert leftover == []
        census = await new.census(AgeQuery(now=T0, stale_threshold=300, long_lived=3600, very_old=21600))
        assert (census.ages.total, census.counter) == (10 + kept, 10 + kept)  # tags in both layouts are kept
    finally:
        await old.close()
        await new.close()


async def test_pages_and_channels_across_shards_match_the_unsharded_store(redis_url, namespace):
    """Every sort, order, search and offset: the merged pages of 3 shards are the pages of
    one store holding the same connections."""
    one = RedisStore(redis_url, namespace + "-one")
    three = ShardedRedisStore(redis_url, namespace + "-three", 3)
    now = T0 + 10_000
    records = [ConnectionRecord(connection_id=f"c{i:03d}", worker_id=f"w{i % 3}", host="h", pid=1,
                                channel=f"ch{i % 4}", client_address=f"10.0.0.{i % 7}:5", user_agent=f"ua{i % 5}",
                                connected_at=now - 5000 + (i * 37) % 4000, last_activity=now - (i * 53) % 900,
                                events_sent=(i * 7) % 11, bytes_sent=(i * 13) % 17)
               for i in range(120)]
    for s in (one, three):
        await s.start()
        await s.register_many(records)
    query = AgeQuery(now=now, stale_threshold=300, long_lived=3600, very_old=21600)
    try:
        for state in ("all", "stale", "active", "long_lived"):
            for sort in (None, "age", "idle", "events", "bytes"):
                for order in ("desc", "asc"):
                    for text, offset in (("", 0), ("", 17), ("w1", 0), ("ua3", 5)):
                        a = await one.list_connections(state, query, 10, offset, query=text, sort=sort, order=order)
                        b = await three.list_connections(state, query, 10, offset, query=text, sort=sort, order=order)
                        assert (b.total, [r.connection_id for r in b.records]) == \
                            (a.total, [r.connection_id for r in a.records]), (state, sort, order, text, offset)
        rows_one, scanned_one, _ = await one.channels(query)
        rows_three, scanned_three, truncated = await three.channels(query)
        assert sorted(rows_three, key=lambda r: r.channel) == sorted(rows_one, key=lambda r: r.channel)
        assert scanned_three == scanned_one == 120 and not truncated
    finally:
        await one.close()
        await three.close()


async def test_bad_data_in_one_shard_makes_the_counter_unknown_not_wrong(redis_url, namespace):
    store = ShardedRedisStore(redis_url, namespace, 3)
    await store.start()
    try:
        await store.register_many([rec(f"c{i}") for i in range(30)])
        await store.client.set(store.shards[2].keys.counter, "banana")
        read = await store.fleet_read(AgeQuery(now=T0, stale_threshold=300, long_lived=3600, very_old=21600))
        assert read.census.ages.total == 30 and read.census.counter is None
        assert any(store.shards[2].keys.counter in b for b in read.bad_data)
        assert await store.reconcile_counter() == (-1, 30)
        assert (await store.census(AgeQuery(now=T0, stale_threshold=300, long_lived=3600, very_old=21600))).counter == 30
    finally:
        await store.close()
