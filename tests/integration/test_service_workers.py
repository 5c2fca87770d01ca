"""The user's service (examples/service_app.py) under ``uvicorn --workers 2`` with Redis and
``PROMETHEUS_MULTIPROC_DIR``: every scrape, whichever worker answers, has the fleet gauge
at the true count once and the per-process gauges summing to it; also under
prometheus-fastapi-instrumentator's and starlette-exporter's own multiprocess setups."""

from __future__ import annotations

import asyncio
import os
import signal

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.service_process import FAST_ENV, ServiceProcess
from tests.service.conftest import close_clients, open_clients, wait_for

KEY = "adm-7f3c"
TARGETS = {
    "prometheus_client": ("examples.service_app:app", {}),
    "instrumentator": ("tests.integration.exposition_app:app", {"EXPOSITION": "instrumentator"}),
    "starlette_exporter": ("tests.integration.exposition_app:app", {"EXPOSITION": "starlette_exporter"}),
}


def scrape(text: str) -> tuple[list[float], dict[str, float], dict[str, int]]:
    """(values of sse_active_connections, sse_pod_connections by pid, # TYPE lines per sse name)."""
    fleet: list[float] = []
    pods: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == "sse_active_connections":
                fleet.append(s.value)
            elif s.name == "sse_pod_connections":
                pods[s.labels.get("pid", "")] = s.value
    types = {line.split()[2]: text.count(line) for line in text.splitlines() if line.startswith("# TYPE sse_")}
    return fleet, pods, types


@pytest.fixture
def service(tmp_path, redis_url, namespace, request):
    target, extra = TARGETS[request.param]
    mpdir = tmp_path / "prom"
    mpdir.mkdir()
    svc = ServiceProcess(target, tmp_path / "service.log", workers=2, env={
        **FAST_ENV, **extra, "SSE_REDIS_URL": redis_url, "SSE_REDIS_NAMESPACE": namespace, "ADMIN_KEY": KEY,
        "SSE_MONITORING_TOKEN": "a-different-secret", "PROMETHEUS_MULTIPROC_DIR": str(mpdir)})
    svc.mpdir = mpdir
    try:
        yield svc
    finally:
        svc.stop()


async def _workers(http: httpx.AsyncClient) -> dict[int, int]:
    r = await http.get("/ops/monitoring")
    assert r.status_code == 200, r.text
    return {w["pid"]: w["connections"] for w in r.json()["workers"] or [] if w["alive"]}


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("service", list(TARGETS), indirect=True)
async def test_two_workers_every_scrape_counts_every_stream(service):
    await asyncio.to_thread(service.wait_http, "/ops/health/ready")
    async with httpx.AsyncClient(base_url=service.base_url, headers={"X-Admin-Key": KEY}, timeout=10) as http:
        await wait_for(lambda: _has(http, 2), 30, "both workers registered")
        clients = await open_clients("127.0.0.1", service.port, 30, path="/ticks")
        # both workers must hold streams, or a scrape answered by one would prove nothing
        while min((await _settled(http, len(clients))).values(), default=0) == 0:
            assert len(clients) < 150, "the kernel gave every stream to one worker"
            clients += await open_clients("127.0.0.1", service.port, 10, path="/ticks")
        pids = set(await _workers(http))
        try:
            n = len(clients)

            async def consistent(expected: int) -> str | bool:
                fleet, pods, types = scrape((await http.get("/metrics")).text)
                ok = fleet == [expected] and sum(pods.values()) == expected and {int(p) for p in pods} == pids
                return ok or f"fleet {fleet}, per process {pods}"

            await wait_for(lambda: _true(consistent(n)), 30, f"the metrics to show {n} streams")
            for i in range(10):  # ten scrapes in a row, whichever worker answers each
                text = (await http.get("/metrics")).text
                fleet, pods, types = scrape(text)
                assert fleet == [n], (i, fleet)
                assert sum(pods.values()) == n and len(pods) == 2 and all(v > 0 for v in pods.values()), (i, pods)
                assert all(count == 1 for count in types.values()), types  # each family once
                opened = [s.value for f in text_string_to_metric_families(text) for s in f.samples
                          if s.name == "sse_pod_connections_opened_total"]
                assert opened and opened[0] >= n, opened
            await close_clients(clients[:10])
            await wait_for(lambda: _true(consistent(n - 10)), 30, f"the metrics to show {n - 10} streams")
        finally:
            await close_clients(clients)


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("service", ["prometheus_client"], indirect=True)
async def test_a_killed_workers_series_leave_the_scrape(service):
    """uvicorn's supervisor has no hook for prometheus_client's mark_process_dead: the
    survivors call it for processes that no longer exist, so a kill -9'd worker's gauges do
    not stay in the sum; its counters stay (counters never go down)."""
    await asyncio.to_thread(service.wait_http, "/ops/health/ready")
    async with httpx.AsyncClient(base_url=service.base_url, headers={"X-Admin-Key": KEY}, timeout=10) as http:
        await wait_for(lambda: _has(http, 2), 30, "both workers registered")
        victim = min(await _workers(http))

        async def gauges() -> dict[str, float]:
            return scrape((await http.get("/metrics")).text)[1]

        await wait_for(lambda: _contains(gauges(), str(victim)), 30, "the victim's series")
        os.kill(victim, signal.SIGKILL)
        await wait_for(lambda: _lacks(gauges(), str(victim)), 30, "the killed worker's series gone")


async def _has(http: httpx.AsyncClient, n: int) -> bool:
    return len(await _workers(http)) == n


async def _settled(http: httpx.AsyncClient, n: int) -> dict[int, int]:
    async def counted() -> dict[int, int] | None:
        w = await _workers(http)
        return w if sum(w.values()) == n else None

    return await wait_for(counted, 30, f"{n} streams registered")


async def _true(x):
    return (await x) is True


async def _contains(x, key: str) -> bool:
    return key in await x


async def _lacks(x, key: str) -> bool:
    return key not in await x
