"""Router, mount and lifespan composition, each on a real uvicorn server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import Depends, FastAPI, Header, HTTPException, Request
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from core.config import load_config
from core.integration import compose_lifespans, monitoring_app, monitoring_router, sse_lifespan_for
from core.provider import SSEProvider
from core.streaming import tracked_event_source
from tests.integration.conftest import running
from tests.service.conftest import wait_for


async def _forever() -> AsyncIterator[dict[str, str]]:
    n = 0
    while True:
        n += 1
        yield {"data": str(n)}
        await asyncio.sleep(0.2)


async def _active(http: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None) -> int:
    r = await http.get(path, headers=headers or {})
    assert r.status_code == 200, r.text
    return int(r.json()["connection_stats"]["active_connections"])


def _auth(x_admin_key: str | None = Header(default=None)) -> None:
    if x_admin_key != "k":
        raise HTTPException(status_code=401, detail="admin key required")


async def test_fastapi_router_with_prefix_auth_dependency_and_composed_lifespan(provider):
    events: list[str] = []

    @asynccontextmanager
    async def own(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        events.append(f"app start, manager set: {getattr(app.state, 'sse_manager', None) is not None}")
        yield {"db": "connected"}
        events.append(f"app stop, manager running: {app.state.sse_manager.cleanup_task_running}")

    app = FastAPI(lifespan=sse_lifespan_for(provider, app_lifespan=own))
    app.include_router(monitoring_router(provider, prefix="/ops/", tags=["ops"], dependencies=[Depends(_auth)]))

    @app.get("/events")
    async def stream(request: Request) -> Any:
        assert request.state.db == "connected"  # the app's own lifespan state reaches requests
        return tracked_event_source(request, _forever(), manager=provider)

    async with running(app) as http:
        assert (await http.get("/ops/monitoring")).status_code == 401  # the user's dependency
        assert (await http.get("/ops/metrics")).status_code == 401
        assert (await http.post("/ops/monitoring/cleanup")).status_code == 401
        for probe in ("/ops/health/live", "/ops/health/ready", "/ops/health"):
            assert (await http.get(probe)).status_code == 200, probe  # probes never carry the auth
        assert await _active(http, "/ops/monitoring", {"x-admin-key": "k"}) == 0
        async with http.stream("GET", "/events") as resp:
            assert resp.status_code == 200
            await wait_for(lambda: _is(http, "/ops/monitoring", {"x-admin-key": "k"}, 1), 10, "one active stream")
        await wait_for(lambda: _is(http, "/ops/monitoring", {"x-admin-key": "k"}, 0), 10, "stream gone")
        schema = (await http.get("/openapi.json")).json()
        assert "/ops/monitoring" in schema["paths"] and schema["paths"]["/ops/monitoring"]["get"]["tags"] == ["ops"]
    assert events == ["app start, manager set: True", "app stop, manager running: True"]
    assert SSEProvider._manager is None  # the composed lifespan stopped the process's manager


async def _is(http: httpx.AsyncClient, path: str, headers: dict[str, str], n: int) -> bool:
    return await _active(http, path, headers) == n


async def test_router_defaults_to_the_bearer_token(monkeypatch):
    monkeypatch.delenv("SSE_REDIS_URL", raising=False)
    await SSEProvider.shutdown()
    cfg = load_config(MONITORING_TOKEN="s3cret-token", MONITORING_READ_REQUIRES_TOKEN=True, LOG_LEVEL="WARNING")
    provider = SSEProvider(cfg)
    app = FastAPI(lifespan=sse_lifespan_for(provider))
    app.include_router(monitoring_router(provider, prefix="/sse"))
    try:
        async with running(app) as http:
            r = await http.get("/sse/monitoring")
            assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
            assert (await http.get("/sse/monitoring", headers={"Authorization": "Bearer nope"})).status_code == 403
            ok = await http.get("/sse/monitoring", headers={"Authorization": "Bearer s3cret-token"})
            assert ok.status_code == 200 and "s3cret-token" not in ok.text
            assert (await http.get("/sse/metrics", headers={"Authorization": "Bearer s3cret-token"})).status_code == 200
            cleaned = await http.post("/sse/monitoring/cleanup", headers={"Authorization": "Bearer s3cret-token"})
            assert cleaned.status_code == 200 and cleaned.json()["error"] is None
            assert (await http.get("/sse/health/live")).status_code == 200
            schema = (await http.get("/openapi.json")).json()
            assert any(s.get("scheme") == "bearer" for s in schema["components"]["securitySchemes"].values())
    finally:
        await SSEProvider.shutdown()


async def test_router_without_metrics_leaves_the_apps_own(provider):
    app = FastAPI(lifespan=sse_lifespan_for(provider))
    app.include_router(monitoring_router(provider, include_metrics=False))

    @app.get("/metrics")
    async def own_metrics() -> dict[str, str]:
        return {"owner": "app"}

    async with running(app) as http:
        assert (await http.get("/metrics")).json() == {"owner": "app"}
        assert (await http.get("/monitoring")).status_code == 200


async def test_mounted_app_works_without_its_own_lifespan(provider):
    """A mounted app's lifespan never runs: its routes resolve the manager from the provider."""
    async def home(request):
        return JSONResponse({"ok": True})

    async def stream(request):
        return tracked_event_source(request, _forever(), manager=provider)

    app = Starlette(routes=[Route("/", home), Route("/events", stream), Mount("/ops", app=monitoring_app(provider))])
    async with running(app) as http:  # no SSE lifespan anywhere
        assert await _active(http, "/ops/monitoring", {}) == 0
        assert SSEProvider._manager is not None and SSEProvider._manager.cleanup_task_running
        async with http.stream("GET", "/events") as resp:
            assert resp.status_code == 200
            await wait_for(lambda: _is(http, "/ops/monitoring", {}, 1), 10, "one active stream")
        r = await http.get("/ops/metrics")
        assert r.status_code == 200 and "sse_active_connections" in r.text
        assert (await http.get("/ops/health/ready")).json()["status"] == "ready"


