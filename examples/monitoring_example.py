"""The guide's example monitoring script, runnable against the demo or any service.

    sse-demo --port 8000 &                                   # prints the token
    python examples/monitoring_example.py --url http://127.0.0.1:8000/monitoring
    python examples/monitoring_example.py --url ... --token T --cleanup 5   # force a cleanup
    python examples/monitoring_example.py --in-process       # the guide's Python API, own manager

It shows the guide's three usages: basic monitoring (is it healthy?), dashboard
integration (the metrics dict for an external system), and the health check a load
balancer would use; then the debug commands (cleanup statistics, a forced cleanup).
Exit status: 0 healthy, 1 degraded, 2 unhealthy (like ``sse-dash --once``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import httpx


def get_prometheus_metrics(stats: dict[str, Any]) -> dict[str, Any]:
    """The guide's "Dashboard Integration" dict."""
    return {
        "sse_active_connections": stats["connection_stats"]["active_connections"],
        "sse_cleanup_error_rate": stats["cleanup_stats"]["error_rate"],
        "sse_health_alerts": len(stats["health_indicators"]["alerts"]),
    }


def health_check(stats: dict[str, Any]) -> bool:
    """The guide's load-balancer check: healthy if no critical alerts."""
    return stats["health_indicators"]["overall_health"] in ["healthy", "degraded"]


def report(stats: dict[str, Any]) -> int:
    health = stats["health_indicators"]
    cs, cl = stats["connection_stats"], stats["cleanup_stats"]
    print(f"{stats['timestamp']}  {stats['service_name']}: {health['overall_health'].upper()}")
    print(f"  connections: active={cs['active_connections']} redis={cs['redis_connection_counters']} "
          f"cleanup_task_running={cs['cleanup_task_running']}")
    print(f"  ages: stale={cl['stale']} active={cl['active']} long_lived={cl['long_lived']} very_old={cl['very_old']}")
    print(f"  cleanup: runs={cl['total_cleanups']} cleaned={cl['total_connections_cleaned']} "
          f"error_rate={cl['error_rate']}% last={cl['last_cleanup_duration_ms']}ms")
    for a in health["alerts"] + health["warnings"]:
        print(f"  [{a['severity']}] {a['type']}: {a['message']}")
    print(f"  metrics for external systems: {json.dumps(get_prometheus_metrics(stats))}")
    print(f"  load balancer health check: {'pass' if health_check(stats) else 'FAIL'}")
    return {"healthy": 0, "degraded": 1, "unhealthy": 2}[health["overall_health"]]


async def over_http(url: str, token: str | None, cleanup: int | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(timeout=10, headers=headers) as client:
        if cleanup is not None:
            r = await client.post(url.rstrip("/") + "/cleanup", json={"batch_size": cleanup})
            print(f"forced cleanup: HTTP {r.status_code} {r.text}")
        r = await client.get(url)
        r.raise_for_status()
        return report(r.json())


async def in_process(cleanup: int | None) -> int:
    from core.provider import SSEProvider

    provider = SSEProvider()
    manager = await provider.get_connection_manager()
    try:
        for _ in range(3):  # something to look at
            await manager.register(channel="example")
        monitoring_data = await manager.get_detailed_monitoring_stats()
        stats = await manager.state_manager.get_cleanup_statistics()
        print(f"Error rate: {stats['error_rate']}%")
        if cleanup is not None:
            cleaned = await manager.cleanup_stale_connections(batch_size=cleanup)
            print(f"Cleaned {cleaned} connections")
        return report(monitoring_data)
    finally:
        await SSEProvider.shutdown()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--url", help="a /monitoring URL, e.g. http://127.0.0.1:8000/monitoring")
    src.add_argument("--in-process", action="store_true", help="use the guide's Python API with a manager of its own")
    p.add_argument("--token", help="bearer token (needed for --cleanup over HTTP)")
    p.add_argument("--cleanup", type=int, metavar="BATCH", help="force a cleanup with this batch size first")
    args = p.parse_args(argv)
    if args.url:
        return asyncio.run(over_http(args.url, args.token, args.cleanup))
    return asyncio.run(in_process(args.cleanup))


if __name__ == "__main__":
    sys.exit(main())
