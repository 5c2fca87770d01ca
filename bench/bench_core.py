"""Core benchmarks against a private redis-server: ``python -m bench.bench_core [--quick]``.

1. ``get_detailed_monitoring_stats()`` at 1k / 10k / 100k registered connections, against
   the hand-rolled baseline (one hash per connection, SCAN + pipelined HGETALL + counting in Python).
   Targets: the 100k figure <= 2x the 1k figure; >= 50x faster than the baseline at 100k;
   the stale / long_lived / very_old counts equal the baseline's (asserted).
2. ``run_cleanup(batch_size=B)`` of 100k stale connections for B in (100, 1000): removed/s
   (target >= 50k/s), round trips and server commands per batch; all removed, counter 0.
3. ``register`` + ``unregister`` pairs per second (sequential, and 50 concurrent tasks),
   reported as a ratio of raw ``redis.asyncio`` PINGs per second in the same run.

All figures are medians of several runs; ratios are against baselines measured in the
same run (the machine is shared, absolute numbers are noisy). Missed performance targets
print FAIL but exit 0; a wrong count (correctness) raises AssertionError at the end.
``--quick`` shrinks sizes to 1k/5k/20k and the cleanup to 20k (CI smoke).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import sys
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from core.config import load_config
from core.manager import ConnectionManager
from core.models import AgeCounts
from core.store.redis import RedisStore, _connect

from .common import (
    AgeProfile,
    PrivateRedis,
    RoundTrips,
    Table,
    bulk_register,
    command_delta,
    command_stats,
    expected_ages,
    fmt_n,
    fmt_s,
    median,
    median_time,
    naive_age_counts,
    naive_register,
    synth_records,
)

NOW = 1_750_000_000.0  # fixed clock: the manager and the baseline classify against the same instant


@dataclass
class Target:
    name: str
    passed: bool
    detail: str
    correctness: bool = False


TARGETS: list[Target] = []


def target(name: str, passed: bool, detail: str, *, correctness: bool = False) -> None:
    TARGETS.append(Target(name, passed, detail, correctness))


def section(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def profile_of(cfg: Any) -> AgeProfile:
    return AgeProfile(stale_threshold=cfg.STALE_CONNECTION_THRESHOLD_SECONDS, long_lived=cfg.LONG_LIVED_SECONDS,
                      very_old=cfg.VERY_OLD_SECONDS)


def make_config(url: str, ns: str) -> Any:
    return load_config(REDIS_URL=url, REDIS_NAMESPACE=ns, PERIODIC_CLEANUP_ENABLED=False)


async def measure_client(url: str) -> aioredis.Redis:
    """A client for INFO / checks whose traffic the round-trip counter ignores."""
    client = aioredis.Redis.from_url(url, decode_responses=True)
    RoundTrips.tag(client)
    await client.ping()
    return client


async def observer_setup(url: str, ns: str) -> tuple[Any, Any, RedisStore, ConnectionManager, Any]:
    """Config, age profile, store, a started observer manager (fixed clock) and a measuring client."""
    cfg = make_config(url, ns)
    store = RedisStore(url, ns)
    manager = ConnectionManager(store, cfg, clock=lambda: NOW, observer=True)
    await manager.start()
    return cfg, profile_of(cfg), store, manager, await measure_client(url)


# ---------------------------------------------------------------------------------------------
# 1. monitoring stats


async def bench_monitoring(url: str, sizes: tuple[int, ...], quick: bool) -> None:
    section(f"1. get_detailed_monitoring_stats() vs hand-rolled SCAN+HGETALL  (sizes {', '.join(fmt_n(s) for s in sizes)})")
    ns = "benchmon"
    cfg, prof, store, manager, meas = await observer_setup(url, ns)
    naive_client = aioredis.Redis.from_url(url, decode_responses=True)
    records: list[Any] = []
    table = Table("connections", "setup reg/s", "manager median", "RTs/call", "cmds/call", "naive median",
                  "naive/manager", "stale", "long_lived", "very_old", "counts")
    manager_t: dict[int, float] = {}
    naive_t: dict[int, float] = {}
    try:
        await meas.flushall()
        for size in sizes:
            new = synth_records(size - len(records), NOW, start=len(records), seed=11, stale_fraction=0.2,
                                profile=prof)
            added, reg_s = await bulk_register(store, new)
            assert added == len(new), f"register_many added {added} of {len(new)}"
            records.extend(new)
            await naive_register(naive_client, ns, new)

            mt, _, snap = await median_time(manager.get_detailed_monitoring_stats,
                                            repeats=9 if quick else 15, warmup=2)
            before = await command_stats(meas)
            with RoundTrips(ignore=[meas]) as rt:
                snap = await manager.get_detailed_monitoring_stats()
            delta = command_delta(before, await command_stats(meas))

            naive_repeats = 3 if size >= 50_000 else 5
            nt, _, naive = await median_time(lambda: naive_age_counts(naive_client, ns, NOW, prof),
                                             repeats=naive_repeats, warmup=1)
            exp = expected_ages(records, NOW, prof)
            cs = snap["cleanup_stats"]
            got = AgeCounts(total=cs["stale"] + cs["active"], stale=cs["stale"], long_lived=cs["long_lived"],
                            very_old=cs["very_old"])
            counter = snap["connection_stats"]["redis_connection_counters"]
            ok = got == naive == exp and counter == size
            target(f"monitoring counts == baseline @ {fmt_n(size)}", ok,
                   f"manager {got}, counter {counter}; baseline {naive}; ground truth {exp}", correctness=True)
            manager_t[size], naive_t[size] = mt, nt
            table.add(f"{size:,}", fmt_n(len(new) / reg_s), fmt_s(mt), rt.count, delta.total, fmt_s(nt),
                      f"{nt / mt:,.0f}x", got.stale, got.long_lived, got.very_old, "OK" if ok else "MISMATCH")
        table.print()
        small, big = sizes[0], sizes[-1]
        growth = manager_t[big] / manager_t[small]
        target(f"monitoring @ {fmt_n(big)} <= 2x @ {fmt_n(small)}", growth <= 2.0,
               f"{fmt_s(manager_t[big])} / {fmt_s(manager_t[small])} = {growth:.2f}x")
        speedup = naive_t[big] / manager_t[big]
        target(f"monitoring @ {fmt_n(big)} >= 50x faster than hand-rolled", speedup >= 50.0,
               f"{fmt_s(naive_t[big])} / {fmt_s(manager_t[big])} = {speedup:,.0f}x")
        print("RTs/call = client round trips (a pipeline is one); cmds/call = server commands "
              "(total_commands_processed delta).", flush=True)
    finally:
        await manager.stop()
        await naive_client.aclose()
        await meas.aclose()


# ---------------------------------------------------------------------------------------------
# 2. cleanup


async def bench_cleanup(url: str, n: int, batch_sizes: tuple[int, ...], repeats: int) -> None:
    section(f"2. run_cleanup() of {n:,} stale connections  (median of {repeats} runs per batch size)")
    ns = "benchclean"
    cfg, prof, store, manager, meas = await observer_setup(url, ns)
    k = store.keys
    records = synth_records(n, NOW, seed=23, stale_fraction=1.0, profile=prof)
    assert expected_ages(records, NOW, prof).stale == n
    table = Table("batch", "removed/s", "wall", "batches", "RTs/batch", "cmds/batch", "EVALSHA/batch",
                  "Lua µs/batch", "Lua share", "Py+net share")
    try:
        # warm the scripts (EVALSHA -> NOSCRIPT -> SCRIPT LOAD happens once per script)
        await meas.flushall()
        await store.register_many(records[:10])
        await manager.run_cleanup(batch_size=10)
        for b in batch_sizes:
            rates: list[float] = []
            runs: list[tuple[float, Any, Any, int]] = []
            all_removed = True
            detail = ""
            for _ in range(repeats):
                await meas.flushall()
                added, _ = await bulk_register(store, records)
                assert added == n and int(await meas.get(k.counter)) == n
                before = await command_stats(meas)
                with RoundTrips(ignore=[meas]) as rt:
                    t0 = time.perf_counter()
                    result = await manager.run_cleanup(batch_size=b)
                    wall = time.perf_counter() - t0
                delta = command_delta(before, await command_stats(meas))
                left = await meas.zcard(k.activity) + await meas.zcard(k.connected)
                conn_keys = 0  # record buckets left (an emptied hash is deleted by Redis)
                async for key in meas.scan_iter(match=k.prefix + "rec:*", count=1000):
                    conn_keys += key != k.record_meta
                counter = int(await meas.get(k.counter) or 0)
                ok = result.cleaned == n and left == 0 and conn_keys == 0 and counter == 0 and result.failed == 0
                if not ok:
                    all_removed = False
                    detail = (f"cleaned {result.cleaned}/{n}, failed {result.failed}, left in zsets {left}, "
                              f"record buckets {conn_keys}, counter {counter}")
                rates.append(result.cleaned / wall)
                runs.append((wall, result, delta, rt.count))
            # report the run with the median rate
            order = sorted(range(len(rates)), key=rates.__getitem__)
            wall, result, delta, rts = runs[order[len(order) // 2]]
            rate = median(rates)
            lua_us = delta.usec.get("evalsha", 0)
            batches = max(result.batches, 1)
            table.add(b, f"{fmt_n(rate)}/s", fmt_s(wall), result.batches, f"{rts / batches:.2f}",
                      f"{delta.total / batches:,.1f}", f"{delta.n('evalsha') / batches:.2f}",
                      f"{lua_us / batches:,.0f}", f"{lua_us / 1e6 / wall:.0%}", f"{1 - lua_us / 1e6 / wall:.0%}")
            target(f"cleanup B={b}: all {fmt_n(n)} removed, counter 0", all_removed,
                   detail or f"cleaned {result.cleaned}, failed 0, zsets/hashes empty, counter 0", correctness=True)
            target(f"cleanup B={b}: >= 50k removed/s", rate >= 50_000,
                   f"median {fmt_n(rate)}/s (runs: {', '.join(fmt_n(r) for r in rates)})")
        table.print()
        print("RTs/batch = client round trips / result.batches (includes the run's fixed census/workers/"
              "reconcile/record round trips); cmds/batch = total_commands_processed delta / batches, which "
              "counts the commands run inside the Lua scripts too; Lua µs = commandstats usec of EVALSHA "
              "(server-side script time); Py+net share = the rest of the wall time.", flush=True)
    finally:
        await manager.stop()
        await meas.aclose()


# ---------------------------------------------------------------------------------------------
# 3. register + unregister


async def _pings(client: Any, n: int, tasks: int) -> float:
    per = n // tasks

    async def one() -> None:
        for _ in range(per):
            await client.ping()

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(tasks)))
    return per * tasks / (time.perf_counter() - t0)


async def _pairs(manager: ConnectionManager, n: int, tasks: int, tag: str) -> float:
    per = n // tasks

    async def one(t: int) -> None:
        for i in range(per):
            cid = f"{tag}-{t}-{i}"
            await manager.register(cid, channel="bench", client_address="127.0.0.1", user_agent="bench/1.0")
            await manager.unregister(cid)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(t) for t in range(tasks)))
    return per * tasks / (time.perf_counter() - t0)


async def bench_register(url: str, n: int, repeats: int) -> None:
    section(f"3. register+unregister pairs per worker, N={n:,}  (median of {repeats} runs, vs raw PING)")
    ns = "benchreg"
    cfg = make_config(url, ns)
    store = RedisStore(url, ns)
    manager = ConnectionManager(store, cfg, observer=False)
    await manager.start()
    meas = await measure_client(url)
    # the baseline client has exactly the options the store's client has
    ping_client = await _connect(url, cfg.REDIS_TIMEOUT_SECONDS)
    k = store.keys
    table = Table("mode", "pings/s", "pairs/s", "pairs/s ÷ pings/s", "RTs/pair", "cmds/pair")
    try:
        await manager.register("warm-1")
        await manager.unregister("warm-1")
        for tasks in (1, 50):
            # interleave baseline and subject runs so drifting load hits both alike
            pings: list[float] = []
            pairs: list[float] = []
            for r in range(repeats):
                pings.append(await _pings(ping_client, n, tasks))
                pairs.append(await _pairs(manager, n, tasks, f"r{tasks}-{r}"))
            before = await command_stats(meas)
            with RoundTrips(ignore=[meas]) as rt:
                m = max(n // 10, tasks)
                await _pairs(manager, m, tasks, f"count{tasks}")
            delta = command_delta(before, await command_stats(meas))
            p, q = median(pings), median(pairs)
            mode = "sequential" if tasks == 1 else f"{tasks} concurrent tasks"
            table.add(mode, fmt_n(p), fmt_n(q), f"{q / p:.3f}", f"{rt.count / m:.2f}", f"{delta.total / m:.1f}")
            target(f"register+unregister {mode}: info only", True,
                   f"{fmt_n(q)} pairs/s = {q / p:.3f} x {fmt_n(p)} pings/s (ideal <= 0.5: two round trips per pair)")
        table.print()
        zc = await meas.zcard(k.activity)
        counter = int(await meas.get(k.counter) or 0)
        target("register+unregister leaves nothing behind", zc == 0 and counter == 0 and manager.local_connection_count == 0,
               f"zset {zc}, counter {counter}, local {manager.local_connection_count}", correctness=True)
        print("A pair needs two round trips (register EVALSHA + unregister EVALSHA), so 0.5 is the "
              "ceiling; the gap below it is client-side Python (record building, redis-py).", flush=True)
    finally:
        await manager.stop()
        await ping_client.aclose()
        await meas.aclose()


# ---------------------------------------------------------------------------------------------


async def main(quick: bool) -> int:
    logging.getLogger("sse").setLevel(logging.WARNING)  # the cleanup log line is not the subject
    sizes = (1_000, 5_000, 20_000) if quick else (1_000, 10_000, 100_000)
    cleanup_n = 20_000 if quick else 100_000
    reg_n = 1_000 if quick else 5_000
    repeats = 3
    t_start = time.perf_counter()
    with PrivateRedis() as srv:
        print(f"bench_core{' --quick' if quick else ''}: python {platform.python_version()}, "
              f"redis-py {aioredis.__dict__.get('__version__', '') or __import__('redis').__version__}, "
              f"redis-server {srv.version()} on 127.0.0.1:{srv.port}, {os.cpu_count()} CPUs, "
              f"loadavg {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        await bench_monitoring(srv.url, sizes, quick)
        await bench_cleanup(srv.url, cleanup_n, (100, 1000), repeats)
        await bench_register(srv.url, reg_n, repeats)
    section(f"targets  (total {time.perf_counter() - t_start:.0f} s, loadavg now "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    for t in TARGETS:
        status = "PASS" if t.passed else "FAIL"
        if t.name.endswith("info only"):
            status = "INFO"
        print(f"{status}  {t.name}: {t.detail}", flush=True)
    missed = [t for t in TARGETS if not t.passed]
    wrong = [t for t in missed if t.correctness]
    print(f"\n{len(TARGETS) - len(missed)}/{len(TARGETS)} targets met"
          + (f"; MISSED: {', '.join(t.name for t in missed)}" if missed else ""), flush=True)
    if wrong:
        raise AssertionError("correctness check failed: " + "; ".join(f"{t.name}: {t.detail}" for t in wrong))
    return 0


def cli(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_core", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (1k/5k/20k, 20k cleanup) for CI smoke use")
    args = ap.parse_args(argv)
    return asyncio.run(main(args.quick))


if __name__ == "__main__":
    sys.exit(cli())
