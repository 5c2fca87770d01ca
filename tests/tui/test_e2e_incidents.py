"""Issues 21/22 end to end: real worker processes on a real redis-server (the suite starts
both), real SSE clients on raw sockets, ``sse-dash --redis … --once`` as a process and the
dashboard (run_test) on a RedisSource, through a worker SIGSTOPped (LATE), killed (DEAD),
reaped by a fleet-mate (a death in the events list), and a FLUSHALL (REBUILDING, never
healthy, then exact again)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

from textual.widgets import DataTable
from tui_helpers import wait_until

from sse_tui.sources import RedisSource
from tests.service.conftest import SSEClient
from tests.tui.test_app_keys import build, first_poll, text_of

ONCE_TIMEOUT = 60.0  # a busy 2-core CI box: python start-up and one read


async def once(redis_url: str, namespace: str) -> tuple[int, str]:
    """``sse-dash --redis URL --namespace NS --once`` in a process of its own: (exit, stdout)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sse_tui", "--redis", redis_url, "--namespace", namespace, "--once", "--timeout", "20",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ})
    out, err = await asyncio.wait_for(proc.communicate(), ONCE_TIMEOUT)
    assert proc.returncode is not None
    text = out.decode()
    assert text.count("\n") == 1 or proc.returncode == 3, (proc.returncode, text, err.decode())
    return proc.returncode, text


