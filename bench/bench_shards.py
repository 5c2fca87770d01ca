"""The sharded registry (issue 15): ``python -m bench.bench_shards [--quick] [--n 1000000]``.

1. A burst of 10,000 ``manager.register()`` calls on one worker (10,000 tasks at once, as
   10,000 requests arriving together), against a real redis-server: the time until all
   are in Redis (a separate client polls the census), and the longest any ``register()``
   call waited. Unsharded and with 3 shards on one redis-server, and 3 shards on a 3-node
   Redis Cluster. Target: all in Redis within 2 s. Baseline in the same run: 10,000
   sequential raw ``PING`` round trips (what registering one at a time could not beat).
2. The census (``store.census``, one round trip per shard in parallel) with 3 shards on a
   3-node Redis Cluster at 10k / 100k / ``--n`` (default 1M) connections, and the keys each
   node holds (``DBSIZE``). Target: the census at ``--n`` <= 2x the 10k figure; keys on
   every node. Baseline in the same run: the unsharded layout on the same cluster (every
   key on one node).

Missed performance targets print FAIL but exit 0; a wrong count raises AssertionError.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import shutil
import statistics
import tempfile
import time
from typing import Any

import redis.asyncio as aioredis

from core.config import load_config
from core.manager import ConnectionManager
from core.provider import make_store
from core.store.base import AgeQuery
from core.store.sharded import make_redis_store
from tests.redis_cluster import start_redis_cluster

from .common import PrivateRedis, Table, fmt_s, median_time, synth_records

NOW = 1_750_000_000.0
BURST = 10_000
RESULTS: list[tuple[str, bool, str]] = []


def q(now: float) -> AgeQuery:
    return AgeQuery(now=now, stale_threshold=300, long_lived=3600, very_old=21600, edges=(0, 60, 300, 3600, 86400))


async def ping_baseline(url: str, n: int) -> tuple[float, float]:
    """(seconds for ``n`` sequential PINGs on one connection, median single PING)."""
    client = aioredis.Redis.from_url(url)
    try:
        await client.ping()
        t0 = time.perf_counter()
        samples = []
        for _ in range(n):
            t1 = time.perf_counter()
            await client.ping()
            samples.append(time.perf_counter() - t1)
        return time.perf_counter() - t0, statistics.median(samples)
    finally:
        await client.aclose()


async def burst(url: str, ns: str, shards: int) -> tuple[float, float, float]:
    """(seconds until all BURST are in Redis, longest register() wait, seconds until every
    register() returned) for one worker."""
    cfg = load_config(REDIS_URL=url, REDIS_NAMESPACE=ns, REDIS_SHARDS=shards, PERIODIC_CLEANUP_ENABLED=False,
                      HISTORY_ENABLED=False)
    manager = ConnectionManager(make_store(cfg), cfg, worker_id="bench-worker")
    await manager.start()
    probe = make_redis_store(url, ns, shards)
    await probe.start()
    waits: list[float] = []

    async def one() -> None:
        t1 = time.perf_counter()
        await manager.register(channel="bench", client_address="10.0.0.1:5000", user_agent="bench/1.0")
        waits.append(time.perf_counter() - t1)

    try:
        t0 = time.perf_counter()
        tasks = [asyncio.create_task(one()) for _ in range(BURST)]
        returned = 0.0
        in_redis = 0.0
        while True:
            total = (await probe.census(q(time.time()))).ages.total
            if not returned and all(t.done() for t in tasks):
                returned = time.perf_counter() - t0
            if total >= BURST:
                in_redis = time.perf_counter() - t0
                break
            if time.perf_counter() - t0 > 60:
                raise AssertionError(f"only {total} of {BURST} registrations reached Redis in 60 s")
            await asyncio.sleep(0.002)
        await asyncio.gather(*tasks)
        returned = returned or time.perf_counter() - t0
        assert (await probe.census(q(time.time()))).counter == BURST
        return in_redis, max(waits), returned
    finally:
        await manager.stop(close_streams=False)
        await probe.close()


async def burst_section(url: str, cluster_url: str, repeats: int) -> None:
    print(f"\n=== 1. a burst of {BURST:,} register() calls on one worker (median of {repeats})", flush=True)
    seq, rtt = await ping_baseline(url, BURST)
    print(f"baseline: {BURST:,} sequential PINGs {fmt_s(seq)} (one round trip {fmt_s(rtt)})")
    table = Table("layout", "all in Redis", "longest register() wait", "all returned", f"vs {BURST:,} PINGs", "target 2 s")
    for label, u, shards in (("one redis-server, unsharded", url, 1), ("one redis-server, 3 shards", url, 3),
                             ("3-node cluster, 3 shards", cluster_url, 3)):
        runs = [await burst(u, f"burst-{shards}-{i}-{int(time.time() * 1000) % 100000}", shards) for i in range(repeats)]
        in_redis = statistics.median(r[0] for r in runs)
        wait = statistics.median(r[1] for r in runs)
        ret = statistics.median(r[2] for r in runs)
        ok = in_redis <= 2.0
        RESULTS.append((f"burst, {label}: all in Redis within 2 s", ok, fmt_s(in_redis)))
        table.add(label, fmt_s(in_redis), fmt_s(wait), fmt_s(ret), f"{in_redis / seq:.2f}x", "PASS" if ok else "FAIL")
    table.print()


async def node_keys(cluster: Any) -> list[int]:
    out = []
    for node in sorted(cluster.get_primaries(), key=lambda n: n.port):
        direct = aioredis.Redis(host=node.host, port=node.port)
        try:
            out.append(int(await direct.dbsize()))
        finally:
            await direct.aclose()
    return out


async def census_section(cluster_url: str, sizes: list[int]) -> None:
    print(f"\n=== 2. census with 3 shards on a 3-node Redis Cluster, up to {sizes[-1]:,} connections", flush=True)
    table = Table("layout", "connections", "census (median)", "keys per node (DBSIZE)")
    first = last = 0.0
    for shards in (1, 3):
        ns = f"census-{shards}"
        store = make_redis_store(cluster_url, ns, shards)
        await store.start()
        try:
            have = 0
            for n in (sizes if shards == 3 else sizes[:1]):
                for start in range(have, n, 50_000):
                    await store.register_many(synth_records(min(50_000, n - start), NOW, start=start, prefix=f"s{shards}"))
                have = n
                med, _, census = await median_time(lambda: store.census(q(NOW)), repeats=21, warmup=3)
                assert census.ages.total == n and census.counter == n, (census.ages.total, census.counter, n)
                per_node = await node_keys(store.client)
                table.add(f"{shards} shard{'s' if shards > 1 else ''}", f"{n:,}", fmt_s(med), " / ".join(f"{k:,}" for k in per_node))
                if shards == 3:
                    first = first or med
                    last = med
                    if n == sizes[-1]:
                        RESULTS.append(("3 shards: keys on every node", all(k > 0 for k in per_node), str(per_node)))
            await store.client.flushall()
        finally:
            await store.close()
    table.print()
    ratio = last / first
    RESULTS.append((f"census at {sizes[-1]:,} <= 2x the census at {sizes[0]:,}", ratio <= 2.0, f"{ratio:.2f}x"))


async def main(quick: bool, n: int, repeats: int) -> None:
    print(f"Python {platform.python_version()}, {platform.machine()}")
    tmp = tempfile.mkdtemp(prefix="bench-shards-")
    try:
        with PrivateRedis() as server, start_redis_cluster(tmp) as cluster:
            print(f"redis-server {server.version()}; cluster of {len(cluster.ports)} nodes")
            await burst_section(server.url, cluster.url, repeats)
            sizes = [10_000, 100_000] if quick else [10_000, 100_000, n]
            await census_section(cluster.url, sizes)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("\n=== targets")
    for name, ok, detail in RESULTS:
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="census up to 100k only")
    p.add_argument("--n", type=int, default=1_000_000, help="largest census size (default 1M)")
    p.add_argument("--repeats", type=int, default=3, help="bursts per layout (median)")
    args = p.parse_args()
    asyncio.run(main(args.quick, args.n, args.repeats))
