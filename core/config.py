"""Configuration from ``SSE_*`` environment variables (pydantic-settings).

Field names are the guide's upper-case names, so ``sse_config.CLEANUP_INTERVAL_SECONDS``
reads and assigns as the guide shows (assignment is validated). Impossible values
(negative, zero, not a number) raise one :class:`ConfigError` naming every bad field;
merely questionable values are returned by :func:`validation_warnings` and logged on
startup in the guide's format.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "SSE_"
MAX_REDIS_SHARDS = 256  # a census costs one round trip per shard


class ConfigError(ValueError):
    """Raised when configuration values are impossible. The message names every bad field."""

    def __init__(self, errors: list[tuple[str, str, object]]):
        self.errors = errors
        lines = [f"{ENV_PREFIX}{name}={value!r}: {reason}" for name, reason, value in errors]
        fields = ", ".join(ENV_PREFIX + name for name, _, _ in errors)
        super().__init__(f"Invalid SSE configuration ({len(errors)} bad field(s): {fields}):\n  " + "\n  ".join(lines))


class SSEConfig(BaseSettings):
    """All settings. Every field is read from ``SSE_<FIELD>`` (case-insensitive)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        case_sensitive=False,
        validate_assignment=True,
        extra="ignore",
        hide_input_in_errors=True,
        allow_inf_nan=False,  # inf/nan cannot be carried by JSON and make no sense as a setting
    )

    # --- the guide's cleanup settings
    CLEANUP_INTERVAL_SECONDS: float = Field(60.0, gt=0, description="Seconds between periodic cleanups")
    CLEANUP_BATCH_SIZE: int = Field(10, gt=0, description="Connections removed per Redis round trip")
    STALE_CONNECTION_THRESHOLD_SECONDS: float = Field(300.0, gt=0, description="Idle seconds before a connection is stale")
    PING_INTERVAL_SECONDS: float = Field(15.0, gt=0, description="Seconds between SSE pings on idle streams")
    PERIODIC_CLEANUP_ENABLED: bool = Field(True, description="Run the periodic cleanup task")

    # --- state store
    REDIS_URL: SecretStr | None = Field(None, frozen=True, description="redis:// or rediss:// URL; unset = in-memory store (fixed at start)")
    REDIS_NAMESPACE: str = Field("sse", min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$", frozen=True, description="Key namespace (also the Cluster hash tag; fixed at start)")
    REDIS_TIMEOUT_SECONDS: float = Field(2.0, gt=0, description="Socket timeout for Redis commands")
    REDIS_SHARDS: int = Field(1, ge=1, le=MAX_REDIS_SHARDS, frozen=True, description="Hash tags the registry is spread over (a Redis Cluster holds them on several nodes; 1 = one slot, the unsharded layout; fixed at start)")

    # --- fleet
    WORKER_HEARTBEAT_TTL_SECONDS: float = Field(15.0, gt=0, description="A worker whose heartbeat is older is dead")
    WORKER_LATE_SECONDS: float | None = Field(None, gt=0, description="A worker whose heartbeat is older is LATE (default: two flush intervals; less than the TTL)")
    CLOCK_SKEW_TOLERANCE_SECONDS: float = Field(5.0, ge=0, description="A heartbeat or timestamp further in the future than this is bad data")
    COUNTS_WRITES_PER_SECOND: float = Field(10_000.0, gt=0, description="Per-connection count writes the fleet may send Redis per second: the counts cadence stretches only as far as this budget needs")
    TOUCH_FLUSH_INTERVAL_SECONDS: float = Field(1.0, gt=0, description="Batched activity flush (and heartbeat) period")
    ACTIVITY_RESOLUTION_SECONDS: float | None = Field(None, ge=0, description="A streaming connection's stored activity is rewritten only when it moved by more (default: stale threshold / 10)")
    REGISTER_WAIT_SECONDS: float = Field(0.02, ge=0, le=5, description="Longest a new stream's headers wait for its registration (it goes on in the background)")

    # --- streams
    RECONNECT_WINDOW_SECONDS: float = Field(60.0, gt=0, description="A connect from a client (address without port, user agent) whose stream closed or was cut this recently is a reconnect")
    BLAST_WINDOW_SECONDS: float = Field(10.0, gt=0, description="A stream cut by a death, reap, cleanup or disconnect is back when the same client (address without port, user agent) connects again this soon after the cut")
    CONNECT_RATE_WINDOW_SECONDS: float = Field(10.0, ge=1, description="Connects per second and the reconnect share are measured over this window")
    NOT_READING_SECONDS: float = Field(5.0, gt=0, description="A stream whose kernel send queue holds bytes the client does not acknowledge (or grows at every read) this long is flagged not reading")
    SEND_TIMEOUT_SECONDS: float = Field(10.0, gt=0, description="A send that blocks longer closes the stream")
    MAX_CONNECTION_LIFETIME_SECONDS: float | None = Field(None, gt=0, description="Close streams after this long (clients reconnect)")
    MAX_CONNECTION_LIFETIME_JITTER_SECONDS: float = Field(0.0, ge=0, description="Random extra lifetime, spreads reconnects")
    COUNT_EVENTS: bool = Field(False, description="Count each stream's events: a Python call per message sent, 3–8 % more CPU per event (docs/benchmarks.md). Off: where the kernel counts bytes (Linux TCP) a stream runs with the server's own send and its events_sent is null with events_sent_reason (unknown, never 0); sse_pod_events_sent_total is left out. Where the kernel cannot count (not Linux, a proxy) events are counted either way")

    # --- monitoring endpoints
    SERVICE_NAME: str = Field("sse_connection_manager", min_length=1)
    MONITORING_TOKEN: SecretStr | None = Field(None, description="Bearer token for POST /monitoring/cleanup")
    MONITORING_READ_REQUIRES_TOKEN: bool = Field(False, description="Require the token on read endpoints too")
    MONITORING_CONNECTIONS_PUBLIC: bool = Field(False, description="Serve connection listings (client addresses, user agents) without the token")
    MONITORING_MAX_PAGE_SIZE: int = Field(500, gt=0, description="Upper bound of /monitoring/connections?limit=")

    # --- health thresholds (the guide's defaults)
    ALERT_CONNECTION_MISMATCH: int = Field(10, ge=0, description="Alert when |active - redis| exceeds this")
    ALERT_MISMATCH_FOR_SECONDS: float = Field(5.0, ge=0, description="...for longer than this (registration and flush explain shorter ones)")
    ALERT_CONSECUTIVE_CLEANUP_ERRORS: int = Field(3, ge=1, description="Alert when this many cleanup runs fail in a row")
    ERROR_RATE_WINDOW_SECONDS: float = Field(600.0, gt=0, description="Window of the cleanup error rate that alerts and warnings use")
    ALERT_ERROR_RATE_MIN_RUNS: int = Field(5, ge=1, description="The cleanup error rate is judged only over at least this many runs in the window")
    ALERT_CLEANUP_ERROR_RATE_PERCENT: float = Field(10.0, ge=0, le=100)
    WARN_CLEANUP_ERROR_RATE_PERCENT: float = Field(5.0, ge=0, le=100)
    WARN_ACTIVE_CONNECTIONS: int = Field(1000, ge=0)
    WARN_STALE_CONNECTIONS: int = Field(50, ge=0)
    WARN_RECONNECTS_PER_SECOND: float = Field(50.0, ge=0, description="reconnect_storm warns above this many reconnects per second for the fleet (over CONNECT_RATE_WINDOW_SECONDS)")
    WARN_VERY_OLD_CONNECTIONS: int = Field(10, ge=0)
    LONG_LIVED_SECONDS: float = Field(3600.0, gt=0, description="Connections older than this are long-lived")
    VERY_OLD_SECONDS: float = Field(21600.0, gt=0, description="Connections older than this are very old")

    # --- logs
    LOG_FORMAT: Literal["text", "json"] = Field("text", description="text: the guide's key=value lines; json: JSON lines")
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # --- admission control (core.admission; unset = no cap)
    ADMISSION_MAX_PER_CLIENT: int | None = Field(None, gt=0, description="Concurrent SSE streams one client address may hold on this worker (429 beyond)")
    ADMISSION_MAX_TOTAL: int | None = Field(None, gt=0, description="SSE streams the fleet may hold (503 beyond); other workers' counts come from a cached census")
    ADMISSION_RETRY_AFTER_SECONDS: int = Field(5, gt=0, description="Retry-After sent with 429/503")
    ADMISSION_CENSUS_INTERVAL_SECONDS: float = Field(2.0, gt=0, description="Refresh period of the fleet census ADMISSION_MAX_TOTAL reads")
    # --- fleet history (core.history): samples in the store, tiers, trend and baseline rules
    HISTORY_ENABLED: bool = Field(True, description="Workers record one fleet sample per interval in the store")
    HISTORY_INTERVAL_SECONDS: float = Field(10.0, gt=0, description="Seconds between fleet samples (the raw tier's step)")
    HISTORY_RAW_RETENTION_SECONDS: float = Field(86400.0, gt=0, description="How long raw samples are kept")
    HISTORY_ROLLUP_SECONDS: float = Field(300.0, gt=0, description="Step of the rollup tier (min/max/last per step)")
    HISTORY_ROLLUP_RETENTION_SECONDS: float = Field(1209600.0, gt=0, description="How long rollup points are kept")
    ALERT_CLEANUP_DURATION_MS: float = Field(100.0, ge=0, description="Warn when every cleanup in the sustained window took longer")
    CLEANUP_DURATION_SUSTAINED_SECONDS: float = Field(300.0, gt=0, description="Window of the sustained cleanup duration rule")
    ERROR_RATE_TREND_WINDOW_SECONDS: float = Field(3600.0, gt=0, description="Window of the error-rate slope")
    ALERT_ERROR_RATE_SLOPE_PERCENT_PER_HOUR: float = Field(5.0, ge=0, description="Warn when the error rate climbs faster (points/hour)")
    BASELINE_DAYS: int = Field(7, ge=1, description="Previous days that make the connections baseline")
    BASELINE_WINDOW_SECONDS: float = Field(1800.0, gt=0, description="Width of the time-of-day window of the baseline")
    BASELINE_MIN_DAYS: int = Field(3, ge=1, description="Days of history before the baseline rule judges")
    WARN_BASELINE_DEVIATION_PERCENT: float = Field(25.0, ge=0, description="Warn when connections lie this far outside p10-p90")
    CAPACITY_CONNECTIONS: int = Field(0, ge=0, description="Connections the fleet can hold (0: not configured, no forecast)")
    GROWTH_WINDOW_DAYS: float = Field(7.0, gt=0, description="Window of the connection growth trend")
    WARN_DAYS_TO_CAPACITY: float = Field(30.0, ge=0, description="Warn when capacity is reached sooner at the current growth")

    @model_validator(mode="after")
    def _relations(self) -> "SSEConfig":
        errors: list[tuple[str, str, object]] = []
        if self.WARN_CLEANUP_ERROR_RATE_PERCENT > self.ALERT_CLEANUP_ERROR_RATE_PERCENT:
            errors.append(("WARN_CLEANUP_ERROR_RATE_PERCENT", "must not exceed ALERT_CLEANUP_ERROR_RATE_PERCENT", self.WARN_CLEANUP_ERROR_RATE_PERCENT))
        if self.ACTIVITY_RESOLUTION_SECONDS is not None and \
                self.ACTIVITY_RESOLUTION_SECONDS >= self.STALE_CONNECTION_THRESHOLD_SECONDS / 2:
            errors.append(("ACTIVITY_RESOLUTION_SECONDS", "must be less than half of STALE_CONNECTION_THRESHOLD_SECONDS",
                           self.ACTIVITY_RESOLUTION_SECONDS))
        if self.WORKER_LATE_SECONDS is not None and self.WORKER_LATE_SECONDS >= self.WORKER_HEARTBEAT_TTL_SECONDS:
            errors.append(("WORKER_LATE_SECONDS", "must be less than WORKER_HEARTBEAT_TTL_SECONDS", self.WORKER_LATE_SECONDS))
        if self.VERY_OLD_SECONDS < self.LONG_LIVED_SECONDS:
            errors.append(("VERY_OLD_SECONDS", "must not be less than LONG_LIVED_SECONDS", self.VERY_OLD_SECONDS))
        if errors:
            raise ConfigError(errors)
        return self

    # convenience
    @property
    def redis_url(self) -> str | None:
        return self.REDIS_URL.get_secret_value() if self.REDIS_URL else None

    @property
    def monitoring_token(self) -> str | None:
        return self.MONITORING_TOKEN.get_secret_value() if self.MONITORING_TOKEN else None

    @property
    def worker_late_seconds(self) -> float:
        """Heartbeat age past which a worker is LATE: ``WORKER_LATE_SECONDS``, or two flush
        intervals, never the TTL or more (it would never be seen before DEAD)."""
        if self.WORKER_LATE_SECONDS is not None:
            return self.WORKER_LATE_SECONDS
        return min(2.0 * self.TOUCH_FLUSH_INTERVAL_SECONDS, 0.5 * self.WORKER_HEARTBEAT_TTL_SECONDS)


def load_config(**overrides: object) -> SSEConfig:
    """Build the config from the environment plus ``overrides``.

    Raises :class:`ConfigError` listing every bad field (pydantic's errors translated once here).
    """
    try:
        return SSEConfig(**overrides)  # type: ignore[arg-type]
    except ConfigError:
        raise
    except ValidationError as exc:
        errors: list[tuple[str, str, object]] = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "config"
            if err["type"] == "value_error" and isinstance(err.get("ctx", {}).get("error"), ConfigError):
                errors.extend(err["ctx"]["error"].errors)
                continue
            value = err.get("input")
            if "REDIS_URL" in name.upper() or "TOKEN" in name.upper():
                value = "***"
            errors.append((name.upper(), err["msg"], value))
        raise ConfigError(errors) from None


def validation_warnings(cfg: SSEConfig) -> list[str]:
    """The guide's startup checks, as human-readable warnings (empty list = valid)."""
    warnings: list[str] = []
    interval = cfg.CLEANUP_INTERVAL_SECONDS
    if interval < 10:
        warnings.append(f"cleanup interval too short ({interval:g}s < 10s): cleanup will load Redis constantly")
    elif interval > 300:
        warnings.append(f"cleanup interval too long ({interval:g}s > 300s): stale connections linger")
    batch = cfg.CLEANUP_BATCH_SIZE
    if batch < 1:
        warnings.append(f"batch size too small ({batch} < 1)")
    elif batch > 100:
        warnings.append(f"batch size too large ({batch} > 100): one Lua call holds Redis longer")
    stale = cfg.STALE_CONNECTION_THRESHOLD_SECONDS
    if stale < 2 * interval:
        warnings.append(f"stale threshold ({stale:g}s) is less than 2x cleanup interval ({2 * interval:g}s)")
    if stale < 3 * cfg.PING_INTERVAL_SECONDS:
        warnings.append(f"stale threshold ({stale:g}s) is less than 3x ping interval ({3 * cfg.PING_INTERVAL_SECONDS:g}s): live idle streams may be cleaned")
    return warnings


# What a worker publishes for observers (sse-dash --redis): behaviour, never secrets or addresses.
FLEET_SETTINGS = (
    "CLEANUP_INTERVAL_SECONDS", "CLEANUP_BATCH_SIZE", "STALE_CONNECTION_THRESHOLD_SECONDS", "PING_INTERVAL_SECONDS",
    "PERIODIC_CLEANUP_ENABLED", "REDIS_SHARDS", "WORKER_HEARTBEAT_TTL_SECONDS", "WORKER_LATE_SECONDS", "CLOCK_SKEW_TOLERANCE_SECONDS",
    "COUNTS_WRITES_PER_SECOND", "TOUCH_FLUSH_INTERVAL_SECONDS", "SERVICE_NAME", "ALERT_ERROR_RATE_MIN_RUNS",
    "ALERT_CONNECTION_MISMATCH", "ALERT_CLEANUP_ERROR_RATE_PERCENT", "WARN_CLEANUP_ERROR_RATE_PERCENT",
    "WARN_ACTIVE_CONNECTIONS", "WARN_STALE_CONNECTIONS", "WARN_VERY_OLD_CONNECTIONS", "LONG_LIVED_SECONDS",
    "WARN_RECONNECTS_PER_SECOND", "RECONNECT_WINDOW_SECONDS", "CONNECT_RATE_WINDOW_SECONDS", "BLAST_WINDOW_SECONDS",
    "VERY_OLD_SECONDS", "ACTIVITY_RESOLUTION_SECONDS", "NOT_READING_SECONDS", "ALERT_MISMATCH_FOR_SECONDS", "ALERT_CONSECUTIVE_CLEANUP_ERRORS", "ERROR_RATE_WINDOW_SECONDS",
    # fleet history
    "HISTORY_ENABLED", "HISTORY_INTERVAL_SECONDS", "HISTORY_RAW_RETENTION_SECONDS", "HISTORY_ROLLUP_SECONDS",
    "HISTORY_ROLLUP_RETENTION_SECONDS", "ALERT_CLEANUP_DURATION_MS", "CLEANUP_DURATION_SUSTAINED_SECONDS",
    "ERROR_RATE_TREND_WINDOW_SECONDS", "ALERT_ERROR_RATE_SLOPE_PERCENT_PER_HOUR", "BASELINE_DAYS",
    "BASELINE_WINDOW_SECONDS", "BASELINE_MIN_DAYS", "WARN_BASELINE_DEVIATION_PERCENT", "CAPACITY_CONNECTIONS",
    "GROWTH_WINDOW_DAYS", "WARN_DAYS_TO_CAPACITY",
)


def fleet_settings(cfg: SSEConfig) -> dict[str, str]:
    """The settings observers judge the fleet by (unset optional ones are left out, so the
    observer's default applies as it does on the workers)."""
    return {name: str(getattr(cfg, name)) for name in FLEET_SETTINGS if getattr(cfg, name) is not None}


def describe_valid(cfg: SSEConfig) -> str:
    """The guide's success line (without the leading message text)."""
    return (
        f"cleanup_interval={cfg.CLEANUP_INTERVAL_SECONDS:g}s, batch_size={cfg.CLEANUP_BATCH_SIZE}, "
        f"stale_threshold={cfg.STALE_CONNECTION_THRESHOLD_SECONDS:g}s, ping_interval={cfg.PING_INTERVAL_SECONDS:g}s"
    )


_config: SSEConfig | None = None


def get_config() -> SSEConfig:
    """The process-wide config (loaded from the environment on first use)."""
    global _config
    if _config is None:
        _config = load_config()
    return _config


def set_config(cfg: SSEConfig | None) -> None:
    """Replace the process-wide config (``None``: reload from the environment next time)."""
    global _config
    _config = cfg


def __getattr__(name: str) -> SSEConfig:
    # ``from core.config import sse_config`` gives the process-wide config, as in the guide.
    if name == "sse_config":
        return get_config()
    raise AttributeError(name)
