"""Fixed, deterministic data: sample ``MonitoringStats`` and an in-memory source.

Used by the snapshot tests and by ``scripts/screenshots.py``; nothing here does I/O.
Alerts and warnings are produced by the server's own rules (``core.health.evaluate``),
so a snapshot never shows an alert type or message the server cannot send.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

from core.health import HealthInputs, HealthThresholds, evaluate, rule_rows
from core.models import (
    AgeBucket,
    ChannelsPage,
    CleanupResult,
    CleanupStats,
    ConfigurationView,
    ConnectionPage,
    ConnectionRecord,
    ConnectionStats,
    DisconnectResult,
    FleetEvent,
    HealthLevel,
    MonitoringStats,
    PerformanceMetrics,
    ReapResult,
    StoreStatus,
    WorkerInfo,
)
from sse_tui.model import ConnectionQuery, Snapshot, Thresholds
from sse_tui.sources import AuthState, SourceError, _channels_locally, local_page

T0 = 1_737_369_000.0  # 2025-01-20T10:30:00Z

_BOUNDS = [0, 60, 300, 900, 1800, 3600, 7200, 21600, 43200, 86400, None]
Scenario = Literal["healthy", "degraded", "unhealthy", "store_down", "dead_worker"]


def sample_stats(health: HealthLevel | Scenario = "healthy", *, active: int = 150, now: float = T0) -> MonitoringStats:
    """The guide's example response, nudged to the requested scenario (alerts from core.health)."""
    redis_counters = active - 2
    error_rate = 2.2
    running = True
    stale, very_old = 2, 3
    validation: list[str] = []
    store_up = health != "store_down"
    if health in ("degraded", "unhealthy"):
        stale, very_old = 64, 14
        error_rate = 6.4
    if health == "unhealthy":
        redis_counters = active + 37
        error_rate = 14.3
        running = False
        validation = ["stale_threshold_seconds (300) is less than 3x ping_interval_seconds (120)"]
    if health in ("unhealthy", "dead_worker"):
        # the dead worker's 41 connections stay in the registry (and its counter) until cleanup
        # reaps them, while active counts live workers only: the server sees a mismatch
        redis_counters = active + 41
    indicators = evaluate(HealthInputs(
        active_connections=active if store_up else None,
        redis_connection_counters=redis_counters if store_up else None,
        error_rate=error_rate,
        cleanup_task_running=running,
        periodic_cleanup_enabled=True,
        stale=stale if store_up else None,
        very_old=very_old if store_up else None,
        store_available=store_up,
        store_error=None if store_up else "connection refused",
        error_rate_window=error_rate,
        error_rate_window_seconds=3600.0,
    ))
    counts = [31, 22, 18, 12, 9, 21, 20, 10, 4, 3]
    if health in ("degraded", "unhealthy"):
        counts = [25, 14, 10, 8, 6, 30, 43, 14, 8, 6]
    buckets = [
        AgeBucket(lower_seconds=lo, upper_seconds=hi, count=c)
        for lo, hi, c in zip(_BOUNDS[:-1], _BOUNDS[1:], counts, strict=True)
    ]
    workers: list[WorkerInfo] | None = [
        WorkerInfo(worker_id="web-1:4211", host="web-1", pid=4211, connections=active // 2 + 3, heartbeat_age_seconds=1.2, started_at=T0 - 86000),
        WorkerInfo(worker_id="web-2:4377", host="web-2", pid=4377, connections=active // 2 - 3, heartbeat_age_seconds=2.7, started_at=T0 - 50000),
    ]
    if health in ("unhealthy", "dead_worker") and workers is not None:
        workers.append(WorkerInfo(worker_id="web-3:977", host=None, pid=None, connections=41, heartbeat_age_seconds=94.0,
                                  started_at=T0 - 7200, alive=False))
    events: list[FleetEvent] = []
    if health == "dead_worker":
        events = [FleetEvent(at=now - 40, type="cleanup", message="cleanup removed 12 stale connections", count=12),
                  FleetEvent(at=now - 8, type="disconnect", message="connection c-0003 disconnected", count=1)]
    cs = ConnectionStats(active_connections=active, redis_connection_counters=redis_counters, cleanup_task_running=running)
    cl = CleanupStats(
        total_cleanups=45, total_connections_cleaned=89, cleanup_errors=1 if health == "healthy" else 5,
        failed_connections=3, error_rate=error_rate, connection_failure_rate=3.3, last_cleanup_duration_ms=12.5,
        connections_per_cleanup=1.98, stale=stale, active=active - stale, long_lived=45, very_old=very_old,
    )
    pm = PerformanceMetrics(avg_cleanup_duration_ms=12.5, cleanup_efficiency_rate=96.7, cleanup_error_rate=error_rate,
                            connections_cleaned_per_operation=1.98)
    store = StoreStatus()
    if not store_up:
        cs = ConnectionStats(active_connections=None, redis_connection_counters=None, cleanup_task_running=None,
                             store_available=False)
        cl = CleanupStats(**{k: None for k in CleanupStats.model_fields})
        pm = PerformanceMetrics(**{k: None for k in PerformanceMetrics.model_fields})
        store = StoreStatus(state="unreachable", reason="connection refused", since=now - 25, last_ok=now - 25)
        workers = None
        buckets = []
    return MonitoringStats(
        timestamp="2025-01-20T10:30:00Z",
        service_name="sse_connection_manager",
        connection_stats=cs,
        cleanup_stats=cl,
        health_indicators=indicators,
        performance_metrics=pm,
        configuration=ConfigurationView(
            cleanup_interval_seconds=60,
            cleanup_batch_size=10,
            stale_threshold_seconds=300,
            periodic_cleanup_enabled=True,
            ping_interval_seconds=120 if health == "unhealthy" else 15,
            validation_warnings=validation,
            long_lived_seconds=3600, very_old_seconds=21600, worker_heartbeat_ttl_seconds=15,
            touch_flush_interval_seconds=1,
        ),
        workers=workers,
        age_histogram=buckets,
        store_status=store,
        health_rules=rule_rows(HealthThresholds()),
        recent_events=events,
        now=now,
    )


def sample_connections(n: int = 12, now: float = T0) -> tuple[ConnectionRecord, ...]:
    """Oldest first, like /monitoring/connections."""
    out = []
    for i in range(n):
        age = 30000 - (i * 2400) % 29000
        out.append(
            ConnectionRecord(
                connection_id=f"c-{i:04d}-{(i * 7919) % 9973:04x}",
                worker_id="web-1:4211" if i % 2 else "web-2:4377",
                host="web-1" if i % 2 else "web-2",
                pid=4211 if i % 2 else 4377,
                channel=("orders", "prices", "default")[i % 3],
                client_address=f"10.0.{i % 4}.{10 + i % 240}",
                user_agent="Mozilla/5.0",
                connected_at=now - age,
                last_activity=now - (400 if i % 4 == 0 else 5 + i % 50),
                events_sent=100 * (n - i),
                bytes_sent=4096 * (n - i),
            )
        )
    return tuple(out)


def sample_snapshot(health: HealthLevel | Scenario = "healthy", *, active: int = 150) -> Snapshot:
    return Snapshot(stats=sample_stats(health, active=active), poll_ms=14.0, response_bytes=2345)


class ScriptedSource:
    """An in-memory source: plays ``steps`` in order, then repeats the last one.

    A step is a ``Snapshot``, a ``MonitoringStats`` or a ``SourceError`` (raised). It pages
    ``connections`` with the server's rules (``local_page``), and records every action.
    """

    def __init__(
        self,
        steps: Sequence[Snapshot | MonitoringStats | SourceError],
        *,
        name: str = "fixture http://sse.example:8000/monitoring",
        cleanup_result: CleanupResult | None = None,
        cleanup_error: SourceError | None = None,
        connections: Sequence[ConnectionRecord] | None = None,
        auth: AuthState = "ok",
    ) -> None:
        if not steps:
            raise ValueError("ScriptedSource needs at least one step")
        self.steps = list(steps)
        self.name = name
        self.cleanup_result = cleanup_result or CleanupResult(cleaned=7, failed=1, duration_ms=12.5, batches=1)
        self.cleanup_error = cleanup_error
        self.records = list(sample_connections() if connections is None else connections)
        self.auth = auth
        self.fetches = 0
        self.cleanups: list[int] = []
        self.disconnects: list[str] = []
        self.reaps: list[str] = []
        self.queries: list[ConnectionQuery] = []
        self.closed = False

    def describe(self) -> str:
        return self.name

    def _stats(self) -> MonitoringStats:
        for step in reversed(self.steps[: max(self.fetches, 1)]):
            if isinstance(step, Snapshot):
                return step.stats
            if isinstance(step, MonitoringStats):
                return step
        return sample_stats()

    def _now(self) -> float:
        return self._stats().now or T0

    async def fetch(self) -> Snapshot:
        step = self.steps[min(self.fetches, len(self.steps) - 1)]
        self.fetches += 1
        if isinstance(step, SourceError):
            raise step
        if isinstance(step, MonitoringStats):
            return Snapshot(stats=step, poll_ms=14.0, response_bytes=2345)
        return step

    async def list_connections(self, query: ConnectionQuery) -> ConnectionPage:
        self.queries.append(query)
        return local_page(self.records, query, self._now(), Thresholds.from_config(self._stats().configuration))

    async def connection(self, connection_id: str) -> ConnectionRecord | None:
        return next((r for r in self.records if r.connection_id == connection_id), None)

    async def channels(self) -> ChannelsPage:
        return _channels_locally(self.records, self._now(), self._stats().configuration.stale_threshold_seconds)

    async def check_auth(self) -> AuthState:
        return self.auth

    async def cleanup(self, batch_size: int) -> CleanupResult:
        self.cleanups.append(batch_size)
        if self.cleanup_error is not None:
            raise self.cleanup_error
        return self.cleanup_result

    async def disconnect(self, connection_id: str) -> DisconnectResult:
        self.disconnects.append(connection_id)
        before = len(self.records)
        self.records = [r for r in self.records if r.connection_id != connection_id]
        if len(self.records) == before:
            raise SourceError("disconnect refused: no such connection (already gone?)")
        return DisconnectResult(connection_id=connection_id, removed=True, closed_locally=True)

    async def reap_worker(self, worker_id: str) -> ReapResult:
        self.reaps.append(worker_id)
        removed = [r for r in self.records if r.worker_id == worker_id]
        self.records = [r for r in self.records if r.worker_id != worker_id]
        return ReapResult(worker_id=worker_id, removed=len(removed))

    async def aclose(self) -> None:
        self.closed = True


def with_page(snapshot: Snapshot, page: ConnectionPage | None) -> Snapshot:
    return dataclasses.replace(snapshot, page=page)
