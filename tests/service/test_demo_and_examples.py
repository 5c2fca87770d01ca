"""The demo service's in-process interface (what the dashboard codes against) and the examples."""

from __future__ import annotations

import importlib
from typing import Any

import httpx
import pytest

from core.demo import DemoService, serve_app, stop_server
from core.provider import SSEProvider

from .conftest import close_clients, fast_config, open_clients, wait_for


async def test_demo_service_interface_and_audience():
    svc = DemoService(host="127.0.0.1", port=0, clients=12, config=fast_config(MONITORING_TOKEN="tok-demo"))
    await svc.start()
    try:
        assert svc.port > 0 and svc.base_url == f"http://127.0.0.1:{svc.port}"
        assert svc.monitoring_url == svc.base_url + "/monitoring" and svc.token == "tok-demo"
        async with httpx.AsyncClient(timeout=5) as http:
            async def audience_connected():
                snap = (await http.get(svc.monitoring_url)).json()
                return snap["connection_stats"]["active_connections"] >= 5
            await wait_for(audience_connected, 15, "the simulated audience")
            page = await http.get(svc.base_url + "/")
            assert page.status_code == 200 and "new EventSource(\"/events" in page.text
            r = await http.post(svc.monitoring_url + "/cleanup", headers={"Authorization": "Bearer tok-demo"})
            assert r.status_code == 200
        assert svc.manager.local_connection_count > 0
    finally:
        await svc.stop()
    assert svc.manager.local_connection_count == 0
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as http:
            await http.get(svc.monitoring_url)


async def test_demo_service_generates_a_token_when_none_is_given():
    svc = DemoService(clients=0)
    assert len(svc.token) >= 20 and svc.config.monitoring_token == svc.token


@pytest.mark.parametrize("module, path", [("examples.fastapi_app", "/prices"), ("examples.starlette_app", "/news")])
async def test_examples_track_their_streams(module, path, monkeypatch):
    monkeypatch.setenv("SSE_PING_INTERVAL_SECONDS", "0.5")
    from core import config as config_module
    config_module.set_config(None)
    try:
        app = importlib.import_module(module).app
        server, task, port = await serve_app(app, "127.0.0.1", 0)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
                clients = await open_clients("127.0.0.1", port, 3, path)

                async def three():
                    return (await http.get("/monitoring")).json()["connection_stats"]["active_connections"] == 3
                await wait_for(three, 10, "3 tracked streams")
                await close_clients(clients)

                async def zero():
                    return (await http.get("/monitoring")).json()["connection_stats"]["active_connections"] == 0
                await wait_for(zero, 10, "0 after the clients left")
        finally:
            await stop_server(server, task)
    finally:
        await SSEProvider.shutdown()
        config_module.set_config(None)


def test_demo_socket_is_tcp_nodelay():
    """Regression: a socket created with proto 0 made asyncio skip TCP_NODELAY on accepted
    connections, and every second response on a keep-alive connection waited ~40 ms."""
    import socket

    from core.demo import bind_socket
    sock = bind_socket("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        sock.close()


async def test_fleet_demo_shows_its_workers_and_not_its_audience(redis_url, namespace):
    """``sse-demo --workers 3``: three workers, whatever the audience does. Its vanishing clients
    are registered by the workers that serve them (GET /demo/vanish), so the audience process
    holds no manager and no heartbeat (it used to show as a fourth worker)."""
    import os
    import signal
    import subprocess
    import sys

    from tests.redis_server import free_port

    from .conftest import ROOT

    port = free_port()
    env = {**os.environ, "SSE_REDIS_NAMESPACE": namespace, "PYTHONPATH": str(ROOT),
           "SSE_STALE_CONNECTION_THRESHOLD_SECONDS": "4", "SSE_CLEANUP_INTERVAL_SECONDS": "2",
           "SSE_PING_INTERVAL_SECONDS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "core.demo", "--redis-url", redis_url, "--workers", "3",
                             "--clients", "20", "--port", str(port), "--token", "tok-fleet"],
                            env=env, cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}/monitoring"
    auth = {"Authorization": "Bearer tok-fleet"}
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            async def vanished_registered() -> Any:
                page = (await http.get(base + "/connections", params={"q": "sse-demo/vanished"}, headers=auth)).json()
                return page if page["total"] >= 2 else None
            page = await wait_for(vanished_registered, 60, "vanishing clients registered by the workers", 0.5)
            stats = (await http.get(base)).json()
            workers = {w["worker_id"] for w in stats["workers"]}
            assert len(workers) == 3, stats["workers"]
            assert {c["worker_id"] for c in page["connections"]} <= workers  # held by real workers
            assert all(c["user_agent"] == "sse-demo/vanished" for c in page["connections"])

            async def a_vanished_client_cleaned() -> bool:
                s = (await http.get(base)).json()
                assert len(s["workers"]) == 3, s["workers"]  # never a fourth, at any poll
                return (s["cleanup_stats"]["total_connections_cleaned"] or 0) >= 1
            await wait_for(a_vanished_client_cleaned, 60, "cleanup to remove a vanished client", 0.5)
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C does: the supervisor, its workers and the audience
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
    assert proc.returncode == 0
