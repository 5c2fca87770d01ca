"""The monitoring endpoints over HTTP: cleanup auth and input, paging, read auth, no secrets."""

from __future__ import annotations

import asyncio
import os

import pytest

from core.config import load_config
from core.models import MonitoringStats
from tests.redis_server import RedisServer

from .conftest import FAST, close_clients, fast_config, open_clients, serve, wait_for

TOKEN = "s3cret-token-value-for-tests"


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_cleanup_is_disabled_without_a_token():
    async with serve(fast_config()) as s:
        r = await s.http.post("/monitoring/cleanup", headers=auth())
        assert r.status_code == 404 and "disabled" in r.json()["error"]


@pytest.mark.parametrize("headers, status", [
    ({}, 401),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, 401),
    ({"Authorization": "Bearer"}, 401),
    ({"Authorization": "Bearer wrong-token"}, 403),
    ({"Authorization": f"Bearer {TOKEN}x"}, 403),
])
async def test_cleanup_auth_refusals(headers, status):
    async with serve(fast_config(MONITORING_TOKEN=TOKEN)) as s:
        r = await s.http.post("/monitoring/cleanup", headers=headers, json={"batch_size": 5})
        assert r.status_code == status, r.text
        if status == 401:
            assert r.headers["www-authenticate"].startswith("Bearer")
        assert s.manager.cleanup_in_progress is False


@pytest.mark.parametrize("body, reason", [
    (b"not json", "JSON"),
    (b"[1, 2]", "object"),
    (b'{"batch_size": "10"}', "integer"),
    (b'{"batch_size": 1.5}', "integer"),
    (b'{"batch_size": true}', "integer"),
    (b'{"batch_size": 0}', "1..10000"),
    (b'{"batch_size": -3}', "1..10000"),
    (b'{"batch_size": 10001}', "1..10000"),
    (b'{"batch_size": 5, "dry_run": true}', "unknown field"),
])
async def test_cleanup_bad_input_is_400_with_a_reason(body, reason):
    async with serve(fast_config(MONITORING_TOKEN=TOKEN)) as s:
        r = await s.http.post("/monitoring/cleanup", headers={**auth(), "Content-Type": "application/json"}, content=body)
        assert r.status_code == 400, r.text
        assert reason in r.json()["error"]


async def test_cleanup_200_removes_stale_connections_and_reports_what_it_did():
    cfg = fast_config(MONITORING_TOKEN=TOKEN, STALE_CONNECTION_THRESHOLD_SECONDS=0.2, PERIODIC_CLEANUP_ENABLED=False)
    async with serve(cfg) as s:
        for _i in range(7):  # vanished clients: registered, never active again
            await s.manager.register(channel="ghost")
        await asyncio.sleep(0.3)
        r = await s.http.post("/monitoring/cleanup", headers=auth(), json={"batch_size": 3})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["cleaned"] == 7 and body["failed"] == 0 and body["batches"] == 3 and body["duration_ms"] >= 0
        # body optional: the configured batch size
        r = await s.http.post("/monitoring/cleanup", headers=auth())
        assert r.status_code == 200 and r.json()["cleaned"] == 0
        snap = await s.monitoring()
        assert snap["cleanup_stats"]["total_cleanups"] == 2
        assert snap["cleanup_stats"]["total_connections_cleaned"] == 7
        assert snap["connection_stats"]["redis_connection_counters"] == 0


async def test_cleanup_409_while_one_runs():
    cfg = fast_config(MONITORING_TOKEN=TOKEN, STALE_CONNECTION_THRESHOLD_SECONDS=0.1, PERIODIC_CLEANUP_ENABLED=False)
    async with serve(cfg) as s:
        release = asyncio.Event()

        async def slow_close():  # a stream that takes its time to close
            await release.wait()
        await s.manager.register(channel="slow", on_close=slow_close)
        await asyncio.sleep(0.2)
        first = asyncio.create_task(s.http.post("/monitoring/cleanup", headers=auth()))
        await wait_for(lambda: asyncio.sleep(0, s.manager.cleanup_in_progress), 5, "cleanup running")
        r = await s.http.post("/monitoring/cleanup", headers=auth())
        assert r.status_code == 409 and "already running" in r.json()["error"]
        release.set()
        r1 = await first
        assert r1.status_code == 200 and r1.json()["cleaned"] == 1
        r = await s.http.post("/monitoring/cleanup", headers=auth())
        assert r.status_code == 200