async def test_mount_example_with_composed_lifespan(provider):
    from examples.starlette_mount_app import create_app

    app = create_app(provider)
    async with running(app) as http:
        assert (await http.get("/")).json() == {"ready": True}  # the app's own lifespan ran
        async with http.stream("GET", "/events") as resp:
            assert resp.status_code == 200
            await wait_for(lambda: _is(http, "/ops/monitoring", {}, 1), 10, "one active stream")
        assert (await http.get("/ops/health/live")).json() == {"status": "alive"}
    assert SSEProvider._manager is None


async def test_compose_lifespans_orders_and_merges_state():
    order: list[str] = []

    def part(name: str, state: dict[str, Any] | None):
        @asynccontextmanager
        async def lifespan(app: Any) -> AsyncIterator[dict[str, Any] | None]:
            order.append(f"+{name}")
            yield state
            order.append(f"-{name}")
        return lifespan

    combined = compose_lifespans(part("a", {"x": 1}), part("b", None), part("c", {"x": 2, "y": 3}))
    async with combined(object()) as state:
        assert state == {"x": 2, "y": 3}
    assert order == ["+a", "+b", "+c", "-c", "-b", "-a"]


async def test_fastapi_example_runs(provider, monkeypatch):
    monkeypatch.setenv("ADMIN_KEY", "adm")
    monkeypatch.setenv("PRICE_PERIOD", "0.1")
    from examples.fastapi_router_app import create_app

    registry = CollectorRegistry()
    app = create_app(registry=registry, provider=provider, instrument=False)
    async with running(app) as http:
        assert (await http.get("/ops/monitoring")).status_code == 401
        assert (await http.get("/ops/monitoring", headers={"x-admin-key": "adm"})).status_code == 200
        async with http.stream("GET", "/prices") as resp:
            assert resp.status_code == 200
            async for line in resp.aiter_lines():
                if line.startswith("data:"):
                    assert "ACME" in line
                    break
