"""Fleet history benchmark (issue 13): ``python -m bench.bench_history [--quick]``.

* Fills a private redis-server with full retention through the real append path
  (``RedisStore.history_append``: lease, raw tier, rollup tier, trimming): the rollup tier's
  14 days (one sample per 5 min) then the raw tier's last 24 h (one per 10 s).
* Times ``ConnectionManager.history(24 h, 10 s)`` cold (a reader's first read) and repeated
  (only new rows fetched) (8,640 buckets: the read, the JSON
  parse, the columns) against, in the same run, the bare ``ZRANGEBYSCORE`` of the same
  points (the transport floor) and a 1 h read; the same cold and repeated with the
  per-worker counts (``workers=True``: ``?workers=1``, ``--export-history``; their own key,
  read only then); the endpoint's work (a repeated read plus
  the JSON body, ``series_json``) against the body made by pydantic's ``model_dump_json``
  (what the endpoint did before), and cold (a new reader's first request); then the cold
  read again with 1,000 and 100,000
  connections registered in the same namespace (the read must not grow with them).
* Reports the Redis bytes of the history keys (``MEMORY USAGE ... SAMPLES 0``) with 8
  workers per sample and with the 32-worker cap reached.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import time

from bench.common import PrivateRedis, bulk_register, fmt_s, median_time, synth_records
from core import history
from core.config import load_config
from core.history import DAY, HistorySample
from core.manager import ConnectionManager
from core.store.redis import RedisStore


def _sample(t: float, i: int, workers: int) -> HistorySample:
    active = int(900 + 400 * math.sin(2 * math.pi * (t % DAY) / DAY)) + i % 13
    return HistorySample(
        t=t, active=active, counter=active, stale=20 + i % 9, active_recent=active - 20, long_lived=active // 3,
        very_old=4 + i % 3, runs=i // 6, cleaned=(i // 6) * 4, errors=i // 600, last_ms=30.0 + (i % 11) * 1.7,
        avg_ms=34.2, level="healthy" if i % 50 else "degraded", warnings=[] if i % 50 else ["stale_connection_accumulation"],
        workers={f"web-{w:02d}.prod.internal-{31_000 + w}-{w:06x}": active // workers for w in range(workers)})


async def fill(store: RedisStore, now: float, workers: int) -> tuple[int, float]:
    """Full retention through the real append path; returns (appends, seconds)."""
    cfg = load_config()
    tiers = history.tiers_from_config(cfg)
    raw, roll = tiers
    t0 = time.perf_counter()
    n = 0
    t = math.floor((now - roll.retention) / roll.step) * roll.step + 1
    while t < now - raw.retention:
        assert await store.history_append(_sample(t, n, workers), tiers, "bench")
        t += roll.step
        n += 1
    t = math.floor((now - raw.retention) / raw.step) * raw.step + raw.step + 1
    while t < now:
        assert await store.history_append(_sample(t, n, workers), tiers, "bench")
        t += raw.step
        n += 1
    return n, time.perf_counter() - t0


async def history_bytes(store: RedisStore) -> tuple[int, int, int, int]:
    """(raw tier, per-worker counts, rollup tier) bytes, and the points they hold."""
    raw, roll = history.tiers_from_config(load_config())
    c = store.client
    keys = (store.keys.history(raw.name), store.keys.history_workers, store.keys.history(roll.name))
    sizes = [int(await c.memory_usage(k, samples=0) or 0) for k in keys]
    return sizes[0], sizes[1], sizes[2], sum([int(await c.zcard(k)) for k in keys])


async def main(quick: bool) -> None:
    repeats = 5 if quick else 15
    with PrivateRedis() as redis_server:
        url = redis_server.url
        print(f"redis-server {redis_server.version()}, repeats {repeats}", flush=True)
        results: dict[str, float] = {}
        for workers, ns in ((8, "h8"), (32, "h32")):
            store = RedisStore(url, ns)
            await store.start()
            now = await store.server_time()
            assert now is not None
            n, secs = await fill(store, now, workers)
            raw_b, workers_b, roll_b, points = await history_bytes(store)
            print(f"\nfull retention, {workers} workers per sample: {n:,} appends in {secs:.1f} s "
                  f"({secs / n * 1e6:.0f} µs each); {points:,} points stored", flush=True)
            print(f"  Redis bytes: raw tier {raw_b / 1e6:.2f} MB + per-worker counts {workers_b / 1e6:.2f} MB "
                  f"+ rollup tier {roll_b / 1e6:.2f} MB = {(raw_b + workers_b + roll_b) / 1e6:.2f} MB", flush=True)
            results[f"bytes{workers}"] = raw_b + workers_b + roll_b
            if workers != 8:
                await store.close()
                continue
            cfg = load_config(HISTORY_ENABLED=False, PERIODIC_CLEANUP_ENABLED=False)
            obs = ConnectionManager(store, cfg, observer=True, worker_id="bench-observer", store_clock=True)
            await obs.start()
            await obs.measure_clock()
            raw_tier = history.tiers_from_config(cfg)[0]
            print("\nread                                     median     per point", flush=True)

            async def read24() -> object:  # a repeated read (the dashboard's): only new rows are fetched
                return await obs.history(DAY, 10)

            async def cold24() -> object:  # a reader's first read: every row fetched and parsed
                fresh = ConnectionManager(store, cfg, observer=True, worker_id="bench-cold", store_clock=False)
                return await fresh.history(DAY, 10)

            async def cold24_workers() -> object:  # the same with the per-worker counts (?workers=1, export)
                fresh = ConnectionManager(store, cfg, observer=True, worker_id="bench-cold", store_clock=False)
                return await fresh.history(DAY, 10, workers=True)

            async def read24_workers() -> object:
                return await obs.history(DAY, 10, workers=True)

            async def bare() -> object:
                return await store.client.zrangebyscore(store.keys.history(raw_tier.name), obs.now() - DAY, obs.now())

            async def bare_workers() -> object:
                return await store.client.zrangebyscore(store.keys.history_workers, obs.now() - DAY, obs.now())

            async def endpoint24() -> object:  # GET /monitoring/history?range=24h&step=10s without HTTP
                return history.series_json(await obs.history(DAY, 10))

            async def endpoint24_cold() -> object:  # a new reader's first request
                fresh = ConnectionManager(store, cfg, observer=True, worker_id="bench-cold", store_clock=False)
                return history.series_json(await fresh.history(DAY, 10))

            async def endpoint24_workers() -> object:  # ...&workers=1
                return history.series_json(await obs.history(DAY, 10, workers=True))

            async def endpoint24_pydantic() -> object:  # the same with the previous body encoder
                return (await obs.history(DAY, 10)).model_dump_json()

            async def read1h() -> object:
                return await obs.history(3600, 10)

            for label, fn in (("ZRANGEBYSCORE 24 h (transport floor)", bare),
                              ("ZRANGEBYSCORE 24 h per-worker counts", bare_workers),
                              ("history(24 h, 10 s) cold", cold24), ("history(24 h, 10 s)", read24),
                              ("history(24 h, 10 s, workers) cold", cold24_workers),
                              ("history(24 h, 10 s, workers)", read24_workers),
                              ("endpoint body 24 h (series_json)", endpoint24),
                              ("endpoint body 24 h cold", endpoint24_cold),
                              ("endpoint body 24 h &workers=1", endpoint24_workers),
                              ("endpoint body 24 h (model_dump_json)", endpoint24_pydantic),
                              ("history(1 h, 10 s)", read1h), ("history(7 d, auto step)", lambda: obs.history(7 * DAY))):
                med, runs, res = await median_time(fn, repeats=repeats, warmup=2)
                count = (len(res) if isinstance(res, (list, str, bytes)) else
                         sum(1 for x in res.samples if x))  # type: ignore[attr-defined]
                unit = "bytes" if isinstance(res, (str, bytes)) else "points"
                print(f"  {label:<38} {fmt_s(med):>9}   {count:>7} {unit:<6}   (min {fmt_s(min(runs))})", flush=True)
                results[label] = med
            raw_members = await store.history_members(raw_tier, obs.now() - DAY, obs.now())
            worker_members = await store.history_workers(obs.now() - DAY, obs.now())
            print(f"  24 h transferred: raw members {sum(map(len, raw_members)) / 1e6:.2f} MB "
                  f"({len(raw_members):,}), per-worker counts {sum(map(len, worker_members)) / 1e6:.2f} MB "
                  f"({len(worker_members):,}, read only with workers)", flush=True)
            floor = results["ZRANGEBYSCORE 24 h (transport floor)"]
            print(f"  24 h read / transport floor: repeated {results['history(24 h, 10 s)'] / floor:.2f}x, "
                  f"cold {results['history(24 h, 10 s) cold'] / floor:.2f}x", flush=True)
            print(f"  endpoint body: model_dump_json / series_json "
                  f"{results['endpoint body 24 h (model_dump_json)'] / results['endpoint body 24 h (series_json)']:.2f}x",
                  flush=True)
            sizes = (1_000, 100_000) if not quick else (1_000, 20_000)
            registered = 0
            for size in sizes:
                recs = synth_records(size - registered, obs.now(), start=registered)
                await bulk_register(store, recs)
                del recs  # the records live in Redis only: this process's heap (and GC) stays the same
                gc.collect()
                registered = size
                med, runs, _ = await median_time(cold24, repeats=repeats, warmup=2)
                floor_med, _, _ = await median_time(bare, repeats=repeats, warmup=1)
                results[f"conn{size}"] = med
                print(f"  history(24 h, 10 s) cold with {size:>7,} connections registered: median {fmt_s(med)}, "
                      f"min {fmt_s(min(runs))}; ZRANGEBYSCORE {fmt_s(floor_med)}", flush=True)
            flat = results[f"conn{sizes[1]}"] / results[f"conn{sizes[0]}"]
            print(f"  {sizes[1]:,} / {sizes[0]:,} connections: {flat:.2f}x (flat: the read touches only the history keys)",
                  flush=True)
            await obs.stop(close_streams=False)
        print("\ntargets:", flush=True)
        r24, c24 = results["history(24 h, 10 s)"], results["history(24 h, 10 s) cold"]
        print(f"  history read 24 h at 10 s < 20 ms: repeated {fmt_s(r24)} -> {'PASS' if r24 < 0.020 else 'MISS'}; "
              f"cold {fmt_s(c24)} -> {'PASS' if c24 < 0.020 else 'MISS'}")
        e24, ec24 = results["endpoint body 24 h (series_json)"], results["endpoint body 24 h cold"]
        print(f"  endpoint 24 h at 10 s (read + JSON body) < 20 ms: {fmt_s(e24)} -> {'PASS' if e24 < 0.020 else 'MISS'}; "
              f"cold {fmt_s(ec24)} -> {'PASS' if ec24 < 0.020 else 'MISS'}")
        print(f"  flat in connections (<= 1.5x): {flat:.2f}x -> {'PASS' if flat <= 1.5 else 'MISS'}")
        print(f"  bytes at full retention (8 workers) a few MB (<= 8 MB): {results['bytes8'] / 1e6:.2f} MB -> "
              f"{'PASS' if results['bytes8'] <= 8e6 else 'MISS'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 20k connections instead of 100k")
    asyncio.run(main(parser.parse_args().quick))
