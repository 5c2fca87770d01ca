"""Admission control with real clients over the caps, on loopback (and a real Redis fleet)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest

from core.admission import COUNTERS, AdmissionMiddleware, admission_stats
from core.config import SSEConfig, load_config
from core.demo import build_demo_app, serve_app, stop_server
from core.manager import ConnectionManager
from core.provider import make_store
from core.snapshot_cache import SnapshotCache
from tests.service.conftest import wait_for

FAST = dict(TOUCH_FLUSH_INTERVAL_SECONDS=0.2, PING_INTERVAL_SECONDS=0.5, WORKER_HEARTBEAT_TTL_SECONDS=3.0,
            LOG_LEVEL="WARNING", PERIODIC_CLEANUP_ENABLED=False)


@contextlib.asynccontextmanager
async def admission_server(cfg: SSEConfig, census: SnapshotCache | None = None) -> AsyncIterator[tuple[str, ConnectionManager, AdmissionMiddleware]]:
    manager = ConnectionManager(make_store(cfg), cfg)
    app = build_demo_app(manager)  # /events (tracked), /monitoring ... ; its lifespan starts the manager
    holder: list[AdmissionMiddleware] = []

    class Captured(AdmissionMiddleware):
        def __init__(self, *a, **kw) -> None:
            super().__init__(*a, **kw)
            holder.append(self)

    app.add_middleware(Captured, source=manager, paths=["/events"], census=census)
    server, task, port = await serve_app(app, "127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            await http.get("/health/live")  # builds the middleware stack
        yield f"http://127.0.0.1:{port}", manager, holder[0]
    finally:
        if holder:
            await holder[0].aclose()
        await stop_server(server, task)


@contextlib.asynccontextmanager
async def stream(client: httpx.AsyncClient, url: str) -> AsyncIterator[httpx.Response]:
    async with client.stream("GET", url) as resp:
        yield resp


async def test_per_client_cap_answers_429_with_retry_after():
    cfg = load_config(**FAST, ADMISSION_MAX_PER_CLIENT=2, ADMISSION_RETRY_AFTER_SECONDS=7)
    before = (COUNTERS.admitted, COUNTERS.rejected_per_client)
    async with admission_server(cfg) as (base, manager, mw):
        async with contextlib.AsyncExitStack() as stack:
            a = await stack.enter_async_context(httpx.AsyncClient(base_url=base, timeout=10))
            held = [await stack.enter_async_context(stream(a, "/events")) for _ in range(2)]
            assert [r.status_code for r in held] == [200, 200]
            over = await a.get("/events")
            assert over.status_code == 429
            assert over.headers["retry-after"] == "7"
            assert "limit 2" in over.json()["error"]
            mon = await a.get("/monitoring")
            assert mon.status_code == 200  # only the SSE path is capped
            # the middleware handed the process's counts to the manager it fronts
            shown = mon.json()["admission"]
            assert shown["enabled"] is True and shown["admitted"] >= 2 and shown["rejected_per_client"] >= 1
            # another client address (127.0.0.2 on loopback) has its own allowance
            other = await stack.enter_async_context(httpx.AsyncClient(
                base_url=base, timeout=10, transport=httpx.AsyncHTTPTransport(local_address="127.0.0.2")))
            async with stream(other, "/events") as r:
                assert r.status_code == 200
                assert mw.per_client == {"127.0.0.1": 2, "127.0.0.2": 1}
            assert manager.local_connection_count >= 2
        # the held streams closed: the first client may connect again
        await wait_for(lambda: _async(mw.per_client == {}), 10, "admissions released")
        async with httpx.AsyncClient(base_url=base, timeout=10) as a2, stream(a2, "/events") as again:
            assert again.status_code == 200
    assert COUNTERS.admitted - before[0] == 4
    assert COUNTERS.rejected_per_client - before[1] == 1
    stats = admission_stats()
    assert {"admitted", "rejected_per_client", "rejected_total", "max_per_client", "max_total"} <= set(stats)


async def test_total_cap_counts_the_fleet_from_a_cached_census(redis_url, namespace):
    """Two workers on one Redis, total cap 3: worker B refuses with 503 once its census
    sees worker A's two streams; the decision itself never calls Redis."""
    cfg = load_config(**FAST, REDIS_URL=redis_url, REDIS_NAMESPACE=namespace, ADMISSION_MAX_TOTAL=3,
                      ADMISSION_CENSUS_INTERVAL_SECONDS=0.2, ADMISSION_RETRY_AFTER_SECONDS=2)
    before = COUNTERS.rejected_total
    async with admission_server(cfg) as (base_a, _, _), admission_server(cfg) as (base_b, manager_b, mw_b):
        async with contextlib.AsyncExitStack() as stack:
            a = await stack.enter_async_context(httpx.AsyncClient(base_url=base_a, timeout=10))
            b = await stack.enter_async_context(httpx.AsyncClient(base_url=base_b, timeout=10))
            for _ in range(2):
                assert (await stack.enter_async_context(stream(a, "/events"))).status_code == 200
            assert (await stack.enter_async_context(stream(b, "/events"))).status_code == 200

            async def b_sees_the_fleet() -> bool:
                await b.get("/health/live")  # any request; the census refreshes in the background
                snap = mw_b.census.latest if mw_b.census else None
                return snap is not None and mw_b.fleet_connections() == 3

            await wait_for(b_sees_the_fleet, 15, "worker B's census to count worker A's streams")
            over = await b.get("/events")
            assert over.status_code == 503 and over.headers["retry-after"] == "2"
            # worker A refuses too (its census sees B's stream) once its census caught up
            over_a = await wait_for(lambda: _status(a, "/events", 503), 15, "worker A to refuse")
            assert over_a
    assert COUNTERS.rejected_total - before >= 2


async def test_no_caps_configured_admits_everything():
    cfg = load_config(**FAST)
    async with admission_server(cfg) as (base, _, mw):
        async with httpx.AsyncClient(base_url=base, timeout=10) as a, contextlib.AsyncExitStack() as stack:
            for _ in range(5):
                assert (await stack.enter_async_context(stream(a, "/events"))).status_code == 200
            assert mw.census is None  # no total cap: no census at all


async def _status(client: httpx.AsyncClient, path: str, status: int) -> bool:
    async with client.stream("GET", path) as r:
        return r.status_code == status


async def _async(value: bool) -> bool:
    return value


@pytest.mark.parametrize("field", ["ADMISSION_MAX_PER_CLIENT", "ADMISSION_MAX_TOTAL", "ADMISSION_RETRY_AFTER_SECONDS"])
def test_admission_config_rejects_non_positive(field):
    from core.config import ConfigError

    with pytest.raises(ConfigError, match=field):
        load_config(**{field: 0})
