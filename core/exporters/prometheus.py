"""Prometheus exposition through prometheus_client (a collector, not hand-built text).

Metric names are the guide's. No labels: cardinality stays bounded whatever the number
of connections, channels or workers (the admission counters carry one ``reason`` label
with two values).

Two ways to expose them:

- the project's own ``GET /metrics`` route (``core.asgi``) for apps that have none;
- :func:`register_collector` for apps that already expose a registry (the default
  ``prometheus_client.REGISTRY`` that prometheus-fastapi-instrumentator and
  starlette-exporter serve, or a registry of their own)::

      collector = register_collector(provider)          # REGISTRY by default
      # in the app's lifespan: await collector.start() ... await collector.stop()

  A scrape reads a snapshot cached by a background task (:class:`core.snapshot_cache.SnapshotCache`),
  so it never waits on Redis; ``sse_metrics_snapshot_age_seconds`` says how old it is.
  Registering it twice on one registry is a ``ValueError`` that says so.

Several worker processes behind one port: prometheus_client's multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``), where the collector writes every series into the mode's
files instead (:mod:`core.exporters.multiprocess`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from ..health import HEALTH_STATUS_CODE
from ..models import CleanupCounters, MonitoringStats
from ..snapshot_cache import SnapshotCache
from ..stats import DURATION_BUCKETS_SECONDS
from . import multiprocess as mp

__all__ = ["CONTENT_TYPE_LATEST", "SnapshotCollector", "CachedCollector", "register_collector",
           "export_prometheus_metrics", "render_metrics", "METRIC_NAMES", "COLLECTOR_METRIC_NAMES",
           "CollectorAlreadyRegistered"]

log = logging.getLogger("sse")

METRIC_NAMES = (
    "sse_active_connections", "sse_redis_connection_counters", "sse_connection_mismatch",
    "sse_cleanup_error_rate", "sse_total_connections_cleaned", "sse_connections_cleaned_total",
    "sse_cleanup_total", "sse_cleanup_errors_total", "sse_cleanup_failed_connections_total",
    "sse_stale_connections", "sse_recently_active_connections", "sse_long_lived_connections",
    "sse_very_old_connections", "sse_health_status", "sse_health_alerts", "sse_health_warnings",
    "sse_cleanup_task_running", "sse_periodic_cleanup_enabled", "sse_cleanup_duration_seconds",
    "sse_workers", "sse_store_up", "sse_cleanup_error_rate_window", "sse_cleanup_consecutive_errors",
    "sse_pod_connections", "sse_pod_connections_opened_total", "sse_pod_connections_closed_total",
    "sse_pod_events_sent_total", "sse_pod_bytes_sent_total",
)

# what the registered collector adds to METRIC_NAMES (about itself and admission control)
COLLECTOR_METRIC_NAMES = (
    "sse_metrics_snapshot_age_seconds", "sse_metrics_snapshot_refresh_errors_total",
    "sse_admission_admitted_total", "sse_admission_rejected_total", "sse_admission_local_connections",
)


def _gauge(name: str, doc: str, value: float | None) -> GaugeMetricFamily | None:
    """A gauge, or None when the value is unknown (absent, never a 0)."""
    return None if value is None else GaugeMetricFamily(name, doc, value=float(value))


def _counter(name: str, doc: str, value: float | None) -> CounterMetricFamily | None:
    return None if value is None else CounterMetricFamily(name, doc, value=float(value))


class SnapshotCollector:
    """Collects from one monitoring snapshot (taken by the caller, asynchronously)."""

    def __init__(self, stats: MonitoringStats, counters: CleanupCounters | None = None) -> None:
        self.stats = stats
        self.counters = counters

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        yield from (m for m in self._families() if m is not None)

    def _families(self) -> Iterator[Metric | None]:
        s = self.stats
        cs, cl, hi = s.connection_stats, s.cleanup_stats, s.health_indicators
        mismatch = (None if cs.active_connections is None or cs.redis_connection_counters is None
                    else abs(cs.active_connections - cs.redis_connection_counters))
        yield _gauge("sse_active_connections", "Live SSE connections held by live workers", cs.active_connections)
        yield _gauge("sse_redis_connection_counters", "Connections the shared registry counter holds", cs.redis_connection_counters)
        yield _gauge("sse_connection_mismatch", "abs(active - registry counter)", mismatch)
        yield _gauge("sse_cleanup_error_rate", "Percent of cleanup runs that raised", cl.error_rate)
        yield _gauge("sse_cleanup_error_rate_window", "Percent of cleanup runs that failed within the error-rate window",
                     cl.error_rate_window)
        yield _gauge("sse_cleanup_consecutive_errors", "Cleanup runs failed in a row", cl.consecutive_errors)
        yield _gauge("sse_total_connections_cleaned", "Connections removed by cleanup since the registry began (monotonic)", cl.total_connections_cleaned)
        yield _counter("sse_connections_cleaned", "Connections removed by cleanup", cl.total_connections_cleaned)
        yield _counter("sse_cleanup", "Cleanup runs", cl.total_cleanups)
        yield _counter("sse_cleanup_errors", "Cleanup runs that raised", cl.cleanup_errors)
        yield _counter("sse_cleanup_failed_connections", "Connections cleanup could not close", cl.failed_connections)
        yield _gauge("sse_stale_connections", "Connections idle past the stale threshold", cl.stale)
        yield _gauge("sse_recently_active_connections", "Connections active within the stale threshold", cl.active)
        yield _gauge("sse_long_lived_connections", "Connections open for more than 1 hour", cl.long_lived)
        yield _gauge("sse_very_old_connections", "Connections open for more than 6 hours", cl.very_old)
        yield _gauge("sse_health_status", "0 healthy, 1 degraded, 2 unhealthy", HEALTH_STATUS_CODE[hi.overall_health])
        yield _gauge("sse_health_alerts", "Active high-severity health alerts", len(hi.alerts))
        yield _gauge("sse_health_warnings", "Active medium-severity health warnings", len(hi.warnings))
        yield _gauge("sse_cleanup_task_running", "1 when a periodic cleanup task runs in the fleet", None if cs.cleanup_task_running is None else int(cs.cleanup_task_running))
        yield _gauge("sse_periodic_cleanup_enabled", "1 when periodic cleanup is enabled", int(s.configuration.periodic_cleanup_enabled))
        yield _gauge("sse_workers", "Workers with a live heartbeat", None if s.workers is None else sum(1 for w in s.workers if w.alive))
        yield _gauge("sse_store_up", "1 when the state store answers", int(cs.store_available))
        if self.counters is not None:
            yield _duration_histogram(self.counters)


def _duration_histogram(c: CleanupCounters) -> HistogramMetricFamily:
    cumulative = 0
    buckets: list[tuple[str, float]] = []
    for bound in DURATION_BUCKETS_SECONDS:
        cumulative += c.duration_buckets.get(bound, 0)
        buckets.append((repr(bound), float(cumulative)))
    total = cumulative + c.duration_buckets.get(float("inf"), 0)
    buckets.append(("+Inf", float(total)))
    return HistogramMetricFamily("sse_cleanup_duration_seconds", "Duration of cleanup runs",
                                 buckets=buckets, sum_value=c.total_duration_ms / 1000.0)


class PodCollector:
    """This process's own series: safe to ``sum()`` across pods (the fleet gauges above are
    the same on every pod: read them with ``max()``)."""

    def __init__(self, pod: Any) -> None:
        self.pod = pod

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        p = self.pod
        yield GaugeMetricFamily("sse_pod_connections", "Streams open in this process", value=p.connections)
        yield CounterMetricFamily("sse_pod_connections_opened", "Streams this process opened", value=p.opened)
        closed = CounterMetricFamily("sse_pod_connections_closed", "Streams this process closed, by reason",
                                     labels=["reason"])
        for reason, n in p.closed.items():
            closed.add_metric([reason], n)
        yield closed
        if p.events_sent is not None:  # unknown (SSE_COUNT_EVENTS off): left out, never 0
            yield CounterMetricFamily("sse_pod_events_sent", "Events this process's streams sent", value=p.events_sent)
        yield CounterMetricFamily("sse_pod_bytes_sent", "Bytes (events and pings) this process's streams sent",
                                  value=p.bytes_sent)


class CollectorAlreadyRegistered(ValueError):
    """:func:`register_collector` was called twice for one registry."""


class CachedCollector:
    """A collector for the app's registry: yields the guide's metrics from the cached
    snapshot (never a store call during a scrape), its age, and the admission counters.

    Before the first refresh only ``sse_metrics_snapshot_age_seconds`` (NaN) and the
    admission counters are exposed: absent gauges are unknown, not zero.

    ``multiprocess`` (default: ``PROMETHEUS_MULTIPROC_DIR`` is set): yield nothing, and
    write every series into prometheus_client's multiprocess files instead, at each
    refresh and every ``process_interval`` seconds for this process's own series, so the
    ``MultiProcessCollector`` of whichever process answers a scrape shows them all
    (:mod:`core.exporters.multiprocess`)."""

    def __init__(self, cache: SnapshotCache, *, multiprocess: bool | None = None, process_interval: float = 1.0) -> None:
        self.cache = cache
        self.multiprocess = mp.multiprocess_dir() is not None if multiprocess is None else multiprocess
        self.process_interval = process_interval
        self._writer_task: asyncio.Task[None] | None = None
        self._warned_workers = False
        cache.on_refresh(self._refreshed)

    def describe(self) -> list[Metric]:
        """Every name it may expose (never samples): a second registration on the same
        registry then fails (prometheus_client checks the names)."""
        return [Metric(name, name, "gauge") for name in (*METRIC_NAMES, *COLLECTOR_METRIC_NAMES)]

    def collect(self) -> Iterator[Metric]:
        if self.multiprocess:
            return  # the MultiProcessCollector reads them from the files
        snap = self.cache.latest
        if snap is not None:
            yield from SnapshotCollector(snap.stats, snap.counters).collect()
        yield from self._process_families(None if snap is None else snap.pod)

    def _process_families(self, pod: Any) -> Iterator[Metric]:
        """This process's own series (the pod's streams, admission, the snapshot's age)."""
        snap = self.cache.latest
        age = math.nan if snap is None else snap.age_seconds()
        yield GaugeMetricFamily("sse_metrics_snapshot_age_seconds", "Seconds since the sse_* gauges were read from the store (NaN: never)", value=age)
        yield CounterMetricFamily("sse_metrics_snapshot_refresh_errors", "Snapshot refreshes that failed or timed out", value=self.cache.refresh_errors)
        if pod is not None:
            yield from PodCollector(pod).collect()
        yield from _admission_metrics()

    def _refreshed(self, snap: Any) -> None:
        if self.multiprocess:
            mp.writer().write_fleet(SnapshotCollector(snap.stats, snap.counters).collect())
        elif not self._warned_workers:
            self._warn_if_workers_share_a_port(snap.stats)

    def _warn_if_workers_share_a_port(self, stats: MonitoringStats) -> None:
        """Several live workers of one host without multiprocess mode: each scrape shows
        the per-process series of whichever one answers (say so, once)."""
        import os
        import socket

        host = socket.gethostname()
        mine = [w for w in stats.workers or () if w.alive and w.host == host]
        if len(mine) > 1 and any(w.pid == os.getpid() for w in mine):
            self._warned_workers = True
            log.warning("SSE metrics: %d live workers on host %s and PROMETHEUS_MULTIPROC_DIR is not set: if they "
                        "share one /metrics port, each scrape shows the sse_pod_* series of whichever worker answers "
                        "(set PROMETHEUS_MULTIPROC_DIR; docs/integration.md, Prometheus)", len(mine), host)

    async def _write_process_loop(self) -> None:
        w = mp.writer()
        n = 0
        while True:
            try:
                manager = await self.cache.manager()
                w.write_process(self._process_families(manager.pod_stats()))
                if n % 10 == 0:
                    w.forget_dead_processes()
            except Exception:
                log.exception("SSE metrics: writing the multiprocess files failed")
            n += 1
            await asyncio.sleep(self.process_interval)

    async def start(self) -> None:
        """Start the background refresher (call in the app's lifespan)."""
        await self.cache.start()
        if self.multiprocess and (self._writer_task is None or self._writer_task.done()):
            self._writer_task = asyncio.create_task(self._write_process_loop(), name="sse-metrics-multiprocess")

    async def stop(self) -> None:
        task, self._writer_task = self._writer_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.cache.stop()


