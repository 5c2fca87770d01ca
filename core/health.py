"""PURE health rules: numbers in, (level, alerts, warnings) out.

The rules are the guide's "Health Indicators", each a row of :data:`RULES`-like logic in
:func:`evaluate`. Thresholds come from :class:`HealthThresholds` (configurable via SSE_*).
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import Alert, HealthIndicators, HealthLevel


@dataclass(frozen=True, slots=True)
class HealthThresholds:
    connection_mismatch: int = 10
    alert_error_rate: float = 10.0
    warn_error_rate: float = 5.0
    active_connections: int = 1000
    stale_connections: int = 50
    very_old_connections: int = 10

    @classmethod
    def from_config(cls, cfg: object) -> "HealthThresholds":
        return cls(
            connection_mismatch=cfg.ALERT_CONNECTION_MISMATCH,  # type: ignore[attr-defined]
            alert_error_rate=cfg.ALERT_CLEANUP_ERROR_RATE_PERCENT,  # type: ignore[attr-defined]
            warn_error_rate=cfg.WARN_CLEANUP_ERROR_RATE_PERCENT,  # type: ignore[attr-defined]
            active_connections=cfg.WARN_ACTIVE_CONNECTIONS,  # type: ignore[attr-defined]
            stale_connections=cfg.WARN_STALE_CONNECTIONS,  # type: ignore[attr-defined]
            very_old_connections=cfg.WARN_VERY_OLD_CONNECTIONS,  # type: ignore[attr-defined]
        )


@dataclass(frozen=True, slots=True)
class HealthInputs:
    active_connections: int
    redis_connection_counters: int
    error_rate: float
    cleanup_task_running: bool
    periodic_cleanup_enabled: bool
    stale: int
    very_old: int
    store_available: bool = True
    store_error: str | None = None


def _fmt(x: float) -> str:
    return f"{x:g}"


def evaluate(inp: HealthInputs, th: HealthThresholds = HealthThresholds()) -> HealthIndicators:
    alerts: list[Alert] = []
    warnings: list[Alert] = []

    if not inp.store_available:
        alerts.append(Alert(type="state_store_unavailable",
                            message=f"State store unreachable: {inp.store_error or 'unknown error'}",
                            severity="high", value=inp.store_error or "unavailable"))

    mismatch = abs(inp.active_connections - inp.redis_connection_counters)
    if inp.store_available and mismatch > th.connection_mismatch:
        alerts.append(Alert(type="connection_mismatch",
                            message=(f"Connection count mismatch: active={inp.active_connections}, "
                                     f"redis={inp.redis_connection_counters} (difference {mismatch})"),
                            severity="high", value=mismatch))
    if inp.error_rate > th.alert_error_rate:
        alerts.append(Alert(type="high_cleanup_error_rate",
                            message=f"Cleanup error rate {_fmt(inp.error_rate)}% exceeds {_fmt(th.alert_error_rate)}%",
                            severity="high", value=inp.error_rate))
    if inp.periodic_cleanup_enabled and not inp.cleanup_task_running:
        alerts.append(Alert(type="cleanup_not_running",
                            message="Periodic cleanup is enabled but not running",
                            severity="high", value=False))

    if inp.active_connections > th.active_connections:
        warnings.append(Alert(type="high_connection_count",
                              message=f"High connection count: {inp.active_connections} active (> {th.active_connections})",
                              severity="medium", value=inp.active_connections))
    if th.warn_error_rate < inp.error_rate <= th.alert_error_rate:
        warnings.append(Alert(type="elevated_error_rate",
                              message=f"Elevated cleanup error rate: {_fmt(inp.error_rate)}%",
                              severity="medium", value=inp.error_rate))
    if inp.stale > th.stale_connections:
        warnings.append(Alert(type="stale_connection_accumulation",
                              message=f"Stale connections accumulating: {inp.stale} (> {th.stale_connections})",
                              severity="medium", value=inp.stale))
    if inp.very_old > th.very_old_connections:
        warnings.append(Alert(type="very_old_connections",
                              message=f"Connections older than 6 hours detected: {inp.very_old}",
                              severity="medium", value=inp.very_old))

    level: HealthLevel = "unhealthy" if alerts else ("degraded" if warnings else "healthy")
    return HealthIndicators(overall_health=level, alerts=alerts, warnings=warnings)


HEALTH_STATUS_CODE: dict[str, int] = {"healthy": 0, "degraded": 1, "unhealthy": 2}
