"""Pydantic models of the wire contract.

The shape of :class:`MonitoringStats` is the guide's "Complete Monitoring Response"
(``shared/spec/sse_monitoring_guide.md``): every key the guide lists, at the same
nesting, with the same meaning. A few keys are *added* (never renamed) so the dashboard
can show more: ``workers``, ``age_histogram``, ``configuration.ping_interval_seconds``
and ``configuration.validation_warnings``, ``connection_stats.store_available``.
They all have defaults, so a response that carries only the guide's keys validates too.

The dashboard validates what it polls with these same models (``extra="ignore"`` so a
newer server does not break an older dashboard).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

HealthLevel = Literal["healthy", "degraded", "unhealthy"]
Severity = Literal["high", "medium", "low"]
ConnectionState = Literal["stale", "active", "long_lived", "very_old", "all"]

HEALTH_LEVELS: tuple[HealthLevel, ...] = ("healthy", "degraded", "unhealthy")


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ConnectionStats(_Wire):
    active_connections: int = Field(ge=0)
    redis_connection_counters: int = Field(ge=0)
    cleanup_task_running: bool
    store_available: bool = True


class CleanupStats(_Wire):
    total_cleanups: int = Field(ge=0)
    total_connections_cleaned: int = Field(ge=0)
    cleanup_errors: int = Field(ge=0)
    failed_connections: int = Field(ge=0)
    error_rate: float = Field(ge=0)
    connection_failure_rate: float = Field(ge=0)
    last_cleanup_duration_ms: float = Field(ge=0)
    connections_per_cleanup: float = Field(ge=0)
    stale: int = Field(ge=0)
    active: int = Field(ge=0)
    long_lived: int = Field(ge=0)
    very_old: int = Field(ge=0)


class Alert(_Wire):
    type: str
    message: str
    severity: Severity
    value: float | int | str | None = None


class HealthIndicators(_Wire):
    overall_health: HealthLevel
    alerts: list[Alert] = Field(default_factory=list)
    warnings: list[Alert] = Field(default_factory=list)


class PerformanceMetrics(_Wire):
    avg_cleanup_duration_ms: float = Field(ge=0)
    cleanup_efficiency_rate: float = Field(ge=0)
    cleanup_error_rate: float = Field(ge=0)
    connections_cleaned_per_operation: float = Field(ge=0)


class ConfigurationView(_Wire):
    cleanup_interval_seconds: float
    cleanup_batch_size: int
    stale_threshold_seconds: float
    periodic_cleanup_enabled: bool
    ping_interval_seconds: float | None = None
    validation_warnings: list[str] = Field(default_factory=list)


class WorkerInfo(_Wire):
    worker_id: str
    host: str
    pid: int
    connections: int = Field(ge=0)
    heartbeat_age_seconds: float = Field(ge=0)
    started_at: float | None = None
    alive: bool = True
    cleanup_running: bool = False


class AgeBucket(_Wire):
    """Connections whose age (now - connected_at) lies in [lower, upper) seconds."""

    lower_seconds: float
    upper_seconds: float | None  # None: no upper bound
    count: int = Field(ge=0)


class MonitoringStats(_Wire):
    timestamp: str
    service_name: str
    connection_stats: ConnectionStats
    cleanup_stats: CleanupStats
    health_indicators: HealthIndicators
    performance_metrics: PerformanceMetrics
    configuration: ConfigurationView
    workers: list[WorkerInfo] = Field(default_factory=list)
    age_histogram: list[AgeBucket] = Field(default_factory=list)


class ConnectionRecord(_Wire):
    """One registered SSE stream, as stored and as listed by /monitoring/connections."""

    connection_id: str
    worker_id: str
    host: str
    pid: int
    channel: str = "default"
    client_address: str = ""
    user_agent: str = ""
    connected_at: float
    last_activity: float
    events_sent: int = 0
    bytes_sent: int = 0


class CleanupResult(_Wire):
    """What one cleanup run did (the POST /monitoring/cleanup body)."""

    cleaned: int = Field(ge=0)
    failed: int = Field(ge=0)
    duration_ms: float = Field(ge=0)
    batches: int = Field(default=0, ge=0)
    dead_workers_reaped: int = Field(default=0, ge=0)
    error: str | None = None


# ---------------------------------------------------------------------------
# Internal value objects passed between the manager and a store (not on the wire).


@dataclass(frozen=True, slots=True)
class AgeCounts:
    """Registry totals and the guide's four age classes."""

    total: int
    stale: int
    long_lived: int
    very_old: int

    @property
    def active(self) -> int:
        return max(self.total - self.stale, 0)


@dataclass(frozen=True, slots=True)
class CleanupCounters:
    """Fleet-wide cleanup counters as a store keeps them."""

    total_cleanups: int = 0
    total_connections_cleaned: int = 0
    cleanup_errors: int = 0
    failed_connections: int = 0
    last_cleanup_duration_ms: float = 0.0
    total_duration_ms: float = 0.0
    consecutive_errors: int = 0
    duration_buckets: dict[float, int] = field(default_factory=dict)  # upper bound (s) -> runs in that bucket (not cumulative)


class Touch(NamedTuple):
    """Accumulated activity of one connection since the last flush (a tuple: thousands are
    made per flush)."""

    at: float
    events: int = 0
    bytes: int = 0


@dataclass(frozen=True, slots=True)
class WorkerHeartbeat:
    worker_id: str
    host: str
    pid: int
    connections: int
    heartbeat_at: float
    started_at: float
    cleanup_running: bool = False
