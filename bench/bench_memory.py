"""Redis bytes per registered connection, with realistic client data.

Registers N connections through the real store code (``RedisStore.register_many``, the
same Lua the workers run) with browser user agents, IPv4/IPv6 client addresses with
ports, uuid4 connection ids and worker ids as the manager makes them, then reads Redis's
``used_memory`` before and after. The baseline in the same run is the raw payload: the
bytes of the record's field values themselves (what any layout must keep somewhere).

    python -m bench.bench_memory [--n 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid

from bench.common import PrivateRedis
from core.manager import new_connection_id
from core.models import ConnectionRecord
from core.store.redis import RedisStore

USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36",
)


def records(n: int, now: float, workers: int = 8) -> list[ConnectionRecord]:
    rng = random.Random(7)
    wids = [f"web-{i:02d}-7d9f8c6b5-{rng.randrange(16**5):05x}-{1000 + i}-{uuid.uuid4().hex[:6]}" for i in range(workers)]
    out = []
    for i in range(n):
        if rng.random() < 0.8:
            addr = f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}:{rng.randrange(1024, 65536)}"
        else:
            addr = f"2001:db8:{rng.randrange(65536):x}:{rng.randrange(65536):x}::{rng.randrange(65536):x}:{rng.randrange(1024, 65536)}"
        w = wids[i % workers]
        t = now - rng.uniform(0, 7200)
        out.append(ConnectionRecord(
            connection_id=new_connection_id(), worker_id=w, host=w.rsplit("-", 2)[0], pid=1000 + i % workers,
            channel=rng.choice(("prices", "news", "notifications", "orders")), client_address=addr,
            user_agent=rng.choice(USER_AGENTS), connected_at=t, last_activity=t + rng.uniform(0, 60),
            events_sent=rng.randrange(10_000), bytes_sent=rng.randrange(10_000_000)))
    return out


def payload_bytes(r: ConnectionRecord) -> int:
    return sum(len(str(v)) for v in r.model_dump().values())


async def main(n: int) -> None:
    with PrivateRedis() as server:
        store = RedisStore(server.url, "mem")
        await store.start()
        client = store.client
        await client.memory_purge()
        before = int((await client.info("memory"))["used_memory"])
        recs = records(n, time.time())
        await store.register_many(recs)
        await client.memory_purge()
        after = int((await client.info("memory"))["used_memory"])
        per = (after - before) / n
        raw = sum(payload_bytes(r) for r in recs) / n
        k = store.keys
        buckets = int((await client.hget(k.record_meta, "k")) or 0), int((await client.hget(k.record_meta, "p")) or 0)
        nb = 2 ** buckets[0] + buckets[1]
        encodings: dict[str, int] = {}
        usage = 0
        for b in range(nb):
            enc = await client.object("encoding", k.record_bucket(b))
            encodings[enc] = encodings.get(enc, 0) + 1
            usage += await client.memory_usage(k.record_bucket(b), samples=0) or 0
        parts = {
            f"record bucket ({nb} buckets, {n / nb:.0f} records each, encodings {encodings})": usage / n,
            "activity sorted set": (await client.memory_usage(k.activity, samples=0) or 0) / n,
            "connected sorted set": (await client.memory_usage(k.connected, samples=0) or 0) / n,
        }
        lists = [key async for key in client.scan_iter(match=k.prefix + "wl:*")]
        parts["worker id lists"] = sum([await client.memory_usage(x, samples=0) or 0 for x in lists]) / n
        await store.close()
    print(f"Redis {server.version()}, {n:,} connections registered through RedisStore.register_many")
    print(f"  bytes per connection (used_memory delta / n): {per:,.0f} B")
    print(f"  raw payload per connection (field values):    {raw:,.0f} B  -> ratio {per / raw:.2f}x")
    print("  MEMORY USAGE per connection, by structure:")
    for name, v in parts.items():
        print(f"    {name}: {v:,.1f} B")
    print(f"  aim: at most 350 B per connection -> {'met' if per <= 350 else 'NOT met'}")

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20_000)
    asyncio.run(main(ap.parse_args().n))
