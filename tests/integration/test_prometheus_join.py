"""The sse_* metrics join the app's own exposition (prometheus-fastapi-instrumentator)."""

from __future__ import annotations

import asyncio
import math

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from core.exporters.prometheus import COLLECTOR_METRIC_NAMES, CachedCollector, register_collector
from core.snapshot_cache import SnapshotCache
from tests.integration.conftest import running
from tests.service.conftest import wait_for


def families(text: str) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            key = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out.setdefault(s.name, {})[key] = s.value
    return out


async def test_one_metrics_route_shows_instrumentator_and_sse_metrics(provider, monkeypatch):
    """The issue's case: the app's /metrics (instrumentator, default registry) on a real
    uvicorn also carries sse_active_connections, from the cached snapshot."""
    monkeypatch.setenv("ADMIN_KEY", "adm")
    monkeypatch.setenv("PRICE_PERIOD", "0.1")
    from examples.fastapi_router_app import create_app

    app = create_app(registry=REGISTRY, provider=provider)
    async with running(app) as http:
        async with http.stream("GET", "/prices") as resp:
            assert resp.status_code == 200

            async def seen() -> bool:
                got = families((await http.get("/metrics")).text)
                return got.get("sse_active_connections", {}).get("") == 1

            await wait_for(seen, 15, "sse_active_connections 1 on the app's /metrics")
        text = (await http.get("/metrics")).text
        got = families(text)
        assert "http_requests_total" in got or "http_request_duration_seconds_count" in got  # instrumentator's
        assert "sse_health_status" in got and "sse_store_up" in got
        age = got["sse_metrics_snapshot_age_seconds"][""]
        assert 0 <= age < 30
        assert got["sse_admission_admitted_total"][""] >= 1
        assert text.count("# TYPE sse_active_connections ") == 1
    # the app's lifespan unregistered the collector from the default registry on shutdown
    # (instrumentator's own metrics stay, as in any app; it reuses them if instrumented again)
    assert b"sse_active_connections" not in generate_latest(REGISTRY)


class _SlowManager:
    """A manager whose snapshot hangs (a stuck Redis), to show a scrape does not wait."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.release = asyncio.Event()
        self.calls = 0

    async def metrics_inputs(self):
        self.calls += 1
        if self.calls > 1:
            await self.release.wait()
        return await self.inner.metrics_inputs()


async def test_scrape_reads_the_cache_and_reports_its_age(provider):
    manager = await provider.get_connection_manager()
    slow = _SlowManager(manager)
    registry = CollectorRegistry()
    collector = register_collector(slow, registry=registry, interval=0.05, timeout=30)
    # before the first refresh: the age is unknown (NaN) and no sse gauge pretends to be 0
    first = families(generate_latest(registry).decode())
    assert math.isnan(first["sse_metrics_snapshot_age_seconds"][""])
    assert "sse_active_connections" not in first
    await manager.register()
    await collector.start()
    try:
        await wait_for(lambda: _async(collector.cache.latest is not None), 5, "first snapshot")
        await wait_for(lambda: _async(slow.calls >= 2), 5, "a second refresh, now stuck")
        # the refresher is stuck on the "store": a scrape still answers at once, from the cache
        got = families(generate_latest(registry).decode())
        assert got["sse_active_connections"][""] == 1
        age1 = got["sse_metrics_snapshot_age_seconds"][""]

        async def older() -> bool:
            a = families(generate_latest(registry).decode())["sse_metrics_snapshot_age_seconds"][""]
            return a > age1 + 0.1

        await wait_for(older, 5, "the age grows while the refresh is stuck")
    finally:
        slow.release.set()
        await collector.stop()
    names = {f.name for f in text_string_to_metric_families(generate_latest(registry).decode())}
    for name in COLLECTOR_METRIC_NAMES:
        assert name.removesuffix("_total") in names, name


async def test_failed_refresh_is_counted_and_keeps_the_old_snapshot(provider):
    manager = await provider.get_connection_manager()

    class Flaky:
        n = 0

        async def metrics_inputs(self):
            self.n += 1
            if self.n > 1:
                raise ConnectionError("store gone")
            return await manager.metrics_inputs()

    cache = SnapshotCache(Flaky(), interval=1)
    collector = CachedCollector(cache)
    assert await cache.refresh() is not None
    assert await cache.refresh() is None
    got = families("".join(generate_latest(_registry(collector)).decode()))
    assert got["sse_metrics_snapshot_refresh_errors_total"][""] == 1
    assert got["sse_active_connections"][""] == 0  # the old snapshot, with its age


def _registry(collector: CachedCollector) -> CollectorRegistry:
    r = CollectorRegistry()
    r.register(collector)
    return r


async def _async(value: bool) -> bool:
    return value


def test_interval_must_be_positive():
    with pytest.raises(ValueError):
        SnapshotCache(object(), interval=0)
