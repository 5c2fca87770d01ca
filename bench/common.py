"""Shared helpers for the benchmarks: a private redis-server, timing, synthetic data, command counting.

Nothing here imports pytest; the redis-server helper is the test suite's plain
``tests/redis_server.py``. ``python -m bench.<name>`` runs from the repository root with the
venv and a ``redis-server`` binary.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection

from core.models import AgeCounts, ConnectionRecord
from tests.redis_server import RedisServer, free_port  # noqa: F401 - free_port re-exported

# ---------------------------------------------------------------------------------------------
# private redis-server


class PrivateRedis(RedisServer):
    """One throw-away redis-server (no persistence) on a free loopback port: the test
    suite's ``RedisServer`` plus a version string and context-manager use (always stopped,
    terminate then kill, on exit)."""

    def version(self) -> str:
        out = subprocess.run([self.binary, "--version"], capture_output=True, text=True, check=False).stdout
        for part in out.split():
            if part.startswith("v="):
                return part[2:]
        return out.strip()

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "PrivateRedis":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------------------------------------
# timing


async def time_once(fn: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = await fn()
    return time.perf_counter() - t0, result


async def median_time(fn: Callable[[], Awaitable[Any]], repeats: int = 5, warmup: int = 1) -> tuple[float, list[float], Any]:
    """Median wall time (seconds) of ``repeats`` awaited calls of ``fn`` after ``warmup`` untimed calls.

    Returns (median, all samples, the last result).
    """
    result: Any = None
    for _ in range(warmup):
        result = await fn()
    samples: list[float] = []
    for _ in range(repeats):
        dt, result = await time_once(fn)
        samples.append(dt)
    return statistics.median(samples), samples, result


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def fmt_s(seconds: float) -> str:
    """Human duration: µs / ms / s."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_n(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e4:
        return f"{x / 1e3:.1f}k"
    if x >= 100:
        return f"{x:.0f}"
    return f"{x:.2f}"


# ---------------------------------------------------------------------------------------------
# synthetic connections


@dataclass(frozen=True)
class AgeProfile:
    """Thresholds, the same numbers the manager's config uses."""

    stale_threshold: float = 300.0
    long_lived: float = 3600.0
    very_old: float = 21600.0


def synth_records(n: int, now: float, *, start: int = 0, seed: int = 1, stale_fraction: float = 0.2,
                  workers: int = 4, prefix: str = "bench", profile: AgeProfile = AgeProfile()) -> list[ConnectionRecord]:
    """``n`` records with spread ages relative to ``now`` (deterministic for a seed).

    connected_at: 40% younger than long-lived, 30% long-lived but not very old, 30% very old
    (up to 2 days). last_activity: ``stale_fraction`` idle for 1.1x..10x the stale threshold
    (never before connected_at... unless the connection is younger, then it is simply its
    connect time and still may be stale), the rest active within the last 0.9x threshold.
    ``stale_fraction=1.0`` makes every record stale (for the cleanup benchmark).

    Records are built with ``model_construct`` (no validation): 100k in well under a second.
    """
    rng = random.Random(seed * 1_000_003 + start)
    p = profile
    out: list[ConnectionRecord] = []
    construct = ConnectionRecord.model_construct
    for i in range(start, start + n):
        r = rng.random()
        if r < 0.4:
            age = rng.uniform(1.0, p.long_lived * 0.98)
        elif r < 0.7:
            age = rng.uniform(p.long_lived * 1.02, p.very_old * 0.98)
        else:
            age = rng.uniform(p.very_old * 1.02, 172800.0)
        connected_at = now - age
        if rng.random() < stale_fraction:
            idle = rng.uniform(p.stale_threshold * 1.1, p.stale_threshold * 10)
            # a stale connection must have been idle that long: connected at least that long ago
            connected_at = min(connected_at, now - idle - 1.0)
        else:
            idle = rng.uniform(0.0, p.stale_threshold * 0.9)
            idle = min(idle, now - connected_at)
        last_activity = now - idle
        out.append(construct(
            connection_id=f"{prefix}-{i:08d}", worker_id=f"{prefix}-worker-{i % workers}", host="bench-host",
            pid=10_000 + i % workers, channel=f"ch{i % 7}", client_address=f"10.0.{i % 250}.{i % 200}",
            user_agent="bench/1.0 (synthetic)", connected_at=connected_at, last_activity=last_activity,
            events_sent=i % 97, bytes_sent=(i % 97) * 128,
        ))
    return out


