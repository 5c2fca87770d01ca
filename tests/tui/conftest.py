"""Fixtures for the dashboard tests: a fixed clock, condition waits, a loopback server."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tui_helpers import FixedClock

from core.models import ConnectionRecord
from sse_tui.model import ConnectionQuery, Thresholds
from sse_tui.samples import T0, sample_connections, sample_stats
from sse_tui.sources import local_page
from tests.service.conftest import workers  # noqa: F401 - real worker processes for the e2e tests


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test comparing a screen with a recorded SVG is marked ``svg_snapshot``: the SVGs are
    the test extra's textual pin's drawing; .ci/deps_matrix.sh runs the rest on other versions."""
    for item in items:
        if "snap_compare" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.svg_snapshot)


@pytest.fixture(autouse=True)
def private_config(tmp_path_factory, monkeypatch) -> None:
    """No test reads or writes the user's real settings (the theme is kept there)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))
    monkeypatch.delenv("SSE_MONITORING_TOKEN", raising=False)
    monkeypatch.delenv("SSE_DASH_TOKEN", raising=False)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@dataclass
class FakeService:
    """What the loopback server answers; tests mutate it."""

    payload: Any = field(default_factory=lambda: sample_stats("healthy").model_dump(mode="json"))
    status: int = 200
    token: str | None = "s3cret"
    cleanup_status: int = 200
    cleanup_body: Any = field(default_factory=lambda: {"cleaned": 3, "failed": 0, "duration_ms": 4.2, "batches": 1})
    cleanup_calls: list[Any] = field(default_factory=list)
    auth_seen: list[str | None] = field(default_factory=list)
    connections_calls: int = 0
    records: list[ConnectionRecord] = field(default_factory=lambda: list(sample_connections(5)))
    now: float = T0
    base_url: str = ""

    @property
    def monitoring_url(self) -> str:
        return f"{self.base_url}/monitoring"


def _starlette_app(svc: FakeService) -> Starlette:
    async def monitoring(request: Request) -> Response:
        svc.auth_seen.append(request.headers.get("authorization"))
        return JSONResponse(svc.payload, status_code=svc.status)

    async def connections(request: Request) -> Response:
        svc.connections_calls += 1
        query = ConnectionQuery(state=request.query_params.get("state", "all"), q=request.query_params.get("q", ""),
                                sort=request.query_params.get("sort", "age"), order=request.query_params.get("order", "desc"),
                                offset=int(request.query_params.get("offset", 0)), limit=int(request.query_params.get("limit", 50)))
        page = local_page(svc.records, query, svc.now, Thresholds())
        return JSONResponse(page.model_dump(mode="json"))

    async def connection(request: Request) -> Response:
        """``GET /monitoring/connections/{id}`` in core.asgi's shape: the record, the server's now."""
        rec = next((r for r in svc.records if r.connection_id == request.path_params["connection_id"]), None)
        if rec is None:
            return JSONResponse({"error": "no such connection"}, status_code=404)
        return JSONResponse({"connection": rec.model_dump(mode="json"), "now": svc.now, "stale_threshold_seconds": 300.0})

    async def cleanup(request: Request) -> Response:
        auth = request.headers.get("authorization")
        if svc.token is None:
            return JSONResponse({"error": "disabled"}, status_code=404)
        if auth is None:
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        if auth != f"Bearer {svc.token}":
            return JSONResponse({"error": "forbidden"}, status_code=403)
        body = await request.json()
        svc.cleanup_calls.append(body)
        if not isinstance(body.get("batch_size"), int) or body["batch_size"] < 1:
            return JSONResponse({"error": "batch_size must be a positive integer"}, status_code=400)
        return JSONResponse(svc.cleanup_body, status_code=svc.cleanup_status)

    return Starlette(
        routes=[
            Route("/monitoring", monitoring),
            Route("/monitoring/connections", connections),
            Route("/monitoring/connections/{connection_id}", connection),
            Route("/monitoring/cleanup", cleanup, methods=["POST"]),
        ]
    )


@pytest.fixture
def fake_service() -> Iterator[FakeService]:
    """A real uvicorn server on loopback (in a thread), serving ``FakeService``."""
    svc = FakeService()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    svc.base_url = f"http://127.0.0.1:{port}"
    config = uvicorn.Config(_starlette_app(svc), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield svc
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
