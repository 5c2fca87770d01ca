"""500 real streams counted exactly; a Redis outage during streaming, and the registry rebuilt after it."""

from __future__ import annotations

import asyncio

from .conftest import close_clients, fast_config, open_clients, serve, wait_for

N = 500


async def test_500_real_streams_are_counted_exactly_then_zero(redis_url, namespace):
    async with serve(fast_config(REDIS_URL=redis_url, REDIS_NAMESPACE=namespace)) as s:
        clients = await open_clients(s.host, s.port, N)

        async def counted(n: int):
            snap = await s.monitoring()
            cs = snap["connection_stats"]
            ok = (cs["active_connections"] == n and cs["redis_connection_counters"] == n
                  and await s.metric("sse_active_connections") == n
                  and await s.metric("sse_redis_connection_counters") == n
                  and (await s.http.get("/monitoring/connections", params={"state": "all", "limit": 1})).json()["total"] == n)
            return snap if ok else None

        snap = await wait_for(lambda: counted(N), 20, f"{N} connections in /monitoring and /metrics")
        assert snap["health_indicators"]["overall_health"] == "healthy"
        assert [w["connections"] for w in snap["workers"]] == [N]
        await wait_for(lambda: asyncio.sleep(0, all(c.events >= 1 for c in clients)), 15, "an event on every stream")

        await close_clients(clients)
        snap = await wait_for(lambda: counted(0), 20, "zero connections after the clients left")
        assert snap["health_indicators"]["alerts"] == []


async def test_redis_outage_streams_keep_flowing_then_registry_is_rebuilt(redis_server, redis_url, namespace):
    cfg = fast_config(REDIS_URL=redis_url, REDIS_NAMESPACE=namespace, CLEANUP_INTERVAL_SECONDS=1.0)
    async with serve(cfg) as s:
        clients = await open_clients(s.host, s.port, 30)

        async def registered():
            cs = (await s.monitoring())["connection_stats"]
            return cs["active_connections"] == 30 and cs["redis_connection_counters"] == 30
        await wait_for(registered, 10, "30 registered")

        redis_server.stop()
        try:
            async def outage_seen():
                ready = await s.http.get("/health/ready")
                health = await s.http.get("/health")
                snap = await s.monitoring()
                alerts = {a["type"]: a for a in snap["health_indicators"]["alerts"]}
                cs = snap["connection_stats"]
                return (ready.status_code == 200 and health.status_code == 503  # this pod still serves; the fleet is blind
                        and snap["health_indicators"]["overall_health"] == "unhealthy"
                        and "state_store_unavailable" in alerts and not cs["store_available"]
                        and alerts["state_store_unavailable"]["message"].startswith("State store unavailable: redis unreachable")
                        and cs["active_connections"] is None and cs["redis_connection_counters"] is None  # unknown, not 0
                        and snap["store_status"]["state"] == "unreachable")
            await wait_for(outage_seen, 15, "the outage in /health/ready, /health and /monitoring")
            before = [c.events for c in clients]
            await wait_for(lambda: asyncio.sleep(0, all(c.events >= b + 2 for c, b in zip(clients, before))), 15,
                           "streams to keep flowing while Redis is down")
            assert not any(c.closed_by_server.is_set() for c in clients)
        finally:
            redis_server.start()  # same port, empty: everything Redis held is gone

        async def rebuilt():
            snap = await s.monitoring()
            cs = snap["connection_stats"]
            page = (await s.http.get("/monitoring/connections", params={"state": "active"})).json()
            return (cs["store_available"] and cs["active_connections"] == 30 and cs["redis_connection_counters"] == 30
                    and page["total"] == 30 and snap["health_indicators"]["alerts"] == []
                    and (await s.http.get("/health/ready")).status_code == 200)
        # within one cleanup cycle (plus a flush and a poll)
        await wait_for(rebuilt, cfg.CLEANUP_INTERVAL_SECONDS + 6, "the registry rebuilt from the live streams")
        assert not any(c.closed_by_server.is_set() for c in clients), "no live stream was closed by the outage"
        await close_clients(clients)
        await wait_for(lambda: asyncio.sleep(0, s.manager.local_connection_count == 0), 10, "unregistered")