def expected_ages(records: Sequence[ConnectionRecord], now: float, profile: AgeProfile = AgeProfile()) -> AgeCounts:
    """Ground truth from the records themselves (same comparisons as the store contract)."""
    stale_cut, ll_cut, vo_cut = now - profile.stale_threshold, now - profile.long_lived, now - profile.very_old
    return AgeCounts(
        total=len(records),
        stale=sum(1 for r in records if r.last_activity < stale_cut),
        long_lived=sum(1 for r in records if r.connected_at < ll_cut),
        very_old=sum(1 for r in records if r.connected_at < vo_cut),
    )


async def bulk_register(store: Any, records: Sequence[ConnectionRecord]) -> tuple[int, float]:
    """``store.register_many`` (500 records per Lua call). Returns (newly added, seconds)."""
    t0 = time.perf_counter()
    added = await store.register_many(records)
    return added, time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------
# simulated streams


class Stream:
    """A stream's running totals, as TrackedEventSourceResponse keeps them."""

    def __init__(self) -> None:
        self.events_sent = 0
        self.bytes_sent = 0

    @property
    def progress(self) -> int:
        return self.bytes_sent


# ---------------------------------------------------------------------------------------------
# the hand-rolled baseline


def naive_key(namespace: str, connection_id: str) -> str:
    """The hand-rolled layout: one hash per connection with every field (not ours)."""
    return "naive:" + namespace + ":conn:" + connection_id


async def naive_register(client: aioredis.Redis, namespace: str, records: Sequence[ConnectionRecord],
                         chunk: int = 1000) -> None:
    """Write ``records`` the hand-rolled way (HSET of every field, one hash per connection)."""
    for start in range(0, len(records), chunk):
        pipe = client.pipeline(transaction=False)
        for r in records[start:start + chunk]:
            pipe.hset(naive_key(namespace, r.connection_id), mapping={k: str(v) for k, v in r.model_dump().items()})
        await pipe.execute()


async def naive_age_counts(client: aioredis.Redis, namespace: str, now: float, profile: AgeProfile = AgeProfile(),
                           chunk: int = 1000) -> AgeCounts:
    """What a careful hand-rolled monitor does: SCAN every per-connection hash (written by
    :func:`naive_register`), HGETALL each (pipelined ``chunk`` at a time) and count the four
    age classes in Python."""
    match = naive_key(namespace, "*")
    stale_cut, ll_cut, vo_cut = now - profile.stale_threshold, now - profile.long_lived, now - profile.very_old
    total = stale = long_lived = very_old = 0
    batch: list[str] = []

    async def flush() -> None:
        nonlocal total, stale, long_lived, very_old
        pipe = client.pipeline(transaction=False)
        for key in batch:
            pipe.hgetall(key)
        for row in await pipe.execute():
            if not row:
                continue
            total += 1
            la = float(row["last_activity"])
            ca = float(row["connected_at"])
            stale += la < stale_cut
            long_lived += ca < ll_cut
            very_old += ca < vo_cut
        batch.clear()

    async for key in client.scan_iter(match=match, count=chunk):
        batch.append(key)
        if len(batch) >= chunk:
            await flush()
    if batch:
        await flush()
    return AgeCounts(total=total, stale=stale, long_lived=long_lived, very_old=very_old)


# ---------------------------------------------------------------------------------------------
# counting commands and round trips


