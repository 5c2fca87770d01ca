"""A real Prometheus scrapes the demo service; the guide's PromQL queries return real values."""

from __future__ import annotations

import asyncio
import subprocess
import time

import httpx

from core.config import load_config
from core.demo import DemoService
from tests.redis_server import free_port
from tests.tools import require_binary


def _require_prometheus() -> str:
    return require_binary("prometheus", "prometheus")


async def _until(fn, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = await fn()
            if value is not None:
                return value
        except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
            last = exc
        await asyncio.sleep(0.2)
    raise TimeoutError(f"timed out waiting for {what} (last error: {last!r})")


async def test_prometheus_scrapes_demo_and_guide_queries_answer(tmp_path):
    binary = _require_prometheus()
    cfg = load_config(MONITORING_TOKEN="tok-prom", PERIODIC_CLEANUP_ENABLED=True, CLEANUP_INTERVAL_SECONDS=0.5,
                      STALE_CONNECTION_THRESHOLD_SECONDS=3, PING_INTERVAL_SECONDS=0.3, TOUCH_FLUSH_INTERVAL_SECONDS=0.2)
    svc = DemoService(port=0, clients=0, config=cfg)
    await svc.start()
    prom_port = free_port()
    (tmp_path / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "rule_files:\n  - " + str(__import__("pathlib").Path(__file__).resolve().parents[2] / "ops/prometheus/sse_alerts.yml") + "\n"
        "scrape_configs:\n  - job_name: sse\n    metrics_path: /metrics\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{svc.port}']\n"
    )
    proc = subprocess.Popen([binary, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
                             f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    api = f"http://127.0.0.1:{prom_port}/api/v1"
    try:
        # 4 registered connections that never send: they go stale and cleanup removes them
        for _ in range(4):
            await svc.manager.register(channel="ghost")
        live = [await svc.manager.register(channel="live") for _ in range(3)]

        async with httpx.AsyncClient(timeout=5) as http:
            async def query(expr: str):
                for rec in live:  # keep the live ones active
                    svc.manager.touch(rec.connection_id)
                r = (await http.get(f"{api}/query", params={"query": expr})).json()
                assert r["status"] == "success", r
                result = r["data"]["result"]
                return float(result[0]["value"][1]) if result else None

            async def equals(expr: str, want: float):
                async def check():
                    v = await query(expr)
                    return v if v == want else None
                return await _until(check, 60, f"{expr} == {want}")

            await _until(lambda: query("up{job='sse'}"), 60, "the first scrape")
            assert await equals("sse_active_connections", 3) == 3
            await equals("sse_total_connections_cleaned", 4)
            await equals("sse_stale_connections", 0)
            await equals("sse_long_lived_connections", 0)
            await equals("sse_very_old_connections", 0)
            await equals("sse_health_status", 0)
            assert await query("sse_health_status > 1") is None  # the guide's alert query: no series while healthy
            # the guide's error-rate query over real counters: cleanups ran, none failed -> 0 %
            await equals("rate(sse_cleanup_errors_total[5s]) / rate(sse_cleanup_total[5s]) * 100", 0)
            assert await query("sse_cleanup_total") >= 1
            # the rules file loads in a real Prometheus
            rules = (await http.get(f"{api}/rules")).json()
            names = {r["name"] for g in rules["data"]["groups"] for r in g["rules"]}
            assert {"SSEHealthUnhealthy", "SSEConnectionMismatch", "SSECleanupErrorRateCritical"} <= names
    finally:
        _stop(proc)
        await svc.stop()


async def test_increase_over_a_redis_pause_counts_true_runs(tmp_path, redis_server):
    """While Redis hangs the fleet counters are left out (not reported as 0), so a real
    Prometheus sees a gap, not a reset: increase() over the pause matches what Redis counted."""
    from tests.service.conftest import fast_config, serve
    binary = _require_prometheus()
    redis_server.restart()  # a clean session server of its own state for this test
    cfg = fast_config(REDIS_URL=redis_server.url, REDIS_NAMESPACE="prom-pause", CLEANUP_INTERVAL_SECONDS=0.5,
                      REDIS_TIMEOUT_SECONDS=0.3, STALE_CONNECTION_THRESHOLD_SECONDS=30.0)
    async with serve(cfg) as s:
        prom_port = free_port()
        (tmp_path / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n"
            "scrape_configs:\n  - job_name: sse\n    metrics_path: /metrics\n"
            f"    static_configs:\n      - targets: ['127.0.0.1:{s.port}']\n")
        proc = subprocess.Popen([binary, f"--config.file={tmp_path / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{prom_port}",
                                 "--log.level=warn"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        api = f"http://127.0.0.1:{prom_port}/api/v1"

        def redis_total() -> int:
            with redis_server.client() as r:
                return int(r.hget("{prom-pause}:cleanup", "total_cleanups") or 0)
        try:
            async with httpx.AsyncClient(timeout=5) as http:
                async def query(expr: str, at: float | None = None):
                    params = {"query": expr, **({"time": f"{at:.3f}"} if at else {})}
                    r = (await http.get(f"{api}/query", params=params)).json()
                    assert r["status"] == "success", r
                    res = r["data"]["result"]
                    return float(res[0]["value"][1]) if res else None

                await _until(lambda: query("sse_cleanup_total"), 60, "sse_cleanup_total scraped")

                async def settled() -> int:
                    """Hold cleanups (a run-time setting) until Prometheus has scraped what Redis holds."""
                    s.manager.config.CLEANUP_INTERVAL_SECONDS = 3600.0

                    async def same():
                        v = await query("sse_cleanup_total")
                        return v if v is not None and v == redis_total() else None
                    return int(await _until(same, 30, "Prometheus caught up with Redis"))

                before = await settled()
                # the query window below reaches up to 2 s before t0: wait until the last 3 s
                # of samples all read `before` (cleanups held), so nothing older counts
                await _until(lambda: _eq(query("min_over_time(sse_cleanup_total[3s])"), float(before)), 30,
                             "3 s of settled samples")
                t0 = time.time()
                s.manager.config.CLEANUP_INTERVAL_SECONDS = 0.5
                await asyncio.sleep(2)
                redis_server.pause()
                try:
                    await _until(lambda: _eq(query("sse_store_up"), 0.0), 20, "sse_store_up 0 during the pause")
                    await asyncio.sleep(4)
                finally:
                    redis_server.resume()
                await _until(lambda: _eq(query("sse_store_up"), 1.0), 20, "sse_store_up 1 after the pause")
                await asyncio.sleep(2)
                after = await settled()
                t1 = time.time()
                window = f"{int(t1 - t0) + 2}s"
                resets = await query(f"resets(sse_cleanup_total[{window}])", t1)
                span = await query(f"max_over_time(sse_cleanup_total[{window}]) - min_over_time(sse_cleanup_total[{window}])", t1)
                inc = await query(f"increase(sse_cleanup_total[{window}])", t1)
                true = after - before
                print(f"\nRedis pause: true cleanup runs {true}, Prometheus increase() {inc:.1f}, resets {resets}, span {span}")
                assert true >= 3 and resets == 0
                assert span == true  # exactly what Redis counted: no false reset, nothing lost
                assert inc is not None and true * 0.8 <= inc <= true * 1.3 + 1, (inc, true)  # extrapolation only
        finally:
            _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stderr:
        proc.stderr.close()


async def _eq(coro, want: float):
    v = await coro
    return v if v == want else None
