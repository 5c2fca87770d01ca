"""CloudWatch exporter (optional extra: ``pip install 'sse-dash[cloudwatch]'``).

The guide's ``send_to_cloudwatch(stats)``, extended with the age classes and health.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..health import HEALTH_STATUS_CODE

NAMESPACE = "SSE/ConnectionManager"


def metric_data(stats: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The MetricData list for one monitoring dict (pure, testable without AWS)."""
    cs, cl = stats["connection_stats"], stats["cleanup_stats"]
    health = stats["health_indicators"]["overall_health"]
    rows = [
        ("ActiveConnections", cs["active_connections"], "Count"),
        ("RedisConnectionCounters", cs["redis_connection_counters"], "Count"),
        ("CleanupErrorRate", cl["error_rate"], "Percent"),
        ("StaleConnections", cl["stale"], "Count"),
        ("LongLivedConnections", cl["long_lived"], "Count"),
        ("VeryOldConnections", cl["very_old"], "Count"),
        ("TotalConnectionsCleaned", cl["total_connections_cleaned"], "Count"),
        ("LastCleanupDurationMs", cl["last_cleanup_duration_ms"], "Milliseconds"),
        ("HealthStatus", HEALTH_STATUS_CODE[health], "None"),
    ]
    dims = [{"Name": "Service", "Value": str(stats.get("service_name", "sse_connection_manager"))}]
    return [{"MetricName": n, "Value": float(v), "Unit": u, "Dimensions": dims} for n, v, u in rows]


def send_to_cloudwatch(stats: Mapping[str, Any], client: Any = None, namespace: str = NAMESPACE) -> None:
    """Put the metrics with boto3 (``client`` may be injected, e.g. a botocore Stubber'd client)."""
    if client is None:
        try:
            import boto3
        except ImportError as exc:  # pragma: no cover - depends on the extra
            raise RuntimeError("CloudWatch export needs boto3: pip install 'sse-dash[cloudwatch]'") from exc
        client = boto3.client("cloudwatch")
    client.put_metric_data(Namespace=namespace, MetricData=metric_data(stats))