def _admission_metrics() -> Iterator[Metric]:
    from ..admission import admission_stats  # late: admission is optional and imports nothing of this

    a = admission_stats()
    yield CounterMetricFamily("sse_admission_admitted", "SSE requests admission control let through", value=a["admitted"])
    rejected = CounterMetricFamily("sse_admission_rejected", "SSE requests refused by admission control",
                                   labels=["reason"])
    rejected.add_metric(["per_client"], float(a["rejected_per_client"]))
    rejected.add_metric(["total"], float(a["rejected_total"]))
    yield rejected
    yield GaugeMetricFamily("sse_admission_local_connections", "SSE streams admission control let through that are still open",
                            value=a["local_connections"])


def register_collector(source: Any, registry: CollectorRegistry = REGISTRY, *, interval: float = 5.0,
                       timeout: float | None = None) -> CachedCollector:
    """Register the sse_* metrics on ``registry`` (the default one unless given).

    ``source``: a ConnectionManager or an SSEProvider. The snapshot refreshes every
    ``interval`` seconds once :meth:`CachedCollector.start` ran (the app's lifespan, or
    :func:`core.integration.sse_lifespan_for`). Unregister with ``registry.unregister(collector)``.
    A second call for the same registry raises :class:`CollectorAlreadyRegistered` (the
    series would be emitted twice). Under ``PROMETHEUS_MULTIPROC_DIR`` the series go
    through prometheus_client's multiprocess files (see :class:`CachedCollector`).
    """
    collector = CachedCollector(SnapshotCache(source, interval=interval, timeout=timeout))
    try:
        registry.register(collector)
    except ValueError as exc:
        raise CollectorAlreadyRegistered(
            "register_collector: the sse_* metrics are already registered on this registry (register_collector "
            "was called twice, or another collector exposes sse_* names): keep the first collector, or "
            f"registry.unregister() it before registering again ({exc})") from None
    return collector


def render_metrics(stats: MonitoringStats, counters: CleanupCounters | None = None, pod: Any = None) -> bytes:
    """Prometheus text exposition of one snapshot (plus this process's own series)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(stats, counters))
    if pod is not None:
        registry.register(PodCollector(pod))
    return generate_latest(registry)


def export_prometheus_metrics(stats: Mapping[str, Any] | MonitoringStats) -> str:
    """The guide's helper: the monitoring dict (or model) as Prometheus text."""
    model = stats if isinstance(stats, MonitoringStats) else MonitoringStats.model_validate(stats)
    return render_metrics(model).decode()
