"""Truth in the field (issues 21 and 22): a worker dies, a stream starts, Redis pauses, loses
its data or refuses writes, and every surface still says only what is measured and current.

Real worker processes (``uvicorn core.demo:fleet_app``), a real redis-server of the test's
own, real SSE clients on raw sockets; every surface sampled as an operator would see it
(``/monitoring``, ``/metrics``, ``sse-dash --once``). Figures the tests see are printed
(docs/reliability.md). Run alone: ``.venv/bin/pytest -q tests/service/test_truth.py -s``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from typing import Any

import httpx

from core.keys import Keys

from .conftest import ROOT, SSEClient, close_clients, open_clients, wait_for

# the defaults a user runs with (FAST is merged under these by the worker fixture)
DEFAULTS = dict(PING_INTERVAL_SECONDS=15, TOUCH_FLUSH_INTERVAL_SECONDS=1.0, STALE_CONNECTION_THRESHOLD_SECONDS=300,
                CLEANUP_INTERVAL_SECONDS=60, WORKER_HEARTBEAT_TTL_SECONDS=15, REDIS_TIMEOUT_SECONDS=2)


def _open(clients: list[SSEClient]) -> int:
    return sum(1 for c in clients if not c.closed_by_server.is_set())


async def _snap(http: httpx.AsyncClient, base: str) -> dict[str, Any] | None:
    try:
        r = await http.get(base + "/monitoring")
    except httpx.HTTPError:
        return None
    return r.json() if r.status_code == 200 else None


def _cs(snap: dict[str, Any]) -> tuple[Any, Any]:
    cs = snap["connection_stats"]
    return cs["active_connections"], cs["redis_connection_counters"]


def sse_dash_once(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "sse_tui", *args, "--once"], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=str(ROOT))


# -- a worker dies -----------------------------------------------------------------------
async def test_kill_9_of_a_worker_holding_most_streams_is_never_called_healthy(own_redis, namespace, workers):
    """kill -9 of a worker holding 63 of 90 streams at the default config: from 8 s after the
    kill until active == counter == the sockets really open, no worker's /monitoring says
    healthy; the dead worker is marked dead within 3 s (a worker on its host sees its process
    gone: it is reaped at once) and the numbers are exact again within 45 s."""
    fleet = [workers(own_redis.url, namespace, **DEFAULTS) for _ in range(3)]
    for w in fleet:
        await w.wait_ready()
    victim, a, b = fleet
    doomed = await open_clients("127.0.0.1", victim.port, 63)
    kept = await open_clients("127.0.0.1", a.port, 14) + await open_clients("127.0.0.1", b.port, 13)
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            async def all_in():
                s = await _snap(http, a.base_url)
                return s if s and _cs(s) == (90, 90) and s["health_indicators"]["overall_health"] == "healthy" else None
            await wait_for(all_in, 20, "90 streams registered and healthy")

            victim.signal(signal.SIGKILL)
            killed = time.monotonic()
            await asyncio.to_thread(victim.proc.wait, 10)
            marked_dead_at: float | None = None
            exact_at: float | None = None
            said_healthy: list[str] = []
            seen_alerts: set[str] = set()
            while time.monotonic() - killed < 50:
                for w in (a, b):
                    s = await _snap(http, w.base_url)
                    if s is None:
                        continue
                    t = time.monotonic() - killed
                    states = {x["pid"]: x.get("state") for x in s["workers"] or []}
                    if marked_dead_at is None and states.get(victim.proc.pid) not in ("alive", "late"):
                        marked_dead_at = t  # seen dead, or already reaped
                    seen_alerts |= {x["type"] for x in s["health_indicators"]["alerts"] + s["health_indicators"]["warnings"]}
                    exact = _cs(s) == (27, 27) and _open(kept) == 27 and len(s["workers"]) == 2
                    if exact and exact_at is None:
                        exact_at = t
                    if not exact and t >= 8.0 and s["health_indicators"]["overall_health"] == "healthy":
                        said_healthy.append(f"{t:.2f}s: {_cs(s)} {states}")
                if exact_at is not None and marked_dead_at is not None:
                    break
                await asyncio.sleep(0.1)
            print(f"\nkill -9 of a worker with 63/90: marked dead after {marked_dead_at}s, exact after {exact_at}s; "
                  f"alerts seen: {sorted(seen_alerts)}")
            assert not said_healthy, f"healthy while the counts were not the open sockets: {said_healthy[:5]}"
            assert marked_dead_at is not None and marked_dead_at <= 3.0 + 1.0, marked_dead_at  # +1 s: a busy machine
            assert exact_at is not None and exact_at <= 45, exact_at
            s = await _snap(http, a.base_url)
            assert s is not None
            reaps = [e for e in s["recent_events"] if e["type"] in ("reap", "death")]
            assert reaps and any(e["count"] == 63 for e in reaps), s["recent_events"]
    finally:
        await close_clients(doomed + kept)


async def test_a_late_worker_is_late_everywhere_then_dead(own_redis, namespace, workers):
    """SIGSTOP of a worker: LATE after two flush intervals (a warning naming it and its
    connections; never healthy), DEAD at the TTL; SIGCONT: alive again (it was never reaped
    as long as it came back within the TTL)."""
    w1 = workers(own_redis.url, namespace, TOUCH_FLUSH_INTERVAL_SECONDS=0.5, WORKER_HEARTBEAT_TTL_SECONDS=6,
                 CLEANUP_INTERVAL_SECONDS=2, STALE_CONNECTION_THRESHOLD_SECONDS=30, PING_INTERVAL_SECONDS=5)
    w2 = workers(own_redis.url, namespace, TOUCH_FLUSH_INTERVAL_SECONDS=0.5, WORKER_HEARTBEAT_TTL_SECONDS=6,
                 CLEANUP_INTERVAL_SECONDS=2, STALE_CONNECTION_THRESHOLD_SECONDS=30, PING_INTERVAL_SECONDS=5)
    await w1.wait_ready()
    await w2.wait_ready()
    clients = await open_clients("127.0.0.1", w1.port, 7)
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            await wait_for(lambda: _state_of(http, w2, w1, "alive"), 15, "w1 alive")
            w1.signal(signal.SIGSTOP)
            try:
                s = await wait_for(lambda: _state_of(http, w2, w1, "late"), 5, "w1 late")
                warn = {x["type"]: x["message"] for x in s["health_indicators"]["warnings"]}
                assert "worker_late" in warn and "7 connection" in warn["worker_late"], warn
                assert s["health_indicators"]["overall_health"] != "healthy"
            finally:
                w1.signal(signal.SIGCONT)
            await wait_for(lambda: _state_of(http, w2, w1, "alive"), 10, "w1 alive again")
            s = await _snap(http, w2.base_url)
            assert s is not None and _cs(s) == (7, 7)
            assert _open(clients) == 7
    finally:
        await close_clients(clients)


async def _state_of(http: httpx.AsyncClient, observer, worker, state: str) -> dict[str, Any] | None:
    s = await _snap(http, observer.base_url)
    if s is None:
        return None
    st = {x["pid"]: x.get("state") for x in s["workers"] or []}
    return s if st.get(worker.proc.pid) == state else None


# -- counts that say how old they are -----------------------------------------------------
async def test_a_streams_counts_are_current_or_say_how_old(own_redis, namespace, workers):
    """At the default config, a stream that has received 10+ events is listed with counts
    taken within two flushes (the registry is small), and ``counts_at`` says when."""
    # events counted (an opt-in: SSE_COUNT_EVENTS; off, events_sent is null and only bytes have an age)
    w = workers(own_redis.url, namespace, **DEFAULTS, MONITORING_CONNECTIONS_PUBLIC="true", COUNT_EVENTS="true")
    await w.wait_ready()
    (c,) = await open_clients("127.0.0.1", w.port, 1)
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            await wait_for(lambda: asyncio.sleep(0, c.events >= 12), 30, "12 events received")
            checked = 0
            for _ in range(10):
                page = (await http.get(w.base_url + "/monitoring/connections")).json()
                (rec,) = page["connections"]
                now = page["now"]
                received = c.events
                assert rec["counts_at"] is not None, rec
                age = now - rec["counts_at"]
                assert age <= 2.5, f"counts {age:.1f}s old at the default config with one stream"
                # what it says it had sent at counts_at: never more than the client has, and no
                # more than the events of the last couple of seconds behind
                assert received - 3 <= rec["events_sent"] <= received, (rec["events_sent"], received)
                checked += 1
                await asyncio.sleep(0.7)
            assert checked == 10
    finally:
        await c.close()


# -- history remembers an outage -----------------------------------------------------------
async def test_a_15s_redis_pause_is_an_alert_span_in_the_history_and_no_bucket_reads_zero(own_redis, namespace, workers):
    w = workers(own_redis.url, namespace, HISTORY_INTERVAL_SECONDS=2, REDIS_TIMEOUT_SECONDS=0.5)
    await w.wait_ready()
    clients = await open_clients("127.0.0.1", w.port, 5)
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            async def history_has(n: int):
                h = (await http.get(w.base_url + "/monitoring/history", params={"range": "5m", "step": "2s"})).json()
                return h if sum(1 for v in h["last"]["active"] if v == 5) >= n else None
            await wait_for(lambda: history_has(3), 20, "3 samples of 5 connections")
            paused = time.time()
            own_redis.pause()
            try:
                await asyncio.sleep(15)
            finally:
                own_redis.resume()
            resumed = time.time()

            async def spans():
                h = (await http.get(w.base_url + "/monitoring/history", params={"range": "5m", "step": "2s"})).json()
                got = [a for a in h["alerts"] if a["type"] == "state_store_unavailable"]
                return (h, got) if got and h["last"]["active"][-1] == 5 else None
            # ~3 s after the resume on a quiet machine (the registry settles, then a sample);
            # 45 s: under the full suite's load this did not come within 20 s in 2 of 3 CI
            # runs (not root-caused; the note of that stop says so)
            h, got = await wait_for(spans, 45, "the outage as an alert span in the history")
            span = got[0]
            assert span["start"] <= paused + 4 and (span["end"] or resumed) >= resumed - 4, (span, paused, resumed)
            inside = [i for i, t in enumerate(h["times"]) if paused + 2 <= t <= resumed - 2]
            assert inside
            assert all(h["last"]["active"][i] != 0 for i in inside), [h["last"]["active"][i] for i in inside]
            assert all(h["coverage"][i] == "unknown" for i in inside), [h["coverage"][i] for i in inside]
            assert any(m["type"] == "outage" for m in h["marks"]), h["marks"]
    finally:
        await close_clients(clients)


# -- one-shot checks see holds that held for the fleet --------------------------------------
async def test_sse_dash_once_reports_a_mismatch_that_held_for_the_fleet(own_redis, namespace, workers):
    w = workers(own_redis.url, namespace, PERIODIC_CLEANUP_ENABLED="false")  # cleanup would reconcile the drift
    await w.wait_ready()
    clients = await open_clients("127.0.0.1", w.port, 3)
    try:
        with own_redis.client() as r:
            r.incrby(Keys(namespace).counter, 50)
        async with httpx.AsyncClient(timeout=5) as http:
            async def alerted():
                s = await _snap(http, w.base_url)
                return s if s and any(a["type"] == "connection_mismatch" for a in s["health_indicators"]["alerts"]) else None
            await wait_for(alerted, 20, "the mismatch alert on the worker")
        res = await asyncio.to_thread(sse_dash_once, "--redis", own_redis.url, "--namespace", namespace)
        print(f"\nsse-dash --once: exit {res.returncode}: {res.stdout.strip()}")
        assert res.returncode == 2, (res.stdout, res.stderr)
        assert "mismatch" in res.stdout.lower()
        assert len(res.stdout.strip().splitlines()) == 1
    finally:
        await close_clients(clients)


# -- a store that lost its data (issue 22) -----------------------------------------------
async def _fleet_of(own_redis, namespace, workers, n: int, **env) -> list:
    fleet = [workers(own_redis.url, namespace, **env) for _ in range(n)]
    for w in fleet:
        await w.wait_ready()
    return fleet


async def _spread(fleet, total: int) -> list[SSEClient]:
    clients: list[SSEClient] = []
    for i, w in enumerate(fleet):
        share = total // len(fleet) + (1 if i < total % len(fleet) else 0)
        clients += await open_clients("127.0.0.1", w.port, share)
    return clients


async def test_flushall_under_200_streams_is_never_a_healthy_partial_count(own_redis, namespace, workers):
    """FLUSHALL under 200 real streams on 3 workers, sampled every 50 ms: no sample says
    healthy with the store up while the counts are not the open sockets; exact within 15 s;
    the fleet's published settings exist again within 20 s; /metrics never exports fleet
    numbers while the registry rebuilds, and its counters never go back."""
    fleet = await _fleet_of(own_redis, namespace, workers, 3, CLEANUP_INTERVAL_SECONDS=2,
                            STALE_CONNECTION_THRESHOLD_SECONDS=30, PING_INTERVAL_SECONDS=5)
    clients = await _spread(fleet, 200)
    keys = Keys(namespace)
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            async def settled():
                s = await _snap(http, fleet[0].base_url)
                return s if s and _cs(s) == (200, 200) and s["health_indicators"]["overall_health"] == "healthy" \
                    and s["cleanup_stats"]["total_cleanups"] else None
            before = await wait_for(settled, 30, "200 streams registered, healthy, cleanups counted")
            cleanups_before = await _metric(http, fleet[0].base_url, "sse_cleanup_total")
            own_redis.flushall()
            t0 = time.monotonic()
            lies: list[str] = []
            metrics_lies: list[str] = []
            exact_at = config_at = None
            i = 0
            while time.monotonic() - t0 < 25 and (exact_at is None or config_at is None):
                w = fleet[i % 3]
                i += 1
                s = await _snap(http, w.base_url)
                t = time.monotonic() - t0
                if s is not None:
                    up = s["store_status"]["state"] == "up"
                    exact = _cs(s) == (200, 200) and _open(clients) == 200
                    if up and not exact and s["health_indicators"]["overall_health"] == "healthy":
                        lies.append(f"{t:.2f}s {_cs(s)} registry={s['registry']['state']}")
                    if exact and s["registry"]["state"] == "settled" and exact_at is None:
                        exact_at = t
                if i % 5 == 0:
                    text = (await http.get(w.base_url + "/metrics")).text
                    active = _value(text, "sse_active_connections")
                    if active is not None and active != 200:
                        metrics_lies.append(f"{t:.2f}s sse_active_connections {active}")
                    cleanups = _value(text, "sse_cleanup_total")
                    if cleanups is not None and cleanups < cleanups_before:
                        metrics_lies.append(f"{t:.2f}s sse_cleanup_total {cleanups} < {cleanups_before}")
                if config_at is None:
                    with own_redis.client() as r:
                        if r.exists(keys.config):
                            config_at = t
                await asyncio.sleep(0.05)
            print(f"\nFLUSHALL under 200 streams: exact and settled after {exact_at}s, settings back after "
                  f"{config_at}s, {i} samples; before: {_cs(before)}")
            assert not lies, f"healthy on a partial count: {lies[:5]}"
            assert not metrics_lies, metrics_lies[:5]
            assert exact_at is not None and exact_at <= 15, exact_at
            assert config_at is not None and config_at <= 20, config_at
            s = await _snap(http, fleet[1].base_url)
            assert s is not None and any(e["type"] == "rebuild" or "lost" in (e["message"] or "")
                                         for e in s["recent_events"]) or s["registry"]["last_loss_at"], s["registry"]
    finally:
        await close_clients(clients)


async def _metric(http: httpx.AsyncClient, base: str, name: str) -> float | None:
    return _value((await http.get(base + "/metrics")).text, name)


def _value(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_a_deleted_worker_code_key_heals(own_redis, namespace, workers):
    """DEL {ns}:wcode with 100 streams: active == counter == open sockets again within 60 s
    (each worker puts its own code back at its next flush)."""
    fleet = await _fleet_of(own_redis, namespace, workers, 2)
    clients = await _spread(fleet, 100)
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            async def exact():
                s = await _snap(http, fleet[0].base_url)
                return s if s and _cs(s) == (100, 100) else None
            await wait_for(exact, 20, "100 registered")
            with own_redis.client() as r:
                assert r.delete(Keys(namespace).worker_codes) == 1
            t0 = time.monotonic()

            seen: list[Any] = []

            async def healed():
                s = await _snap(http, fleet[0].base_url)
                if s is not None:
                    seen[:] = [_cs(s), [(w["worker_id"], w["connections"]) for w in s["workers"] or []]]
                return s if s and _cs(s) == (100, 100) else None
            try:
                await wait_for(healed, 60, "the worker codes put back")
            except AssertionError as exc:
                raise AssertionError(f"{exc}; last seen {seen}") from None
            print(f"\nDEL wcode healed after {time.monotonic() - t0:.2f}s")
    finally:
        await close_clients(clients)


async def test_maxmemory_is_named_by_sse_dash_redis_once_and_no_live_worker_is_dead(own_redis, namespace, workers):
    fleet = await _fleet_of(own_redis, namespace, workers, 2)
    clients = await _spread(fleet, 10)
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            await wait_for(lambda: _exact(http, fleet[0], 10), 20, "10 registered")
        with own_redis.client() as r:
            r.config_set("maxmemory-policy", "noeviction")
            r.config_set("maxmemory", 1)
        try:
            await asyncio.sleep(FAST_TTL + 1)  # past a heartbeat TTL: nobody could write one
            res = await asyncio.to_thread(sse_dash_once, "--redis", own_redis.url, "--namespace", namespace)
            print(f"\nmaxmemory: sse-dash --once exit {res.returncode}: {res.stdout.strip()}")
            assert res.returncode != 0, res.stdout
            assert "refus" in res.stdout.lower() and "maxmemory" in res.stdout.lower(), res.stdout
            assert "dead" not in res.stdout.lower(), res.stdout
        finally:
            with own_redis.client() as r:
                r.config_set("maxmemory", 0)
    finally:
        await close_clients(clients)


async def _exact(http, w, n: int):
    s = await _snap(http, w.base_url)
    return s if s and _cs(s) == (n, n) else None


async def test_a_hang_longer_than_the_stale_threshold_cleans_nothing_live(own_redis, namespace, workers):
    """A 15 s hang with a 10 s stale threshold under 200 streams: the first cleanup after the
    resume does not take live streams for stale (a hang hid their activity): cleaned stays 0."""
    env = dict(STALE_CONNECTION_THRESHOLD_SECONDS=10, CLEANUP_INTERVAL_SECONDS=1, PING_INTERVAL_SECONDS=2,
               WORKER_HEARTBEAT_TTL_SECONDS=8, TOUCH_FLUSH_INTERVAL_SECONDS=0.5, REDIS_TIMEOUT_SECONDS=0.5)
    fleet = await _fleet_of(own_redis, namespace, workers, 2, **env)
    clients = await _spread(fleet, 200)
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            await wait_for(lambda: _exact(http, fleet[0], 200), 30, "200 registered")
            s = await _snap(http, fleet[0].base_url)
            assert s is not None
            cleaned_before = s["cleanup_stats"]["total_connections_cleaned"]
            own_redis.pause()
            try:
                await asyncio.sleep(15)
            finally:
                own_redis.resume()
            t0 = time.monotonic()
            s = await wait_for(lambda: _exact(http, fleet[0], 200), 30, "exact again after the hang")
            await asyncio.sleep(3)  # several cleanup intervals after the resume
            s = await wait_for(lambda: _exact(http, fleet[1], 200), 10, "exact on the other worker too")
            print(f"\n15 s hang, stale 10 s: exact {time.monotonic() - t0:.1f}s after; cleaned "
                  f"{s['cleanup_stats']['total_connections_cleaned'] - cleaned_before}")
            assert s["cleanup_stats"]["total_connections_cleaned"] == cleaned_before
            assert _open(clients) == 200, "a live stream was closed as stale"
    finally:
        await close_clients(clients)


async def test_a_20s_outage_in_a_young_fleet_is_healthy_within_two_cleanup_intervals(own_redis, namespace, workers):
    fleet = await _fleet_of(own_redis, namespace, workers, 2, CLEANUP_INTERVAL_SECONDS=3,
                            STALE_CONNECTION_THRESHOLD_SECONDS=30, PING_INTERVAL_SECONDS=5,
                            WORKER_HEARTBEAT_TTL_SECONDS=6)
    clients = await _spread(fleet, 20)
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            await wait_for(lambda: _exact(http, fleet[0], 20), 20, "20 registered")
            own_redis.stop()
            t0 = time.monotonic()
            alerted = False
            while time.monotonic() - t0 < 20:
                s = await _snap(http, fleet[0].base_url)
                alerted |= bool(s) and any(a["type"] == "state_store_unavailable"
                                           for a in s["health_indicators"]["alerts"])
                await asyncio.sleep(0.5)
            own_redis.start()  # empty: a young fleet's whole history and counters are gone
            back = time.monotonic()

            async def healthy():
                s = await _snap(http, fleet[0].base_url)
                return s if s and s["health_indicators"]["overall_health"] == "healthy" and _cs(s) == (20, 20) else None
            s = await wait_for(healthy, 30, "healthy again")
            took = time.monotonic() - back
            print(f"\n20 s outage in a young fleet: healthy {took:.1f}s after Redis returned")
            assert alerted
            assert took <= 2 * 3 + 2, took  # two cleanup intervals (+ a flush and a poll on a busy machine)
    finally:
        await close_clients(clients)


FAST_TTL = 1.5  # FAST's WORKER_HEARTBEAT_TTL_SECONDS (tests/service/conftest.py)


async def test_a_worker_on_another_host_that_stops_is_late_then_dead_then_reaped(own_redis, namespace):
    """No fleet-mate shares its host (so no pid check): a worker that stops heartbeating is
    LATE after two flush intervals (a warning naming it), DEAD at the TTL (an alert), and
    reaped by a fleet-mate's next flush — not at the next cleanup interval."""
    from core.config import load_config
    from core.manager import ConnectionManager
    from core.store.redis import RedisStore

    cfg = load_config(REDIS_URL=own_redis.url, REDIS_NAMESPACE=namespace, TOUCH_FLUSH_INTERVAL_SECONDS=0.25,
                      WORKER_HEARTBEAT_TTL_SECONDS=3.0, CLEANUP_INTERVAL_SECONDS=600, PERIODIC_CLEANUP_ENABLED=True,
                      HISTORY_ENABLED=False)
    gone = ConnectionManager(RedisStore(own_redis.url, namespace), cfg, host="host-a", worker_id="gone")
    stays = ConnectionManager(RedisStore(own_redis.url, namespace), cfg, host="host-b", worker_id="stays")
    await gone.start()
    await stays.start()
    try:
        for _ in range(12):
            await gone.register()
        await stays.register()
        await gone.flush_touches()
        await stays.flush_touches()
        await gone.registry.loop.stop()  # it stops heartbeating (a hung or vanished host)
        await gone.cleaner.loop.stop()
        t0 = time.monotonic()
        seen: dict[str, float] = {}
        while time.monotonic() - t0 < 15:
            snap = await stays.monitoring_snapshot()
            t = time.monotonic() - t0
            states = {w.worker_id: w.state for w in snap.workers or []}
            st = states.get("gone", "reaped")
            seen.setdefault(st, t)
            level = snap.health_indicators.overall_health
            if st == "late":
                assert level != "healthy" and any(w.type == "worker_late" and "12 connection" in w.message
                                                   for w in snap.health_indicators.warnings), snap.health_indicators
            if st == "dead":
                assert level == "unhealthy" and any(a.type == "worker_dead" for a in snap.health_indicators.alerts)
            if st == "reaped":
                # the event is written before the worker is forgotten: the first snapshot without it has it
                assert [e.count for e in snap.recent_events if e.type == "death" and e.worker_id == "gone"] == [12], \
                    snap.recent_events
                break
            await asyncio.sleep(0.05)
        print(f"\nanother host's worker stops: first seen {seen}")
        assert seen.get("late") is not None and seen["late"] < seen.get("dead", seen["reaped"])
        assert seen["reaped"] <= cfg.WORKER_HEARTBEAT_TTL_SECONDS + 2.0, seen
        snap = await stays.monitoring_snapshot()
        assert (snap.connection_stats.active_connections, snap.connection_stats.redis_connection_counters) == (1, 1)
        assert [e.count for e in snap.recent_events if e.type == "death" and e.worker_id == "gone"] == [12]
    finally:
        gone.registry.local.clear()
        await stays.stop()
        await gone.stop(close_streams=False)


