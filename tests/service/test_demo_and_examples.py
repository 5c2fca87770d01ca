"""The demo service's in-process interface (what the dashboard codes against) and the examples."""

from __future__ import annotations

import importlib

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