async def test_connections_page_is_bounded_ordered_and_validated():
    async with serve(fast_config(MONITORING_MAX_PAGE_SIZE=4, MONITORING_TOKEN=TOKEN)) as s:
        clients = await open_clients(s.host, s.port, 6)
        s.http.headers.update(auth())
        r = await s.http.get("/monitoring/connections", params={"state": "all", "limit": 100, "offset": 1})
        assert r.status_code == 200
        page = r.json()
        assert page["state"] == "all" and page["total"] == 6 and page["limit"] == 4 and page["offset"] == 1
        assert len(page["connections"]) == 4
        connected = [c["connected_at"] for c in page["connections"]]
        assert connected == sorted(connected), "oldest first"
        r = await s.http.get("/monitoring/connections", params={"state": "active"})
        assert r.json()["total"] == 6
        r = await s.http.get("/monitoring/connections", params={"state": "stale"})
        body = r.json()
        assert {k: body[k] for k in ("state", "total", "limit", "offset", "connections", "sort", "order", "truncated")} == {
            "state": "stale", "total": 0, "limit": 4, "offset": 0, "connections": [], "sort": "idle", "order": "desc",
            "truncated": False}
        for params, reason in [({"state": "zombie"}, "state must be one of"), ({"limit": "ten"}, "limit must be an integer"),
                               ({"limit": 0}, "limit must be >= 1"), ({"offset": -1}, "offset must be >= 0"),
                               ({"offset": "1e3"}, "offset must be an integer"), ({"sort": "size"}, "sort must be one of"),
                               ({"order": "up"}, "order must be one of"), ({"q": "x" * 201}, "q must be at most")]:
            r = await s.http.get("/monitoring/connections", params=params)
            assert r.status_code == 400 and reason in r.json()["error"], (params, r.text)
        for c in clients:
            await c.close()


async def test_connection_listings_need_the_token_by_default():
    cfg = load_config(**{**FAST, "MONITORING_CONNECTIONS_PUBLIC": False, "MONITORING_TOKEN": TOKEN})
    async with serve(cfg) as s:
        clients = await open_clients(s.host, s.port, 1)
        page = (await s.http.get("/monitoring/connections", headers=auth())).json()
        cid = page["connections"][0]["connection_id"]
        for path in ("/monitoring/connections", f"/monitoring/connections/{cid}", "/monitoring/channels"):
            assert (await s.http.get(path)).status_code == 401, path
            assert (await s.http.get(path, headers=auth("nope"))).status_code == 403, path
            assert (await s.http.get(path, headers=auth())).status_code == 200, path
        assert (await s.http.get("/monitoring")).status_code == 200  # the summary holds no client data
        await close_clients(clients)
    async with serve(load_config(**{**FAST, "MONITORING_CONNECTIONS_PUBLIC": False})) as s:  # no token configured
        assert (await s.http.get("/monitoring/connections")).status_code == 403


async def test_read_endpoints_can_require_the_token_probes_never_do():
    async with serve(fast_config(MONITORING_TOKEN=TOKEN, MONITORING_READ_REQUIRES_TOKEN=True)) as s:
        for path in ("/monitoring", "/monitoring/connections", "/metrics"):
            assert (await s.http.get(path)).status_code == 401, path
            assert (await s.http.get(path, headers=auth("nope"))).status_code == 403, path
            assert (await s.http.get(path, headers=auth())).status_code == 200, path
        for path in ("/health", "/health/live", "/health/ready"):
            assert (await s.http.get(path)).status_code == 200, path


async def test_health_live_ready_and_guide_shapes():
    async with serve(fast_config()) as s:
        MonitoringStats.model_validate(await s.monitoring())
        r = await s.http.get("/health")
        assert r.status_code == 200
        body = r.json()
        assert body["status"] == body["overall_health"] == "healthy" and body["alerts"] == [] and body["warnings"] == []
        assert (await s.http.get("/health/live")).json() == {"status": "alive"}
        assert (await s.http.get("/health/ready")).json() == {"status": "ready", "store": "memory", "store_state": "up",
                                                               "local_connections": 0, "worker_id": s.manager.worker_id,
                                                               "pid": os.getpid()}
        r = await s.http.get("/metrics")
        assert r.headers["content-type"].startswith("text/plain; version=")


async def test_secrets_never_appear_in_responses_even_when_redis_is_down(namespace):
    password = "redis-Pa55word-never-shown"
    server = RedisServer(password=password).start()
    try:
        cfg = fast_config(MONITORING_TOKEN=TOKEN, REDIS_URL=server.url, REDIS_NAMESPACE=namespace)
        async with serve(cfg) as s:
            clients = await open_clients(s.host, s.port, 3)

            async def bodies() -> list[str]:
                out = []
                for path in ("/monitoring", "/monitoring/connections?state=all", "/metrics", "/health",
                             "/health/live", "/health/ready", "/health/fleet"):
                    out.append((await s.http.get(path)).text)
                out.append((await s.http.get("/monitoring/connections", headers=auth())).text)
                out.append((await s.http.post("/monitoring/cleanup", headers=auth(), json={"batch_size": 2})).text)
                out.append((await s.http.post("/monitoring/cleanup", headers=auth("wrong"))).text)
                return out

            up = await bodies()
            server.stop()  # now every answer carries a store error
            await wait_for(lambda: _fleet_fails(s), 10, "the fleet verdict to fail")
            assert (await s.http.get("/health/ready")).status_code == 200  # this pod still serves streams
            down = await bodies()
            assert any("state_store_unavailable" in b for b in down)
            r = await s.http.post("/monitoring/cleanup", headers=auth())
            assert r.status_code == 503, r.text
            for text in up + down + [r.text]:
                assert password not in text and TOKEN not in text
                if not text.startswith('{"state":'):  # every body but a connection listing (client addresses are its data)
                    assert str(server.port) not in text and "127.0.0.1" not in text, text[:300]
            for c in clients:
                await c.close()
    finally:
        server.stop()


async def _fleet_fails(s) -> bool:
    return (await s.http.get("/health/fleet")).status_code == 503