@dataclass
class CommandStats:
    total: int
    calls: dict[str, int] = field(default_factory=dict)
    usec: dict[str, int] = field(default_factory=dict)


async def command_stats(client: aioredis.Redis) -> CommandStats:
    """One ``INFO stats commandstats``. Note: Redis counts commands run *inside* Lua scripts
    in both total_commands_processed and commandstats (verified on 7.0)."""
    info = await client.info("stats", "commandstats")
    calls: dict[str, int] = {}
    usec: dict[str, int] = {}
    for k, v in info.items():
        if k.startswith("cmdstat_") and isinstance(v, dict):
            name = k[len("cmdstat_"):]
            calls[name] = int(v.get("calls", 0))
            usec[name] = int(v.get("usec", 0))
    return CommandStats(total=int(info["total_commands_processed"]), calls=calls, usec=usec)


@dataclass
class CommandDelta:
    total: int          # server-side commands, Lua-internal ones included
    calls: dict[str, int]
    usec: dict[str, int]

    def n(self, cmd: str) -> int:
        return self.calls.get(cmd.lower(), 0)


def command_delta(before: CommandStats, after: CommandStats) -> CommandDelta:
    """after - before, minus the one INFO call ``before`` itself made (counted after it returned)."""
    names = set(before.calls) | set(after.calls)
    calls = {n: after.calls.get(n, 0) - before.calls.get(n, 0) for n in names}
    usec = {n: after.usec.get(n, 0) - before.usec.get(n, 0) for n in names}
    calls["info"] = calls.get("info", 0) - 1
    return CommandDelta(total=after.total - before.total - 1, calls={k: v for k, v in calls.items() if v},
                        usec={k: v for k, v in usec.items() if calls.get(k)})


class RoundTrips:
    """Client-side round-trip counter: counts ``send_packed_command`` calls on every
    redis.asyncio connection in this process (a pipeline is one send, so one round trip).

    Only counts while active (``with RoundTrips() as rt: ...; rt.count``). Connections used
    for measuring (INFO) are excluded by passing them to ``ignore``.
    """

    _active: list["RoundTrips"] = []
    _orig: Any = None

    def __init__(self, ignore: Sequence[aioredis.Redis] = ()) -> None:
        self.count = 0
        self._ignore_pools = {id(c.connection_pool) for c in ignore}

    @classmethod
    def _install(cls) -> None:
        if cls._orig is not None:
            return
        orig = AbstractConnection.send_packed_command
        cls._orig = orig

        async def counting(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
            for rt in cls._active:
                if id(getattr(self, "_bench_pool", None)) not in rt._ignore_pools:
                    rt.count += 1
            return await orig(self, command, check_health)

        AbstractConnection.send_packed_command = counting  # type: ignore[method-assign]

    @staticmethod
    def tag(client: aioredis.Redis) -> None:
        """Mark connections of ``client`` so ``ignore`` can recognise them."""
        pool = client.connection_pool
        orig_make = pool.make_connection

        def make() -> Any:
            conn = orig_make()
            conn._bench_pool = pool  # type: ignore[attr-defined]
            return conn

        pool.make_connection = make  # type: ignore[method-assign]

    def __enter__(self) -> "RoundTrips":
        self._install()
        self._active.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self._active.remove(self)


# ---------------------------------------------------------------------------------------------
# output


class Table:
    def __init__(self, *headers: str) -> None:
        self.headers = headers
        self.rows: list[tuple[str, ...]] = []

    def add(self, *cells: object) -> None:
        self.rows.append(tuple(str(c) for c in cells))

    def lines(self) -> Iterator[str]:
        widths = [max(len(h), *(len(r[i]) for r in self.rows)) if self.rows else len(h) for i, h in enumerate(self.headers)]
        yield "  ".join(h.ljust(w) for h, w in zip(self.headers, widths, strict=False))
        yield "  ".join("-" * w for w in widths)
        for r in self.rows:
            yield "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=False)))

    def print(self) -> None:
        for line in self.lines():
            print(line, flush=True)


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]
