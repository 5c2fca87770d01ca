"""Prometheus exposition (parsed back with prometheus_client's parser) and CloudWatch data."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.exporters.cloudwatch import metric_data, send_to_cloudwatch
from core.exporters.prometheus import METRIC_NAMES, export_prometheus_metrics, render_metrics

GUIDE_NAMES = ["sse_active_connections", "sse_cleanup_error_rate", "sse_total_connections_cleaned", "sse_cleanup_total",
               "sse_cleanup_errors_total", "sse_stale_connections", "sse_long_lived_connections",
               "sse_very_old_connections", "sse_health_status"]


def samples(text: str) -> dict[str, float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            key = s.name + ("{" + ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())) + "}" if s.labels else "")
            out[key] = s.value
    return out


async def test_metrics_reflect_the_manager(make_manager, clock):
    m = await make_manager(CLEANUP_BATCH_SIZE=2)
    for _ in range(5):
        await m.register()
    clock.advance(301)
    await m.register()
    await m.run_cleanup()
    text = render_metrics(*(await m.metrics_inputs())).decode()
    got = samples(text)
    for name in GUIDE_NAMES:
        assert name in got, name
    assert got["sse_active_connections"] == 1
    assert got["sse_redis_connection_counters"] == 1
    assert got["sse_total_connections_cleaned"] == 5
    assert got["sse_connections_cleaned_total"] == 5
    assert got["sse_cleanup_total"] == 1
    assert got["sse_cleanup_errors_total"] == 0
    assert got["sse_health_status"] == 0
    assert got["sse_cleanup_duration_seconds_count"] == 1
    assert got["sse_cleanup_duration_seconds_bucket{le=+Inf}"] == 1
    assert got["sse_store_up"] == 1
    # bounded labels: the histogram's le and the closing reason (one of CLOSE_REASONS) only
    from core.manager import CLOSE_REASONS
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            assert set(s.labels) <= {"le", "reason"}, s
            assert s.labels.get("reason", "other") in CLOSE_REASONS
    exposed = {fam.name for fam in text_string_to_metric_families(text)}
    for name in METRIC_NAMES:
        base = name[:-6] if name.endswith("_total") else name
        assert base in exposed or name in exposed, name


def test_guide_helper_from_dict():
    stats = {
        "timestamp": "2025-01-20T10:30:00Z", "service_name": "sse_connection_manager",
        "connection_stats": {"active_connections": 150, "redis_connection_counters": 148, "cleanup_task_running": True},
        "cleanup_stats": {"total_cleanups": 45, "total_connections_cleaned": 89, "cleanup_errors": 1, "failed_connections": 3,
                          "error_rate": 2.2, "connection_failure_rate": 3.3, "last_cleanup_duration_ms": 12.5,
                          "connections_per_cleanup": 1.98, "stale": 2, "active": 148, "long_lived": 45, "very_old": 3},
        "health_indicators": {"overall_health": "degraded", "alerts": [], "warnings": []},
        "performance_metrics": {"avg_cleanup_duration_ms": 12.5, "cleanup_efficiency_rate": 96.7, "cleanup_error_rate": 2.2,
                                "connections_cleaned_per_operation": 1.98},
        "configuration": {"cleanup_interval_seconds": 60, "cleanup_batch_size": 10, "stale_threshold_seconds": 300,
                          "periodic_cleanup_enabled": True},
    }
    got = samples(export_prometheus_metrics(stats))
    assert got["sse_active_connections"] == 150
    assert got["sse_cleanup_error_rate"] == 2.2
    assert got["sse_total_connections_cleaned"] == 89
    assert got["sse_health_status"] == 1
    assert got["sse_connection_mismatch"] == 2
    cw = {d["MetricName"]: d for d in metric_data(stats)}
    assert cw["ActiveConnections"]["Value"] == 150 and cw["ActiveConnections"]["Unit"] == "Count"
    assert cw["CleanupErrorRate"]["Value"] == 2.2 and cw["CleanupErrorRate"]["Unit"] == "Percent"

    class Recorder:
        def __init__(self):
            self.calls = []

        def put_metric_data(self, **kw):
            self.calls.append(kw)

    rec = Recorder()
    send_to_cloudwatch(stats, client=rec)
    assert rec.calls[0]["Namespace"] == "SSE/ConnectionManager" and len(rec.calls[0]["MetricData"]) == 9


def test_cloudwatch_with_real_boto3_client_stubbed():
    boto3 = pytest.importorskip("boto3")
    from botocore.stub import Stubber
    client = boto3.client("cloudwatch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    stats = {"service_name": "svc", "connection_stats": {"active_connections": 1, "redis_connection_counters": 1},
             "cleanup_stats": {"error_rate": 0.0, "stale": 0, "long_lived": 0, "very_old": 0, "total_connections_cleaned": 0,
                               "last_cleanup_duration_ms": 0.0},
             "health_indicators": {"overall_health": "healthy"}}
    with Stubber(client) as stub:
        stub.add_response("put_metric_data", {}, {"Namespace": "SSE/ConnectionManager", "MetricData": metric_data(stats)})
        send_to_cloudwatch(stats, client=client)
        stub.assert_no_pending_responses()