async def test_acls_are_named_as_permissions_not_outages(own_redis, namespace, workers):
    """A worker whose Redis user may not run scripts: `error`, "permission denied (ACL)" (not
    "unreachable"); an observer whose user may only read: the fleet judged as it is, its
    inability to probe writes said, never taken for a store refusing writes."""
    with own_redis.client() as r:
        r.execute_command("ACL", "SETUSER", "reader", "on", ">pw", "~*", "+@read", "+time", "+info", "+ping",
                          "+hello", "+client")
        r.execute_command("ACL", "SETUSER", "noscripts", "on", ">pw", "~*", "+@all", "-evalsha", "-eval")
    w = workers(own_redis.url, namespace)
    await w.wait_ready()
    clients = await open_clients("127.0.0.1", w.port, 3)
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            await wait_for(lambda: _exact(http, w, 3), 15, "3 registered")
        res = await asyncio.to_thread(sse_dash_once, "--redis", f"redis://reader:pw@127.0.0.1:{own_redis.port}/0",
                                      "--namespace", namespace)
        line = res.stdout.strip()
        assert res.returncode == 0 and "HEALTHY" in line and "refus" not in line.lower(), (res.stdout, res.stderr)
        bad = workers(f"redis://noscripts:pw@127.0.0.1:{own_redis.port}/0", namespace + "-acl")
        await bad.wait_ready()
        async with httpx.AsyncClient(timeout=5) as http:
            async def named():
                s = await _snap(http, bad.base_url)
                st = s["store_status"] if s else {}
                return s if st.get("state") == "error" and "permission denied (ACL)" in (st.get("reason") or "") else None
            s = await wait_for(named, 15, "the ACL named")
            assert any("permission denied" in a["message"] for a in s["health_indicators"]["alerts"])
    finally:
        await close_clients(clients)
