"""Honest verdicts: per-pod probes apart from the fleet verdict, rates over a window,
hysteresis, unknown never zero, live configuration. Real uvicorn, real redis-server."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from core import health
from core.config import ConfigError, load_config
from core.keys import Keys

from .conftest import close_clients, fast_config, open_clients, serve, wait_for


def _types(snap: dict) -> set[str]:
    hi = snap["health_indicators"]
    return {a["type"] for a in hi["alerts"]} | {w["type"] for w in hi["warnings"]}


async def test_a_1s_blip_makes_no_pod_unready_and_counts_no_cleanup_error(own_redis, namespace):
    """Cleanup runs that could not reach the store are no cleanup errors of the fleet's own
    doing (the store's alert covered them): after a blip the error rate is untouched, so the
    verdict does not outlive the outage by an error-rate window."""
    cfg = fast_config(REDIS_URL=own_redis.url, REDIS_NAMESPACE=namespace, CLEANUP_INTERVAL_SECONDS=0.3,
                      ERROR_RATE_WINDOW_SECONDS=60.0, REDIS_TIMEOUT_SECONDS=0.3)
    async with serve(cfg) as s:
        clients = await open_clients(s.host, s.port, 5)
        await wait_for(lambda: _counted(s, lambda c: c["total_cleanups"] >= 3), 10, "a few good cleanups")
        own_redis.stop()
        ready = []
        alerted = set()
        t_end = time.monotonic() + 1.0
        while time.monotonic() < t_end:
            ready.append((await s.http.get("/health/ready")).status_code)
            alerted |= _types(await s.monitoring())
            await asyncio.sleep(0.1)
        own_redis.start()
        back = time.monotonic()
        assert set(ready) == {200}, "a shared store outage never makes a pod unready"
        assert "state_store_unavailable" in alerted  # the outage itself alerted

        async def healthy_again():
            snap = await s.monitoring()
            return snap if snap["health_indicators"]["overall_health"] == "healthy" else None
        snap = await wait_for(healthy_again, 15, "the fleet healthy again after the blip")
        took = time.monotonic() - back
        assert snap["cleanup_stats"]["cleanup_errors"] == 0 and snap["cleanup_stats"]["error_rate_window"] == 0
        print(f"\nhealthy {took:.1f}s after a 1 s outage (error-rate window {cfg.ERROR_RATE_WINDOW_SECONDS:g}s)")
        assert took < cfg.ERROR_RATE_WINDOW_SECONDS / 2
        await close_clients(clients)


async def _counted(s, pred):
    snap = await s.monitoring()
    cs = snap["cleanup_stats"]
    return snap if cs["total_cleanups"] is not None and pred(cs) else None


@pytest.mark.parametrize("good,bad,expected", [(90, 10, "unhealthy"), (95, 2, "healthy"), (0, 3, "unhealthy")])
def test_consecutive_failures_are_unhealthy_at_once_whatever_the_rate(good, bad, expected):
    now = 1000.0
    runs = tuple((now - i, i < bad) for i in range(good + bad))  # the newest `bad` runs failed
    from core.stats import window_error_rate
    rate = window_error_rate(runs, now, 600)
    inp = health.HealthInputs(active_connections=5, redis_connection_counters=5, error_rate=rate,
                              cleanup_task_running=True, periodic_cleanup_enabled=True, stale=0, very_old=0,
                              error_rate_window=rate, consecutive_errors=bad)
    th = health.HealthThresholds(dict(health.DEFAULT_THRESHOLDS))
    got = health.evaluate(inp, th)
    assert got.overall_health == expected, (rate, got)


def test_error_rate_compares_unrounded():
    inp = health.HealthInputs(active_connections=0, redis_connection_counters=0, error_rate=10.0,
                              cleanup_task_running=True, periodic_cleanup_enabled=True, stale=0, very_old=0,
                              error_rate_window=10.04, consecutive_errors=0, error_rate_window_runs=500)
    assert "high_cleanup_error_rate" in {a.type for a in health.evaluate(inp).alerts}


@pytest.mark.parametrize("runs,judged", [(1, False), (4, False), (5, True), (40, True)])
def test_a_rate_needs_enough_runs_in_its_window(runs, judged):
    """One failed run in a nearly empty window (a young fleet, a blip) is not a 100 % error
    rate: the rate rules judge only over ALERT_ERROR_RATE_MIN_RUNS runs (5), as the rule
    table says."""
    inp = health.HealthInputs(active_connections=0, redis_connection_counters=0, error_rate=100.0,
                              cleanup_task_running=True, periodic_cleanup_enabled=True, stale=0, very_old=0,
                              error_rate_window=100.0 / runs, consecutive_errors=1, error_rate_window_runs=runs)
    th = health.HealthThresholds(dict(health.DEFAULT_THRESHOLDS))
    fired = {a.type for a in health.evaluate(inp, th).alerts} | {w.type for w in health.evaluate(inp, th).warnings}
    assert (fired & {"high_cleanup_error_rate", "elevated_error_rate"} != set()) == (judged and 100.0 / runs > 5)
    (row,) = [r for r in health.rule_rows(th) if r.type == "high_cleanup_error_rate"]
    assert row.min_runs == 5


async def test_counter_drift_makes_the_fleet_unhealthy_and_no_pod_unready(own_redis, namespace, workers):
    env = dict(CLEANUP_INTERVAL_SECONDS=60.0, ALERT_MISMATCH_FOR_SECONDS=0.5, STALE_CONNECTION_THRESHOLD_SECONDS=300.0)
    pods = [workers(own_redis.url, namespace, **env) for _ in range(2)]
    for w in pods:
        await w.wait_ready()
    clients = await open_clients("127.0.0.1", pods[0].port, 10)
    with own_redis.client() as r:
        r.incrby(Keys(namespace).counter, 50)
    async with httpx.AsyncClient(timeout=5) as http:
        async def fleet_unhealthy():
            codes = [(await http.get(w.base_url + "/health/fleet")).status_code for w in pods]
            return codes == [503, 503]
        await wait_for(fleet_unhealthy, 10, "the fleet verdict unhealthy on every pod")
        snap = (await http.get(pods[1].base_url + "/monitoring")).json()
        assert "connection_mismatch" in _types(snap)
        for w in pods:
            assert (await http.get(w.base_url + "/health/ready")).status_code == 200
            assert (await http.get(w.base_url + "/health/live")).status_code == 200
    await close_clients(clients)


async def test_two_workers_asked_at_the_same_moment_give_the_same_numbers(own_redis, namespace, workers):
    pods = [workers(own_redis.url, namespace, CLEANUP_INTERVAL_SECONDS=60.0, STALE_CONNECTION_THRESHOLD_SECONDS=300.0)
            for _ in range(2)]
    for w in pods:
        await w.wait_ready()
    clients = await open_clients("127.0.0.1", pods[0].port, 12) + await open_clients("127.0.0.1", pods[1].port, 7)
    async with httpx.AsyncClient(timeout=5) as http:
        async def both():
            a, b = await asyncio.gather(*(http.get(w.base_url + "/monitoring") for w in pods))
            return a.json(), b.json()

        async def settled():
            a, b = await both()
            return a["connection_stats"]["active_connections"] == 19 and b["connection_stats"]["active_connections"] == 19
        await wait_for(settled, 10, "19 connections seen by both")
        for _ in range(5):
            a, b = await both()
            for section in ("connection_stats", "cleanup_stats", "health_indicators"):
                assert a[section] == b[section] or section == "connection_stats" and {
                    k: v for k, v in a[section].items() if k != "cleanup_task_running"} == {
                    k: v for k, v in b[section].items() if k != "cleanup_task_running"}, (section, a[section], b[section])
    await close_clients(clients)


async def test_a_ramp_to_1000_clients_raises_no_mismatch(redis_url, namespace):
    cfg = fast_config(REDIS_URL=redis_url, REDIS_NAMESPACE=namespace, WARN_ACTIVE_CONNECTIONS=5000,
                      STALE_CONNECTION_THRESHOLD_SECONDS=60.0, CLEANUP_INTERVAL_SECONDS=10.0)
    async with serve(cfg) as s:
        seen: set[str] = set()
        stop = asyncio.Event()

        async def watch():
            while not stop.is_set():
                seen.update(_types(await s.monitoring()))
                await asyncio.sleep(0.05)
        watcher = asyncio.create_task(watch())
        clients = await open_clients(s.host, s.port, 1000)
        await wait_for(lambda: _active(s, 1000), 20, "1000 counted")
        stop.set()
        await watcher
        assert "connection_mismatch" not in seen, seen
        await close_clients(clients)


async def _active(s, n: int) -> bool:
    return (await s.monitoring())["connection_stats"]["active_connections"] == n


async def test_a_run_time_interval_change_takes_effect_within_one_cycle():
    cfg = fast_config(CLEANUP_INTERVAL_SECONDS=30.0)
    async with serve(cfg) as s:
        before = (await s.monitoring())["cleanup_stats"]["total_cleanups"]
        assert (await s.monitoring())["configuration"]["validation_warnings"] == [
            w for w in (await s.monitoring())["configuration"]["validation_warnings"] if "too short" not in w]
        s.manager.config.CLEANUP_INTERVAL_SECONDS = 0.5  # as the guide's tuning section does
        await wait_for(lambda: _counted(s, lambda c: c["total_cleanups"] >= before + 2), 5, "cleanups at the new interval")
        snap = await s.monitoring()
        assert snap["configuration"]["cleanup_interval_seconds"] == 0.5
        assert any("too short" in w for w in snap["configuration"]["validation_warnings"])


def test_inf_nan_and_store_settings_at_run_time_are_refused():
    for bad in ("inf", "nan", "-inf"):
        with pytest.raises(ConfigError) as e:
            load_config(CLEANUP_INTERVAL_SECONDS=bad)
        assert "SSE_CLEANUP_INTERVAL_SECONDS" in str(e.value)
    cfg = load_config()
    with pytest.raises(ValueError, match="frozen"):
        cfg.REDIS_NAMESPACE = "other"


async def test_metrics_leave_fleet_series_out_while_the_store_is_down(own_redis, namespace):
    cfg = fast_config(REDIS_URL=own_redis.url, REDIS_NAMESPACE=namespace)
    async with serve(cfg) as s:
        clients = await open_clients(s.host, s.port, 4)
        await wait_for(lambda: _active(s, 4), 10, "4 counted")
        up = (await s.http.get("/metrics")).text
        assert "sse_cleanup_total " in up and "sse_pod_connections 4.0" in up
        own_redis.stop()
        await wait_for(lambda: _metric_is(s, "sse_store_up", 0.0), 10, "sse_store_up 0")
        down = (await s.http.get("/metrics")).text
        for name in ("sse_cleanup_total", "sse_active_connections", "sse_redis_connection_counters",
                     "sse_connections_cleaned_total", "sse_stale_connections"):
            assert f"\n{name} " not in down, name  # absent, not 0: no false reset for increase()
        assert "sse_pod_connections 4.0" in down  # this pod still knows its own
        await close_clients(clients)
        own_redis.start()


async def _metric_is(s, name: str, value: float) -> bool:
    try:
        return await s.metric(name) == value
    except AssertionError:
        return False


def test_alert_rules_use_the_thresholds_of_the_rule_table():
    """ops/prometheus/sse_alerts.yml compares with the same numbers as core.health's defaults."""
    import re
    from pathlib import Path

    import yaml

    from core.config import SSEConfig
    rules = yaml.safe_load((Path(__file__).resolve().parents[2] / "ops/prometheus/sse_alerts.yml").read_text())
    exprs = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    defaults = {name: f.default for name, f in SSEConfig.model_fields.items()}
    expect = {"SSEConnectionMismatch": ("sse_connection_mismatch", "ALERT_CONNECTION_MISMATCH"),
              "SSEStaleConnectionsHigh": ("sse_stale_connections", "WARN_STALE_CONNECTIONS"),
              "SSEVeryOldConnections": ("sse_very_old_connections", "WARN_VERY_OLD_CONNECTIONS"),
              "SSEHighConnectionCount": ("sse_active_connections", "WARN_ACTIVE_CONNECTIONS")}
    for alert, (metric, field) in expect.items():
        expr = exprs[alert]
        m = re.search(re.escape(metric) + r"\)?\s*>\s*([0-9.]+)", expr)
        assert m and float(m.group(1)) == float(defaults[field]), (alert, expr, defaults[field])
    rate_exprs = [exprs["SSECleanupErrorRateCritical"], exprs["SSECleanupErrorRateElevated"]]
    thresholds = sorted(float(re.search(r">\s*([0-9.]+)\s*$", e.strip()).group(1)) for e in rate_exprs)
    assert thresholds == sorted([defaults["WARN_CLEANUP_ERROR_RATE_PERCENT"], defaults["ALERT_CLEANUP_ERROR_RATE_PERCENT"]])
    m = re.search(r"sse_cleanup_duration_seconds_count\[15m\]\)\)\s*>\s*([0-9.]+)", exprs["SSECleanupDurationHigh"])
    assert m and float(m.group(1)) == defaults["ALERT_CLEANUP_DURATION_MS"] / 1000.0
    # every number an expression compares with is one of those (a new one must be added here)
    known = {float(defaults[f]) for _, f in expect.values()} | set(thresholds) | {
        defaults["ALERT_CLEANUP_DURATION_MS"] / 1000.0, 0.0, 1.0}  # 0 / 1: sse_store_up, sse_health_status levels
    for alert, expr in exprs.items():
        for number in re.findall(r"(?:>|<|==)\s*([0-9.]+)", expr):
            assert float(number) in known, (alert, number)
    assert set(health.THRESHOLD_FIELDS) <= set(defaults)
    assert {k: float(v) for k, v in health.DEFAULT_THRESHOLDS.items()} == {k: float(defaults[k]) for k in health.THRESHOLD_FIELDS}
