"""Fixed, deterministic data: sample ``MonitoringStats`` and an in-memory source.

Used by the snapshot tests and by ``scripts/screenshots.py``; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.models import (
    AgeBucket,
    Alert,
    CleanupResult,
    CleanupStats,
    ConfigurationView,
    ConnectionRecord,
    ConnectionStats,
    HealthIndicators,
    HealthLevel,
    MonitoringStats,
    PerformanceMetrics,
    WorkerInfo,
)
from sse_tui.sources import Snapshot, SourceError

T0 = 1_737_369_000.0  # 2025-01-20T10:30:00Z

_BOUNDS = [0, 60, 300, 900, 1800, 3600, 7200, 21600, 43200, 86400, None]


def sample_stats(health: HealthLevel = "healthy", *, active: int = 150) -> MonitoringStats:
    """The guide's example response, nudged to the requested health level."""
    alerts: list[Alert] = []
    warnings: list[Alert] = []
    redis_counters = active - 2
    error_rate = 2.2
    running = True
    stale, very_old = 2, 3
    validation: list[str] = []
    if health in ("degraded", "unhealthy"):
        stale, very_old = 64, 14
        warnings = [
            Alert(type="stale_connections", message=f"Stale connections accumulating: {stale}", severity="medium", value=stale),
            Alert(type="very_old_connections", message=f"Connections older than 6 hours detected: {very_old}", severity="medium", value=very_old),
        ]
        error_rate = 6.4
        warnings.append(Alert(type="elevated_error_rate", message="Cleanup error rate elevated: 6.4%", severity="medium", value=6.4))
    if health == "unhealthy":
        redis_counters = active + 37
        error_rate = 14.3
        running = False
        warnings = [w for w in warnings if w.type != "elevated_error_rate"]
        alerts = [
            Alert(type="connection_mismatch", message=f"Connection mismatch: {active} active vs {redis_counters} in Redis", severity="high", value=37),
            Alert(type="high_cleanup_error_rate", message="Cleanup error rate 14.3% (>10%)", severity="high", value=14.3),
            Alert(type="cleanup_not_running", message="Periodic cleanup is enabled but not running", severity="high"),
        ]
        validation = ["stale_threshold_seconds (300) is less than 3x ping_interval_seconds (120)"]
    counts = [31, 22, 18, 12, 9, 21, 20, 10, 4, 3]
    if health != "healthy":
        counts = [25, 14, 10, 8, 6, 30, 43, 14, 8, 6]
    buckets = [
        AgeBucket(lower_seconds=lo, upper_seconds=hi, count=c)
        for lo, hi, c in zip(_BOUNDS[:-1], _BOUNDS[1:], counts, strict=True)
    ]
    workers = [
        WorkerInfo(worker_id="web-1:4211", host="web-1", pid=4211, connections=active // 2 + 3, heartbeat_age_seconds=1.2, started_at=T0 - 86000),
        WorkerInfo(worker_id="web-2:4377", host="web-2", pid=4377, connections=active // 2 - 3, heartbeat_age_seconds=2.7, started_at=T0 - 50000),
    ]
    if health == "unhealthy":
        workers.append(WorkerInfo(worker_id="web-3:977", host="web-3", pid=977, connections=0, heartbeat_age_seconds=94.0, started_at=T0 - 7200))
    return MonitoringStats(
        timestamp="2025-01-20T10:30:00Z",
        service_name="sse_connection_manager",
        connection_stats=ConnectionStats(active_connections=active, redis_connection_counters=redis_counters, cleanup_task_running=running),
        cleanup_stats=CleanupStats(
            total_cleanups=45,
            total_connections_cleaned=89,
            cleanup_errors=1 if health == "healthy" else 5,
            failed_connections=3,
            error_rate=error_rate,
            connection_failure_rate=3.3,
            last_cleanup_duration_ms=12.5,
            connections_per_cleanup=1.98,
            stale=stale,
            active=active - stale,
            long_lived=45,
            very_old=very_old,
        ),
        health_indicators=HealthIndicators(overall_health=health, alerts=alerts, warnings=warnings),
        performance_metrics=PerformanceMetrics(
            avg_cleanup_duration_ms=12.5, cleanup_efficiency_rate=96.7, cleanup_error_rate=error_rate, connections_cleaned_per_operation=1.98
        ),
        configuration=ConfigurationView(
            cleanup_interval_seconds=60,
            cleanup_batch_size=10,
            stale_threshold_seconds=300,
            periodic_cleanup_enabled=True,
            ping_interval_seconds=120 if health == "unhealthy" else 15,
            validation_warnings=validation,
        ),
        workers=workers,
        age_histogram=buckets,
    )


def sample_connections(n: int = 12, now: float = T0) -> tuple[ConnectionRecord, ...]:
    """Oldest first, like /monitoring/connections."""
    out = []
    for i in range(n):
        age = 30000 - i * 2400
        out.append(
            ConnectionRecord(
                connection_id=f"c-{i:04d}-{(i * 7919) % 9973:04x}",
                worker_id="web-1:4211" if i % 2 else "web-2:4377",
                host="web-1" if i % 2 else "web-2",
                pid=4211 if i % 2 else 4377,
                channel=("orders", "prices", "default")[i % 3],
                client_address=f"10.0.{i % 4}.{10 + i}",
                user_agent="Mozilla/5.0",
                connected_at=now - age,
                last_activity=now - (400 if i % 4 == 0 else 5 + i),
                events_sent=100 * (n - i),
                bytes_sent=4096 * (n - i),
            )
        )
    return tuple(out)


def sample_snapshot(health: HealthLevel = "healthy", *, active: int = 150) -> Snapshot:
    conns = sample_connections()
    return Snapshot(stats=sample_stats(health, active=active), connections=conns, connections_total=active, poll_ms=14.0, response_bytes=2345)


class ScriptedSource:
    """An in-memory source: plays ``steps`` in order, then repeats the last one.

    A step is a ``Snapshot``, a ``MonitoringStats`` or a ``SourceError`` (raised). Cleanup
    returns ``cleanup_result`` or raises ``cleanup_error``.
    """

    def __init__(
        self,
        steps: Sequence[Snapshot | MonitoringStats | SourceError],
        *,
        name: str = "fixture http://sse.example:8000/monitoring",
        cleanup_result: CleanupResult | None = None,
        cleanup_error: SourceError | None = None,
    ) -> None:
        if not steps:
            raise ValueError("ScriptedSource needs at least one step")
        self.steps = list(steps)
        self.name = name
        self.cleanup_result = cleanup_result or CleanupResult(cleaned=7, failed=1, duration_ms=12.5, batches=1)
        self.cleanup_error = cleanup_error
        self.fetches = 0
        self.cleanups: list[int] = []
        self.closed = False

    def describe(self) -> str:
        return self.name

    async def fetch(self) -> Snapshot:
        step = self.steps[min(self.fetches, len(self.steps) - 1)]
        self.fetches += 1
        if isinstance(step, SourceError):
            raise step
        if isinstance(step, MonitoringStats):
            return Snapshot(stats=step, poll_ms=14.0, response_bytes=2345)
        return step

    async def cleanup(self, batch_size: int) -> CleanupResult:
        self.cleanups.append(batch_size)
        if self.cleanup_error is not None:
            raise self.cleanup_error
        return self.cleanup_result

    async def aclose(self) -> None:
        self.closed = True
