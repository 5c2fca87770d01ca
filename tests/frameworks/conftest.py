"""Three real frameworks behind core.middleware, each in a uvicorn process of its own
(tests/integration/service_process.py), sharing the suite's real redis-server."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.service_process import FAST_ENV, ServiceProcess
from tests.service.conftest import SSEClient

FRAMEWORKS = ("django", "litestar", "starlette")
TOKEN = "frameworks-token"
STALE = 2.0
SETTINGS = {**FAST_ENV, "SSE_STALE_CONNECTION_THRESHOLD_SECONDS": str(STALE), "SSE_PERIODIC_CLEANUP_ENABLED": "false",
            "SSE_MONITORING_TOKEN": TOKEN, "SSE_MONITORING_CONNECTIONS_PUBLIC": "true", "SSE_LOG_LEVEL": "WARNING"}


class FrameworkService:
    """A framework's app under uvicorn, with an HTTP client for its monitoring endpoints."""

    def __init__(self, framework: str, proc: ServiceProcess) -> None:
        self.framework = framework
        self.proc = proc
        self.host, self.port = "127.0.0.1", proc.port
        self.http = httpx.AsyncClient(base_url=proc.base_url, timeout=5)
        self.auth = {"Authorization": f"Bearer {TOKEN}"}

    async def counts(self) -> tuple[int | None, int | None, int, int]:
        """(registry's active connections, the Redis counter, listing total, this process's streams)."""
        snap = (await self.http.get("/monitoring")).json()
        listing = (await self.http.get("/monitoring/connections", params={"limit": 500})).json()
        ready = (await self.http.get("/health/ready")).json()
        cs = snap["connection_stats"]
        return cs["active_connections"], cs["redis_connection_counters"], listing["total"], ready["local_connections"]

    async def exactly(self, n: int) -> bool:
        return await self.counts() == (n, n, n, n)

    async def connections(self, **params: Any) -> dict[str, Any]:
        r = await self.http.get("/monitoring/connections", params={"limit": 500, **params})
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    async def metric(self, name: str) -> float:
        text = (await self.http.get("/metrics")).text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0

    def client(self, path: str = "/events") -> SSEClient:
        return SSEClient(self.host, self.port, path)


@pytest.fixture(params=FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def service_env(redis_url: str, namespace: str) -> dict[str, str]:
    return {**SETTINGS, "SSE_REDIS_URL": redis_url, "SSE_REDIS_NAMESPACE": namespace}


@pytest.fixture
async def service(framework: str, service_env: dict[str, str], tmp_path: Path) -> Any:
    proc = ServiceProcess(f"tests.frameworks.app_{framework}:app", tmp_path / f"{framework}.log", env=service_env,
                          extra_args=["--log-level", "warning"])
    svc = FrameworkService(framework, proc)
    try:
        proc.wait_http("/health/ready", timeout=60)
        yield svc
    finally:
        await svc.http.aclose()
        proc.stop()


def vanish(client: SSEClient) -> None:
    """The client's machine drops off: the socket is reset (RST), no goodbye."""
    writer = client._writer
    assert writer is not None
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def sockets_of(clients: list[SSEClient]) -> Iterator[Any]:
    for c in clients:
        if c._writer is not None:
            yield c._writer.get_extra_info("socket")
