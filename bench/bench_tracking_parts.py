"""What each part of tracking costs, measured apart: ``python -m bench.bench_tracking_parts``.

A diagnostic beside ``bench_streaming`` (which gives the verdict on whole servers):

1. **Per event**, in process with a no-op ASGI ``send`` (no network, no uvicorn): CPU per
   event of stock ``EventSourceResponse.__call__`` and of ``TrackedEventSourceResponse``
   over the same 20,000-event generator, alternating, ``--rounds`` each (medians, and the
   median of the rounds' own ratios).
2. **Per flush**: ``ConnectionManager.flush_touches()`` with ``--streams`` registered
   streams that all sent something since the last flush, against a private redis-server
   (the flush that also sends counts, every 30th at the defaults, shown apart).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from sse_starlette.sse import EventSourceResponse

from core.config import load_config
from core.manager import ConnectionManager
from core.provider import make_store
from core.streaming import TrackedEventSourceResponse

from .common import PrivateRedis, Stream

EVENTS = 20_000
SCOPE: dict[str, Any] = {"type": "http", "method": "GET", "path": "/x", "headers": [(b"user-agent", b"bench")],
                         "client": ("127.0.0.1", 5555), "server": ("127.0.0.1", 8000), "query_string": b""}


async def one_run(kind: str, manager: ConnectionManager, ping: float, send_timeout: float | None) -> float:
    async def gen():
        for _ in range(EVENTS):
            yield {"data": "1701234567.123456"}

    async def send(message: Any) -> None:
        return None

    never = asyncio.Event()

    async def receive() -> Any:
        await never.wait()

    if kind == "bare":
        response: EventSourceResponse = EventSourceResponse(gen(), ping=ping, send_timeout=send_timeout)
    else:
        response = TrackedEventSourceResponse(gen(), manager=manager, channel="bench")
    c0 = time.process_time()
    await response(dict(SCOPE), receive, send)
    return (time.process_time() - c0) / EVENTS * 1e6


async def per_event(rounds: int) -> None:
    cfg = load_config(LOG_LEVEL="WARNING", PERIODIC_CLEANUP_ENABLED=False)
    manager = ConnectionManager(make_store(cfg), cfg)  # memory store: only the stream's own path is timed
    await manager.start()
    try:
        res: dict[str, list[float]] = {"bare": [], "tracked": []}
        for r in range(rounds):
            for kind in (("bare", "tracked") if r % 2 == 0 else ("tracked", "bare")):
                res[kind].append(await one_run(kind, manager, cfg.PING_INTERVAL_SECONDS, cfg.SEND_TIMEOUT_SECONDS))
    finally:
        await manager.stop()
    print(f"1. per event, in process, no-op send, {EVENTS:,} events a run, {rounds} runs each (alternating):")
    for kind, values in res.items():
        print(f"   {kind:8s} median {statistics.median(values):6.2f} us/event  runs {[round(v, 1) for v in values]}")
    ratios = [t / b for b, t in zip(res["bare"], res["tracked"], strict=True)]
    print(f"   tracked/bare: median of the runs' ratios {statistics.median(ratios):.3f}")


async def per_flush(streams: int, flushes: int) -> None:
    with PrivateRedis() as redis:
        cfg = load_config(REDIS_URL=redis.url, LOG_LEVEL="WARNING", PERIODIC_CLEANUP_ENABLED=False,
                          TOUCH_FLUSH_INTERVAL_SECONDS=3600)  # no periodic flush: only ours are timed
        manager = ConnectionManager(make_store(cfg), cfg)
        await manager.start()
        try:
            totals = [Stream() for _ in range(streams)]
            for t in totals:
                await manager.register(activity=t, channel="bench", client_address="127.0.0.1:1", user_agent="bench")
            await manager.flush_touches()
            plain: list[float] = []
            with_counts: list[float] = []
            for i in range(flushes):
                for t in totals:
                    t.events_sent += 10
                    t.bytes_sent += 300
                counts = i % 30 == 29
                c0 = time.process_time()
                await manager.flush_touches(counters=counts)
                (with_counts if counts else plain).append((time.process_time() - c0) * 1000)
        finally:
            await manager.stop()
    print(f"2. per flush, {streams:,} streams all active, private redis-server, {flushes} flushes:")
    print(f"   activity only: median {statistics.median(plain):.2f} ms CPU (max {max(plain):.2f})")
    if with_counts:
        print(f"   with counts (every 30th): {statistics.median(with_counts):.2f} ms CPU")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=12)
    p.add_argument("--streams", type=int, default=2000)
    p.add_argument("--flushes", type=int, default=60)
    args = p.parse_args()
    asyncio.run(per_event(args.rounds))
    asyncio.run(per_flush(args.streams, args.flushes))


if __name__ == "__main__":
    main()
