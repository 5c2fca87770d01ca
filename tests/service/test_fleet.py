"""Worker processes sharing Redis: a worker killed with -9 is healed; SIGTERM leaves nothing behind."""

from __future__ import annotations

import asyncio
import signal
import time

import httpx

from core.config import load_config
from core.store.redis import RedisStore

from .conftest import FAST, close_clients, open_clients, wait_for


async def _stats(http: httpx.AsyncClient, base: str) -> dict:
    r = await http.get(base + "/monitoring")
    assert r.status_code == 200, r.text
    return r.json()


async def test_kill_9_worker_is_reaped_within_stale_threshold_plus_cleanup_interval(workers, redis_url, namespace):
    victim = workers(redis_url, namespace)
    survivor = workers(redis_url, namespace)
    await victim.wait_ready()
    await survivor.wait_ready()
    doomed = await open_clients("127.0.0.1", victim.port, 200)
    kept = await open_clients("127.0.0.1", survivor.port, 30)
    async with httpx.AsyncClient(timeout=5) as http:
        async def fleet(active: int, counter: int):
            snap = await _stats(http, survivor.base_url)
            cs = snap["connection_stats"]
            return snap if cs["active_connections"] == active and cs["redis_connection_counters"] == counter else None
        snap = await wait_for(lambda: fleet(230, 230), 15, "230 connections across two workers")
        by_worker = sorted(w["connections"] for w in snap["workers"] if w["alive"])
        assert by_worker == [30, 200]
        assert all(w["pid"] and w["host"] for w in snap["workers"])

        victim.signal(signal.SIGKILL)
        killed_at = time.monotonic()
        seen_mismatch = False

        async def healed():
            nonlocal seen_mismatch
            snap = await _stats(http, survivor.base_url)
            types = {a["type"] for a in snap["health_indicators"]["alerts"]}
            seen_mismatch |= "connection_mismatch" in types
            cs = snap["connection_stats"]
            live = [w for w in snap["workers"] if w["alive"]]
            return snap if (cs["active_connections"] == 30 and cs["redis_connection_counters"] == 30
                            and not types and len(snap["workers"]) == 1 and len(live) == 1) else None
        budget = FAST["STALE_CONNECTION_THRESHOLD_SECONDS"] + FAST["CLEANUP_INTERVAL_SECONDS"]
        snap = await wait_for(healed, budget + 3, "the dead worker's connections reaped and the mismatch cleared",
                              interval=0.1)
        took = time.monotonic() - killed_at
        assert took <= budget + 1.0, f"healed after {took:.1f}s, budget {budget}s"
        assert snap["cleanup_stats"]["total_connections_cleaned"] >= 200
        page = (await http.get(survivor.base_url + "/monitoring/connections", params={"state": "all", "limit": 500})).json()
        assert page["total"] == 30 and {c["pid"] for c in page["connections"]} == {survivor.proc.pid}
        print(f"healed {took:.2f}s after kill -9 (budget {budget}s); mismatch alert seen in between: {seen_mismatch}")
    await close_clients(doomed + kept)


async def test_sigterm_unregisters_the_workers_connections_and_exits_promptly(workers, redis_url, namespace):
    # no periodic cleanup anywhere: nothing but the leaving worker itself can remove its connections
    leaving = workers(redis_url, namespace, PERIODIC_CLEANUP_ENABLED="false")
    staying = workers(redis_url, namespace, PERIODIC_CLEANUP_ENABLED="false")
    await leaving.wait_ready()
    await staying.wait_ready()
    gone = await open_clients("127.0.0.1", leaving.port, 100)
    kept = await open_clients("127.0.0.1", staying.port, 10)
    store = RedisStore(redis_url, namespace)
    await store.start()
    try:
        async def registered():
            return len(await store.workers()) == 2 and (await store.census(_q())).counter == 110
        await wait_for(registered, 15, "110 registered")
        pid = leaving.proc.pid

        t0 = time.monotonic()
        leaving.signal(signal.SIGTERM)
        code = await asyncio.to_thread(leaving.proc.wait, 15)
        took = time.monotonic() - t0
        # uvicorn re-raises the captured SIGTERM after its graceful shutdown (exit status -15)
        assert code in (0, -signal.SIGTERM), leaving.output()
        assert took < 5, f"shutdown took {took:.1f}s"
        await asyncio.wait_for(asyncio.gather(*(c.closed_by_server.wait() for c in gone)), 5)

        # immediately (no cleanup needed): zero connections of that worker, counter = the survivor's
        _p = await store.list_connections("all", _q(), 1000, 0)
        _, records = _p.total, _p.records
        assert [r for r in records if r.pid == pid] == []
        assert len(records) == 10 and (await store.census(_q())).counter == 10
        assert [w.pid for w in await store.workers()] == [staying.proc.pid]
    finally:
        await store.close()
    await close_clients(gone + kept)


def _q():
    from core.store.base import AgeQuery
    cfg = load_config()
    return AgeQuery(now=time.time(), stale_threshold=cfg.STALE_CONNECTION_THRESHOLD_SECONDS,
                    long_lived=cfg.LONG_LIVED_SECONDS, very_old=cfg.VERY_OLD_SECONDS)
