"""The capacity model (issue 15): ``python -m bench.bench_capacity [--streams 40000] [--workers 4]``.

A load driver: ``--workers`` real ``ConnectionManager`` s (the workers' own store code and
Lua, no sockets: the registry side only) hold ``--streams`` streams between them, each
stream sending something every second of simulated time, against a real redis-server
and against a real 3-node Redis Cluster with ``SSE_REDIS_SHARDS=3``. Per simulated second
every worker flushes as its writer task does (activity at the declared resolution,
event/byte counts every ``counts_interval``: 300 s at the default threshold), ``--churn`` percent of the streams reconnect per
minute (unregister + register), one observer polls the monitoring snapshot (a dashboard
at 1 s), one worker writes the fleet history sample every 10 s and runs the stale
cleanup every 60 s.

Measured per phase, from Redis itself: CPU (``INFO cpu`` user+sys of every node: all the
work the registry causes, protocol handling included), commands (``INFO commandstats``:
the top-level calls; Lua-internal ones are listed apart), memory (``used_memory``) and
the workers' round trips (client side). Projected to 1M and 10M streams by the formula
in docs/capacity.md. The baseline in the same run is an idle Redis over the same wall
time (its housekeeping CPU), subtracted from every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from core.config import load_config
from core.manager import ConnectionManager
from core.provider import make_store
from tests.redis_cluster import start_redis_cluster

from .common import PrivateRedis, RoundTrips, Stream

START = 1_800_000_000.0


@dataclass
class Usage:
    cpu: float  # seconds of Redis CPU (all nodes)
    memory: int  # used_memory, bytes (all nodes)
    scripts: float  # seconds inside the workers' Lua scripts (INFO commandstats, EVALSHA)


async def usage(nodes: list[aioredis.Redis]) -> Usage:
    cpu = scripts = 0.0
    memory = 0
    for n in nodes:
        info = await n.info("cpu", "memory", "commandstats")
        cpu += float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
        memory += int(info["used_memory"])
        scripts += float(info.get("cmdstat_evalsha", {}).get("usec", 0)) / 1e6
    return Usage(cpu, memory, scripts)


def diff(a: Usage, b: Usage) -> Usage:
    return Usage(b.cpu - a.cpu, b.memory - a.memory, b.scripts - a.scripts)


async def run(url: str, node_urls: list[str], shards: int, n: int, workers: int, seconds: int,
              churn_pct: float, label: str) -> dict[str, Any]:
    now = [START]
    cfg = load_config(REDIS_URL=url, REDIS_NAMESPACE=f"cap{shards}", REDIS_SHARDS=shards,
                      STALE_CONNECTION_THRESHOLD_SECONDS=300, TOUCH_FLUSH_INTERVAL_SECONDS=3600,
                      PERIODIC_CLEANUP_ENABLED=False, REGISTER_WAIT_SECONDS=0, HISTORY_ENABLED=False)
    nodes = [aioredis.Redis.from_url(u, decode_responses=True) for u in node_urls]
    for c in nodes:
        RoundTrips.tag(c)
    managers = [ConnectionManager(make_store(cfg), cfg, clock=lambda: now[0], worker_id=f"{label}-w{i}")
                for i in range(workers)]
    observer = ConnectionManager(make_store(cfg), cfg, clock=lambda: now[0], worker_id=f"{label}-obs", observer=True)
    for m in (*managers, observer):
        await m.start()
    rng = random.Random(5)
    streams: list[dict[str, Stream]] = [{} for _ in managers]
    out: dict[str, Any] = {"label": label, "n": n, "workers": workers, "seconds": seconds}

    async def open_streams(count: int) -> None:
        for i in range(count):
            w = i % workers
            s = Stream()
            rec = await managers[w].register(activity=s, channel=f"ch{i % 8}", client_address=f"10.1.{i % 250}.{i % 200}:443",
                                             user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")
            streams[w][rec.connection_id] = s
        for m in managers:
            await m.flush_touches(counters=False)

    base = await usage(nodes)
    with RoundTrips(ignore=nodes) as rt:
        t0 = time.perf_counter()
        await open_streams(n)
        reg_wall = time.perf_counter() - t0
        reg_rt = rt.count
    after_reg = await usage(nodes)
    out["register"] = diff(base, after_reg)
    out["register_rt"] = reg_rt
    out["register_wall"] = reg_wall
    census = (await observer.monitoring_snapshot()).connection_stats
    assert census.redis_connection_counters == n, (census.redis_connection_counters, n)

    with RoundTrips(ignore=nodes) as rt:
        t0 = time.perf_counter()
        churned = 0
        for sec in range(1, seconds + 1):
            now[0] += 1.0
            # churn: a share of the streams reconnect this second (on a random worker)
            k = int(n * churn_pct / 100 / 60 + rng.random())
            for _ in range(k):
                w = rng.randrange(workers)
                if not streams[w]:
                    continue
                cid = next(iter(streams[w]))
                del streams[w][cid]
                await managers[w].unregister(cid)
                s = Stream()
                rec = await managers[w].register(activity=s, channel="ch0", client_address="10.2.0.1:443")
                streams[w][rec.connection_id] = s
                churned += 1
            for m, mine in zip(managers, streams, strict=True):
                for s in mine.values():
                    s.events_sent += 1
                    s.bytes_sent += 64
                await m.flush_touches(counters=m.counts_due())
            await observer.monitoring_snapshot()  # a dashboard polling at 1 s
            if sec % 10 == 0:
                await managers[0].record_history()
            if sec % 60 == 0:
                await managers[0].run_cleanup()
        steady_wall = time.perf_counter() - t0
        steady_rt = rt.count
    out["steady"] = diff(after_reg, await usage(nodes))
    out["steady_rt"] = steady_rt
    out["steady_wall"] = steady_wall
    out["churned"] = churned
    census = (await observer.monitoring_snapshot()).connection_stats
    assert census.redis_connection_counters == n, (census.redis_connection_counters, n)
    for m in managers:
        await m.stop(close_streams=False)
    await observer.stop(close_streams=False)
    for c in nodes:
        await c.aclose()
    return out


async def idle_cpu(node_urls: list[str], wall: float) -> float:
    """Redis CPU of the same nodes doing nothing for ``wall`` seconds (housekeeping)."""
    nodes = [aioredis.Redis.from_url(u, decode_responses=True) for u in node_urls]
    a = await usage(nodes)
    await asyncio.sleep(wall)
    b = await usage(nodes)
    for c in nodes:
        await c.aclose()
    return b.cpu - a.cpu


def steady_cpu(r: dict[str, Any], idle_per_s: float) -> float:
    """Redis CPU per simulated second of the steady phase, housekeeping subtracted."""
    return max(r["steady"].cpu - idle_per_s * r["steady_wall"], 0.0) / r["seconds"]


def report(small: dict[str, Any], big: dict[str, Any], idle_per_s: float) -> list[str]:
    """The linear model CPU/s = fixed + per_conn * N, fitted on the two sizes."""
    n1, n2, w = small["n"], big["n"], big["workers"]
    c1, c2 = steady_cpu(small, idle_per_s), steady_cpu(big, idle_per_s)
    per_conn = max((c2 - c1) / (n2 - n1), 0.0)
    fixed = max(c1 - per_conn * n1, 0.0)
    reg = big["register"]
    mem = reg.memory / n2
    per_worker = fixed / (w + 1)  # the workers' heartbeats and the dashboard's polls, shared out
    lines = [f"{big['label']}: {n1:,} and {n2:,} streams on {w} workers, {big['seconds']} simulated s each,"
             f" {big['churned']:,} reconnects in the bigger run"]
    for r in (small, big):
        lines.append(f"  {r['n']:>9,} streams: {steady_cpu(r, idle_per_s) * 100:6.2f} % of a core"
                     f" ({r['steady'].scripts / max(r['steady'].cpu, 1e-9):.0%} in scripts),"
                     f" {r['steady_rt'] / (w + 1) / r['seconds']:.2f} round trips/s per process")
    lines += [
        f"  model: {per_conn * 1e6:.3f} µs per connection-second + {fixed * 100:.2f} % of a core fixed"
        f" ({w} workers + 1 dashboard: ~{per_worker * 100:.2f} % each); housekeeping {idle_per_s * 100:.2f} % subtracted",
        f"  register: {reg.cpu / n2 * 1e6:.1f} µs Redis CPU, {big['register_rt'] / n2:.3f} round trips per connection;"
        f" memory {mem:,.0f} B per connection",
    ]
    for total, workers in ((1_000_000, 100), (10_000_000, 1000)):
        cpu = per_conn * total + per_worker * (workers + 1)
        lines.append(f"  projected {total:>10,} streams on {workers} workers: {cpu * 100:6.1f} % of one Redis core,"
                     f" {mem * total / 2**30:6.2f} GiB")
    big["model"] = (per_conn, fixed, per_worker, mem)
    return lines


async def setup(url: str, node_urls: list[str], shards: int, n: int, workers: int, seconds: int, churn: float,
                label: str) -> list[str]:
    small = await run(url, node_urls, shards, max(n // 4, 1000), workers, seconds, churn, label)
    big = await run(url, node_urls, shards, n, workers, seconds, churn, label)
    idle = await idle_cpu(node_urls, 5.0) / 5.0
    return report(small, big, idle)


async def main(n: int, workers: int, seconds: int, churn: float, cluster: bool) -> None:
    tmp = tempfile.mkdtemp(prefix="sse-capacity-")
    try:
        with PrivateRedis() as server:
            print(f"redis-server {server.version()}")
            for line in await setup(server.url, [server.url], 1, n, workers, seconds, churn, "one redis-server"):
                print(line)
        if cluster:
            with start_redis_cluster(tmp) as c:
                urls = [f"redis://127.0.0.1:{p}" for p in c.ports]
                for line in await setup(c.url, urls, 3, n, workers, seconds, churn, "3-node cluster, 3 shards"):
                    print(line)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--seconds", type=int, default=600, help="simulated seconds (600: two counts intervals)")
    ap.add_argument("--churn", type=float, default=5.0, help="percent of the streams reconnecting per minute")
    ap.add_argument("--no-cluster", action="store_true")
    a = ap.parse_args()
    asyncio.run(main(a.streams, a.workers, a.seconds, a.churn, not a.no_cluster))
