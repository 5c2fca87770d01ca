"""Redis CPU per actively streaming connection, at the declared activity resolution.

Two workers (real ``ConnectionManager`` + ``RedisStore``, the workers' Lua) each hold N
streams that send something every second of simulated time. Each simulated second every
worker flushes (the same call its writer task makes, with the per-connection event and
byte counts every ``counts_interval`` seconds, as it sends them). Measured: Redis's own CPU
(``INFO commandstats``: time spent executing commands) over the run, per connection-second, projected to 1M streaming
connections as a share of one Redis core.

Baseline in the same run: resolution 0 (activity rewritten at every flush, as every
release before this one did); then the default (stale threshold / 10 = 30 s at 300 s).

    python -m bench.bench_activity [--n 50000] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from bench.common import PrivateRedis, Stream
from core.config import load_config
from core.manager import ConnectionManager
from core.store.redis import RedisStore


async def redis_cpu(client) -> float:
    """Seconds Redis spent in the workers' scripts (INFO commandstats, EVALSHA: the flush
    script with everything it calls; the commands a script calls are also listed on their
    own there, so only the top-level calls are summed): the work the registry causes,
    without the server's idle housekeeping."""
    stats = await client.info("commandstats")
    return sum(float(v["usec"]) for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval")) / 1e6


async def run(url: str, namespace: str, n: int, seconds: int, resolution: float | None) -> tuple[float, float, int]:
    now = [1_800_000_000.0]
    cfg = load_config(STALE_CONNECTION_THRESHOLD_SECONDS=300, ACTIVITY_RESOLUTION_SECONDS=resolution,
                      TOUCH_FLUSH_INTERVAL_SECONDS=3600, PERIODIC_CLEANUP_ENABLED=False, REGISTER_WAIT_SECONDS=0)
    managers = [ConnectionManager(RedisStore(url, namespace), cfg, clock=lambda: now[0], worker_id=f"w{i}")
                for i in range(2)]
    streams: list[list[Stream]] = []
    for m in managers:
        await m.start()
        mine = [Stream() for _ in range(n)]
        for s in mine:
            await m.register(activity=s)
        streams.append(mine)
    while (await managers[0].monitoring_snapshot()).connection_stats.redis_connection_counters != n * len(managers):
        await asyncio.sleep(0.05)  # the writer tasks send the queued registrations in batches
    client = managers[0].store.client
    cpu0, t0 = await redis_cpu(client), time.perf_counter()
    for _ in range(seconds):
        now[0] += 1.0
        for m, mine in zip(managers, streams, strict=True):
            for s in mine:
                s.events_sent += 1
                s.bytes_sent += 64
            # as the writer task does: per-connection event/byte counts every counts_interval
            await m.flush_touches(counters=m.counts_due())
    cpu = await redis_cpu(client) - cpu0
    wall = time.perf_counter() - t0
    res = managers[0].activity_resolution
    for m in managers:
        await m.stop(close_streams=False)
    return cpu, wall, int(res)


async def main(n: int, seconds: int, baseline_seconds: int | None) -> None:
    with PrivateRedis() as server:
        rows = []
        for label, resolution, secs in (("every flush (baseline)", 0.0, baseline_seconds or seconds),
                                        ("default resolution", None, seconds)):
            cpu, wall, res = await run(server.url, f"act{len(rows)}", n, secs, resolution)
            per = cpu / (2 * n * secs)  # Redis CPU seconds per connection-second
            rows.append((label, res, cpu, per, per * 1_000_000 * 100))
        version = server.version()
    print(f"Redis {version}: 2 workers x {n:,} streams sending every second, {seconds} simulated seconds"
          f" (baseline: {baseline_seconds or seconds})")
    print(f"  {'activity written':24} {'resolution':>10} {'Redis CPU':>10} {'µs/conn-s':>10} {'1M streams':>12}")
    for label, res, cpu, per, proj in rows:
        print(f"  {label:24} {res:>9}s {cpu:>9.2f}s {per * 1e6:>10.3f} {proj:>10.1f} %")
    print(f"  ratio default / baseline: {rows[1][3] / rows[0][3]:.3f} (aim: 1M streams under 10 % of one core)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--seconds", type=int, default=600, help="simulated seconds (600: two counts intervals)")
    ap.add_argument("--baseline-seconds", type=int, default=None,
                    help="simulated seconds of the baseline run (default: --seconds; shorter for a big --n)")
    a = ap.parse_args()
    asyncio.run(main(a.n, a.seconds, a.baseline_seconds))
