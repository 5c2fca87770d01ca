"""CloudWatch: PutMetricData off the event loop, batched, failures counted (botocore Stubber); EMF."""

from __future__ import annotations

import io
import json
import logging
import threading

import pytest

boto3 = pytest.importorskip("boto3")
from botocore.stub import Stubber  # noqa: E402

from core.exporters.cloudwatch import (  # noqa: E402
    MAX_METRICS_PER_CALL,
    NAMESPACE,
    CloudWatchExporter,
    emf_document,
    metric_data,
    print_emf,
    send_to_cloudwatch,
)


def _client():
    return boto3.client("cloudwatch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")


@pytest.fixture
async def snapshot(make_manager):
    m = await make_manager()
    for _ in range(3):
        await m.register()
    return await m.monitoring_snapshot()


async def test_model_is_accepted_and_metrics_are_dimensionless_by_default(snapshot):
    data = metric_data(snapshot)  # the pydantic model, not only the dict
    by_name = {d["MetricName"]: d for d in data}
    assert by_name["ActiveConnections"] == {"MetricName": "ActiveConnections", "Value": 3.0, "Unit": "Count"}
    assert by_name["CleanupErrorRate"]["Unit"] == "Percent"
    assert all("Dimensions" not in d for d in data)  # the guide's example has none: its alarms see data
    assert metric_data(snapshot.model_dump(mode="json")) == data
    with_dims = metric_data(snapshot, dimensions={"Service": "prices"})
    assert all(d["Dimensions"] == [{"Name": "Service", "Value": "prices"}] for d in with_dims)
    with pytest.raises(TypeError, match="MonitoringStats"):
        metric_data([1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="30 dimensions"):
        metric_data(snapshot, dimensions={f"d{i}": "x" for i in range(31)})


def test_unknown_values_are_left_out_not_sent_as_zero():
    stats = {"connection_stats": {"active_connections": None, "redis_connection_counters": 4},
             "cleanup_stats": {"error_rate": None}, "health_indicators": {"overall_health": "unhealthy"}}
    names = {d["MetricName"]: d["Value"] for d in metric_data(stats)}
    assert "ActiveConnections" not in names and "CleanupErrorRate" not in names
    assert names == {"RedisConnectionCounters": 4.0, "HealthStatus": 2.0}


async def test_export_runs_in_a_thread_and_is_batched(snapshot):
    client = _client()
    threads: list[int] = []
    client.meta.events.register("provide-client-params.cloudwatch.PutMetricData", lambda **kw: threads.append(threading.get_ident()))
    data = metric_data(snapshot)
    exporter = CloudWatchExporter(client, batch_size=4)
    with Stubber(client) as stub:
        for i in range(0, len(data), 4):
            stub.add_response("put_metric_data", {}, {"Namespace": NAMESPACE, "MetricData": data[i:i + 4]})
        assert await exporter.export(snapshot) == len(data)
        stub.assert_no_pending_responses()
    assert len(threads) == 3 and threading.get_ident() not in threads  # 9 metrics in 3 calls, none on the loop
    assert exporter.stats() == {"sent": 9, "calls": 3, "failures": 0, "skipped": 0, "last_error": None}
    with pytest.raises(ValueError):
        CloudWatchExporter(client, batch_size=MAX_METRICS_PER_CALL + 1)


async def test_failures_are_logged_and_counted_not_raised(snapshot, caplog):
    client = _client()
    data = metric_data(snapshot)
    exporter = CloudWatchExporter(client, batch_size=5)
    with Stubber(client) as stub, caplog.at_level(logging.WARNING, logger="sse"):
        stub.add_client_error("put_metric_data", service_error_code="Throttling", service_message="Rate exceeded",
                              http_status_code=400, expected_params={"Namespace": NAMESPACE, "MetricData": data[:5]})
        stub.add_response("put_metric_data", {}, {"Namespace": NAMESPACE, "MetricData": data[5:]})
        assert await exporter.export(snapshot) == len(data) - 5  # the second batch still goes
        stub.assert_no_pending_responses()
    assert exporter.failures == 1 and exporter.sent == len(data) - 5
    assert "Throttling" in (exporter.last_error or "")
    assert any("SSE CloudWatch export failed" in r.getMessage() for r in caplog.records)


async def test_periodic_export_from_a_manager(make_manager):
    m = await make_manager()
    client = _client()
    exporter = CloudWatchExporter(client, dimensions={"Service": "prices"})
    with Stubber(client) as stub:
        stub.add_response("put_metric_data", {}, None)
        await exporter.start(m, interval=3600)
        try:
            from tests.service.conftest import wait_for

            async def sent() -> bool:
                return exporter.sent > 0

            await wait_for(sent, 10, "the first periodic export")
        finally:
            await exporter.stop()
    assert exporter.failures == 0 and exporter.calls == 1


def test_guide_function_accepts_the_model_and_does_not_raise():
    client = _client()
    stats = {"connection_stats": {"active_connections": 1}, "cleanup_stats": {"error_rate": 0.0},
             "health_indicators": {"overall_health": "healthy"}}
    with Stubber(client) as stub:
        stub.add_client_error("put_metric_data", service_error_code="AccessDenied", http_status_code=403)
        assert send_to_cloudwatch(stats, client=client) == 0  # logged and counted, not raised


def test_embedded_metric_format(snapshot):
    doc = emf_document(snapshot, timestamp_ms=1_700_000_000_000)
    directive = doc["_aws"]["CloudWatchMetrics"][0]
    assert doc["_aws"]["Timestamp"] == 1_700_000_000_000
    assert directive["Namespace"] == NAMESPACE and directive["Dimensions"] == [[]]  # dimensionless
    names = [m["Name"] for m in directive["Metrics"]]
    assert "ActiveConnections" in names and doc["ActiveConnections"] == 3.0
    assert all(doc[n] is not None for n in names)  # every declared metric has its value member
    buf = io.StringIO()
    line = print_emf(snapshot, buf, dimensions={"Service": "prices"})
    parsed = json.loads(buf.getvalue())
    assert buf.getvalue() == line + "\n"
    assert parsed["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Service"]] and parsed["Service"] == "prices"
    with pytest.raises(ValueError, match="clash"):
        emf_document(snapshot, dimensions={"ActiveConnections": "x"})
