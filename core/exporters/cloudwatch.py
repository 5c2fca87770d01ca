"""CloudWatch export (optional extra: ``pip install 'sse-dash[cloudwatch]'``).

Two ways, both from the monitoring dict or the :class:`~core.models.MonitoringStats` model:

- ``PutMetricData`` through boto3, off the event loop::

      exporter = CloudWatchExporter()                      # boto3.client("cloudwatch")
      await exporter.export(await manager.monitoring_snapshot())   # runs in a thread
      # or periodically: await exporter.start(provider, interval=60) ... await exporter.stop()

  Batched within the API's limits (1,000 metrics per call, 30 dimensions per metric);
  failures are logged and counted (``exporter.failures``, ``exporter.last_error``), never
  raised into the app. Metrics are dimensionless by default, as the guide's example
  (``SSE/ConnectionManager`` / ``ActiveConnections``), so alarms built from it see data;
  pass ``dimensions={"Service": "prices"}`` to add some.

- the Embedded Metric Format (containers, Lambda): :func:`emf_document` / :func:`emf_line`
  / :func:`print_emf` give the JSON line the CloudWatch agent or Lambda's log pipeline
  turns into the same metrics, with no AWS call from the process.

Unknown values (``None`` in the model: the store could not be read) are left out, never
sent as 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TextIO

from ..health import HEALTH_STATUS_CODE
from ..models import MonitoringStats

__all__ = ["NAMESPACE", "MAX_METRICS_PER_CALL", "metric_rows", "metric_data", "send_to_cloudwatch",
           "CloudWatchExporter", "emf_document", "emf_line", "print_emf"]

log = logging.getLogger("sse")

NAMESPACE = "SSE/ConnectionManager"
MAX_METRICS_PER_CALL = 1000  # PutMetricData: MetricData items per request
MAX_DIMENSIONS = 30  # per metric (PutMetricData and EMF)
MAX_EMF_METRICS = 100  # metrics per EMF directive

Stats = Mapping[str, Any] | MonitoringStats


def _as_dict(stats: Stats) -> Mapping[str, Any]:
    if isinstance(stats, MonitoringStats):
        return stats.model_dump(mode="json")
    if isinstance(stats, Mapping):
        return stats
    raise TypeError(f"stats must be the monitoring dict or a MonitoringStats, not {type(stats).__name__}")


def metric_rows(stats: Stats) -> list[tuple[str, float, str]]:
    """(name, value, unit) for every known value of one snapshot (unknown ones left out)."""
    s = _as_dict(stats)
    cs, cl = s.get("connection_stats") or {}, s.get("cleanup_stats") or {}
    health = (s.get("health_indicators") or {}).get("overall_health")
    rows = [
        ("ActiveConnections", cs.get("active_connections"), "Count"),
        ("RedisConnectionCounters", cs.get("redis_connection_counters"), "Count"),
        ("CleanupErrorRate", cl.get("error_rate"), "Percent"),
        ("StaleConnections", cl.get("stale"), "Count"),
        ("LongLivedConnections", cl.get("long_lived"), "Count"),
        ("VeryOldConnections", cl.get("very_old"), "Count"),
        ("TotalConnectionsCleaned", cl.get("total_connections_cleaned"), "Count"),
        ("LastCleanupDurationMs", cl.get("last_cleanup_duration_ms"), "Milliseconds"),
        ("HealthStatus", HEALTH_STATUS_CODE.get(health) if isinstance(health, str) else None, "None"),
    ]
    return [(name, float(value), unit) for name, value, unit in rows
            if value is not None and not isinstance(value, bool)]


def _dimension_list(dimensions: Mapping[str, str] | None) -> list[dict[str, str]]:
    if not dimensions:
        return []
    if len(dimensions) > MAX_DIMENSIONS:
        raise ValueError(f"at most {MAX_DIMENSIONS} dimensions per metric, got {len(dimensions)}")
    out = []
    for name, value in dimensions.items():
        if not name or not str(value):
            raise ValueError("dimension names and values must be non-empty")
        out.append({"Name": str(name), "Value": str(value)})
    return out


def metric_data(stats: Stats, *, dimensions: Mapping[str, str] | None = None,
                timestamp: datetime | None = None) -> list[dict[str, Any]]:
    """The ``MetricData`` list for one snapshot (pure, testable without AWS).

    Dimensionless unless ``dimensions`` is given (the guide's example has none)."""
    dims = _dimension_list(dimensions)
    data = []
    for name, value, unit in metric_rows(stats):
        item: dict[str, Any] = {"MetricName": name, "Value": value, "Unit": unit}
        if dims:
            item["Dimensions"] = dims
        if timestamp is not None:
            item["Timestamp"] = timestamp
        data.append(item)
    return data


def _batches(items: Sequence[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


class CloudWatchExporter:
    """``PutMetricData`` in a worker thread, batched, failures logged and counted.

    ``client``: a boto3 CloudWatch client (default: ``boto3.client("cloudwatch")``, made
    on first use in the worker thread). Counters: ``sent`` (metrics accepted), ``calls``,
    ``failures`` (calls that failed), ``skipped`` (exports dropped because the previous one
    was still running), ``last_error`` (text, no secrets: botocore's error message)."""

    def __init__(self, client: Any = None, *, namespace: str = NAMESPACE, dimensions: Mapping[str, str] | None = None,
                 batch_size: int = MAX_METRICS_PER_CALL) -> None:
        if not 1 <= batch_size <= MAX_METRICS_PER_CALL:
            raise ValueError(f"batch_size must be 1..{MAX_METRICS_PER_CALL}")
        _dimension_list(dimensions)  # validate now, not at the first export
        self._client = client
        self.namespace = namespace
        self.dimensions = dict(dimensions) if dimensions else None
        self.batch_size = batch_size
        self.sent = 0
        self.calls = 0
        self.failures = 0
        self.skipped = 0
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._busy = False
        self._task: asyncio.Task[None] | None = None

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                import boto3
            except ImportError as exc:  # pragma: no cover - depends on the extra
                raise RuntimeError("CloudWatch export needs boto3: pip install 'sse-dash[cloudwatch]'") from exc
            self._client = boto3.client("cloudwatch")
        return self._client

    def send(self, stats: Stats) -> int:
        """Put one snapshot's metrics now, in this thread. Returns the number accepted;
        never raises for AWS or network trouble (logged and counted)."""
        data = metric_data(stats, dimensions=self.dimensions)
        accepted = 0
        for batch in _batches(data, self.batch_size):
            try:
                self.client.put_metric_data(Namespace=self.namespace, MetricData=batch)
            except Exception as exc:  # noqa: BLE001 - an exporter never breaks the app
                with self._lock:
                    self.calls += 1
                    self.failures += 1
                    self.last_error = f"{type(exc).__name__}: {exc}"[:500]
                log.warning("SSE CloudWatch export failed: %s metrics not sent: %s", len(batch), self.last_error)
                continue
            with self._lock:
                self.calls += 1
                self.sent += len(batch)
            accepted += len(batch)
        return accepted

    async def export(self, stats: Stats) -> int:
        """:meth:`send` in a worker thread (the event loop never waits on AWS). When the
        previous export is still running this one is skipped (counted), not queued."""
        with self._lock:
            if self._busy:
                self.skipped += 1
                return 0
            self._busy = True
        try:
            return await asyncio.to_thread(self.send, stats)
        finally:
            with self._lock:
                self._busy = False

    async def start(self, source: Any, *, interval: float = 60.0) -> None:
        """Export ``source``'s snapshot (a ConnectionManager or SSEProvider) every ``interval`` s."""
        if interval <= 0:
            raise ValueError("interval must be > 0 seconds")
        if self._task is not None and not self._task.done():
            return
        get = getattr(source, "get_connection_manager", None)
        manager = await get() if get is not None else source
        self._task = asyncio.create_task(self._loop(manager, interval), name="sse-cloudwatch")

    async def _loop(self, manager: Any, interval: float) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.export(await manager.monitoring_snapshot())
            except Exception:
                log.exception("SSE CloudWatch export loop error")
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"sent": self.sent, "calls": self.calls, "failures": self.failures, "skipped": self.skipped,
                    "last_error": self.last_error}


def send_to_cloudwatch(stats: Stats, client: Any = None, namespace: str = NAMESPACE, *,
                       dimensions: Mapping[str, str] | None = None) -> int:
    """The guide's ``send_to_cloudwatch(stats)``: puts the metrics now (synchronously, in
    the caller's thread: from async code use :meth:`CloudWatchExporter.export`). Returns the
    number of metrics accepted; failures are logged, not raised."""
    return CloudWatchExporter(client, namespace=namespace, dimensions=dimensions).send(stats)


# -- Embedded Metric Format ---------------------------------------------------------------
def emf_document(stats: Stats, *, namespace: str = NAMESPACE, dimensions: Mapping[str, str] | None = None,
                 timestamp_ms: int | None = None) -> dict[str, Any]:
    """One EMF object: the ``_aws`` metadata plus each metric's value as a member.

    Dimensionless by default (``"Dimensions": [[]]``); with ``dimensions`` they are one
    dimension set and members of the document too."""
    rows = metric_rows(stats)
    if len(rows) > MAX_EMF_METRICS:  # pragma: no cover - 9 metrics today
        raise ValueError(f"at most {MAX_EMF_METRICS} metrics per EMF directive")
    dims = {str(k): str(v) for k, v in (dimensions or {}).items()}
    _dimension_list(dims)
    names = {name for name, _, _ in rows}
    if clash := sorted(names & set(dims)):
        raise ValueError(f"dimension names clash with metric names: {', '.join(clash)}")
    doc: dict[str, Any] = {
        "_aws": {
            "Timestamp": int(time.time() * 1000) if timestamp_ms is None else int(timestamp_ms),
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [list(dims)],
                "Metrics": [{"Name": name, "Unit": unit} for name, _, unit in rows],
            }],
        },
        **dims,
    }
    for name, value, _ in rows:
        doc[name] = value
    return doc


def emf_line(stats: Stats, **kwargs: Any) -> str:
    """The EMF document as one JSON line."""
    return json.dumps(emf_document(stats, **kwargs), separators=(",", ":"))


def print_emf(stats: Stats, stream: TextIO | None = None, **kwargs: Any) -> str:
    """Write the EMF line to ``stream`` (stdout: what Lambda and the CloudWatch agent read)."""
    line = emf_line(stats, **kwargs)
    out = stream or sys.stdout
    out.write(line + "\n")
    out.flush()
    return line