def cells(table: DataTable) -> list[list[str]]:
    return [[c.plain for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_a_stopped_worker_is_late_then_killed_dead_then_reaped_by_a_fleet_mate(redis_url, namespace, workers) -> None:
    ttl = 12.0  # LATE after 0.4 s (two 0.2 s flushes), DEAD after 12 s: room for a --once in each state
    victim = workers(redis_url, namespace, WORKER_HEARTBEAT_TTL_SECONDS=ttl)
    await victim.wait_ready()
    client = await SSEClient("127.0.0.1", victim.port).connect()
    await asyncio.wait_for(client.headers_received.wait(), 10)
    source = RedisSource(redis_url, namespace)
    app, _ = build(source, time.time, interval=0.5)
    mate = None
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await first_poll(pilot, app)
            await wait_until(pilot, lambda: "1 worker: 1 alive" in text_of(app, "#conn-body"), timeout=15,
                             what="the worker alive on the Overview")
            await pilot.press("2")
            table = app.query_one("#workers-table", DataTable)
            await wait_until(pilot, lambda: bool(cells(table)) and cells(table)[0][0] == "✔ ALIVE", timeout=15,
                             what="ALIVE")
            worker_id = cells(table)[0][1]

            victim.signal(signal.SIGSTOP)  # hung: its heartbeat ages
            stopped = time.monotonic()
            await wait_until(pilot, lambda: cells(table)[0][0] == "▲ LATE", timeout=10, what="LATE")
            row = cells(table)[0]
            assert row[1] == worker_id and row[2] == "1" and row[4].startswith("heartbeat ")
            assert "1 LATE" in str(app.query_one("#workers-box").border_title)
            code, line = await once(redis_url, namespace)
            if time.monotonic() - stopped < ttl:  # (a machine too slow for the window is not a failure of ours)
                assert code == 1 and "DEGRADED" in line and f"{worker_id}=1 LATE" in line, line
                assert "1 late worker(s)" in line
            await pilot.press("1")
            await wait_until(pilot, lambda: "1 ▲ LATE (1 conns)" in text_of(app, "#conn-body"), timeout=10,
                             what="LATE on the Overview")

            victim.signal(signal.SIGKILL)  # dead: nobody on its host to see it gone, so the TTL tells
            await pilot.press("2")
            await wait_until(pilot, lambda: cells(table)[0][0] == "✖ DEAD", timeout=ttl + 15, what="DEAD")
            row = cells(table)[0]
            assert row[1] == worker_id and row[2] == "1" and row[4].startswith("no heartbeat for ")
            assert "1 DEAD: select it, k or Enter reaps" in str(app.query_one("#workers-box").border_title)
            code, line = await once(redis_url, namespace)
            assert code == 2 and f"{worker_id}=1 DEAD" in line and "1 dead worker(s) not yet reaped" in line, line
            # the reap offer stays while it is listed (nobody reaps it: no fleet-mate yet)
            await pilot.pause(1.5)
            assert cells(table)[0][0] == "✖ DEAD" and "k or Enter reaps" in str(app.query_one("#workers-box").border_title)

            mate = workers(redis_url, namespace, WORKER_HEARTBEAT_TTL_SECONDS=ttl)  # its first flushes reap the dead one
            await mate.wait_ready()
            await wait_until(pilot, lambda: all(r[1] != worker_id for r in cells(table)), timeout=20, what="reaped")
            await pilot.press("1")
            await wait_until(pilot, lambda: f"worker {worker_id} died: 1 stream cut" in text_of(app, "#alerts-body"),
                             timeout=10, what="the death in the events list")
            assert "◆ DIED" in text_of(app, "#alerts-body")
            deadline = time.monotonic() + 30
            while True:  # exact again: one live worker, nothing registered
                code, line = await once(redis_url, namespace)
                if code == 0 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            assert code == 0 and ": HEALTHY (" in line and "active 0, counters 0" in line, line
            workers_part = next(p for p in line.split(" · ") if p.startswith("workers "))
            assert worker_id not in workers_part, line  # gone from the workers: only its death is told
            assert "1 event in the last 15m: death " in line and f"worker {worker_id} died" in line, line
    finally:
        await client.close()
        await source.aclose()


async def test_flushall_is_rebuilding_never_healthy_then_exact_again(redis_server, redis_url, namespace, workers) -> None:
    # the rebuild lasts at least one LATE window plus a flush after the loss (3.2 s here): room to see it
    worker = workers(redis_url, namespace, WORKER_HEARTBEAT_TTL_SECONDS=10, WORKER_LATE_SECONDS=3)
    await worker.wait_ready()
    clients = [await SSEClient("127.0.0.1", worker.port).connect() for _ in range(3)]
    await asyncio.wait_for(asyncio.gather(*(c.headers_received.wait() for c in clients)), 10)
    source = RedisSource(redis_url, namespace)
    app, _ = build(source, time.time, interval=0.5)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await first_poll(pilot, app)

            def exact() -> bool:
                snap = app.state.snapshot
                cs = snap.stats.connection_stats if snap is not None else None
                return cs is not None and cs.active_connections == 3 and cs.redis_connection_counters == 3 \
                    and "✔ HEALTHY" in text_of(app, "#header")

            await wait_until(pilot, exact, timeout=20, what="3 streams, healthy")
            code, line = await once(redis_url, namespace)
            assert code == 0 and ": HEALTHY (" in line and "active 3, counters 3" in line, line

            redis_server.flushall()  # the store loses the fleet's data
            await wait_until(pilot, lambda: "? REBUILDING" in text_of(app, "#header"), timeout=10, what="REBUILDING")
            assert "the state store lost the fleet's data" in text_of(app, "#banner")
            assert "? unknown" in text_of(app, "#conn-body")
            lines: list[tuple[int, str]] = []
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline:
                code, line = await once(redis_url, namespace)
                lines.append((code, line))
                if code == 0:
                    break
                await asyncio.sleep(0.2)
            assert lines[-1][0] == 0, lines
            assert ": HEALTHY (" in lines[-1][1] and "active 3, counters 3" in lines[-1][1], lines[-1]
            # on the way, never healthy while the counts were partial: rebuilding (or, before the
            # first worker's flush, nothing at all under the namespace)
            assert any(c == 2 and "REGISTRY REBUILDING" in text and "active ?" in text for c, text in lines), lines
            for c, text in lines[:-1]:
                assert c in (2, 3) and ": HEALTHY (" not in text, (c, text)
            # the dashboard that watched it all leaves REBUILDING by itself, exact again
            await wait_until(pilot, exact, timeout=20, what="exact again on the dashboard")
            assert not app.query_one("#banner").has_class("-shown")
    finally:
        for c in clients:
            await c.close()
        await source.aclose()


async def test_a_store_that_refuses_writes_is_named_and_no_live_worker_is_called_dead(own_redis, namespace, workers) -> None:
    """maxmemory reached under a live fleet: the observer probes writes itself, names the
    refusal, shows the workers UNKNOWN (a heartbeat that cannot be written says nothing), never
    DEAD, not even past their TTL, and never exits 0."""
    ttl = 3.0
    worker = workers(own_redis.url, namespace, WORKER_HEARTBEAT_TTL_SECONDS=ttl)
    await worker.wait_ready()
    client = await SSEClient("127.0.0.1", worker.port).connect()
    await asyncio.wait_for(client.headers_received.wait(), 10)
    source = RedisSource(own_redis.url, namespace)
    app, _ = build(source, time.time, interval=0.5)
    r = own_redis.client()
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await first_poll(pilot, app)
            await wait_until(pilot, lambda: "1 worker: 1 alive" in text_of(app, "#conn-body"), timeout=15, what="alive")
            r.config_set("maxmemory-policy", "noeviction")
            r.config_set("maxmemory", 1)
            full = time.monotonic()
            await wait_until(pilot, lambda: "? STORE REFUSES WRITES" in text_of(app, "#header"), timeout=10,
                             what="the refusal named")
            assert "refusing writes" in text_of(app, "#banner") and "heartbeats cannot be written" in text_of(app, "#banner")
            await pilot.press("2")
            table = app.query_one("#workers-table", DataTable)
            await wait_until(pilot, lambda: bool(cells(table)) and cells(table)[0][0] == "? UNKNOWN", timeout=10,
                             what="the worker UNKNOWN")
            await asyncio.sleep(max(ttl + 1.5 - (time.monotonic() - full), 0))  # past the TTL: still not DEAD
            await pilot.pause(1.0)
            assert [row[0] for row in cells(table)] == ["? UNKNOWN"], cells(table)
            code, line = await once(own_redis.url, namespace)
            assert code == 2 and "STORE REFUSES WRITES (state store refusing_writes" in line, line
            assert "UNKNOWN" in line and "DEAD" not in line and "active ?" in line, line
    finally:
        r.config_set("maxmemory", 0)
        r.close()
        await client.close()
        await source.aclose()
