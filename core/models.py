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
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, computed_field

HealthLevel = Literal["healthy", "degraded", "unhealthy"]
Severity = Literal["high", "medium", "low"]
ConnectionState = Literal["stale", "active", "long_lived", "very_old", "all"]

HEALTH_LEVELS: tuple[HealthLevel, ...] = ("healthy", "degraded", "unhealthy")


# the one wording of why a stream's events_sent is null (ConnectionRecord.events_sent_reason,
# the dashboard's "not counted", the docs)
EVENTS_NOT_COUNTED = "not counted: SSE_COUNT_EVENTS is off on its worker (the kernel counts its bytes)"


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ConnectionStats(_Wire):
    """``None`` for a number means *unknown* (the store could not be read): never 0."""

    active_connections: int | None = Field(ge=0)
    redis_connection_counters: int | None = Field(ge=0)
    cleanup_task_running: bool | None
    store_available: bool = True


StoreState = Literal["up", "unreachable", "refusing_writes", "connecting", "error"]  # error: answers with errors
# Whether the registry's numbers stand for now (core.liveness decides):
#   settled    - every live worker's connections are in the registry: numbers are exact
#   settling   - the store is back after an outage; not every live worker has resynced yet
#   rebuilding - the store lost the fleet's data; not every live worker has re-registered yet
#   empty      - nothing under the namespace (no worker ever wrote here, or all of it was lost
#                and no worker has come back): nothing to judge
#   unknown    - the store cannot be read
RegistryState = Literal["settled", "settling", "rebuilding", "empty", "unknown"]
REGISTRY_STATES: tuple[RegistryState, ...] = ("settled", "settling", "rebuilding", "empty", "unknown")
# A worker's liveness (core.liveness.worker_state): alive; late (its heartbeat is older than
# two flush intervals: slow, hung or just dead, not yet sure); dead (heartbeat older than the
# TTL, its process seen gone by a worker on its host, or a heartbeat from the future); unknown
# (the store refuses writes or is settling: a missing heartbeat says nothing then).
WorkerState = Literal["alive", "late", "dead", "unknown"]
WORKER_STATES: tuple[WorkerState, ...] = ("alive", "late", "dead", "unknown")


class StoreStatus(_Wire):
    """The state store as this process sees it. ``reason`` never carries an address or secret."""

    state: StoreState = "up"
    reason: str | None = None
    since: float | None = None  # unix seconds when it entered this state (None: always so)
    last_ok: float | None = None  # last time a read and a write both succeeded
    bad_data: list[str] = Field(default_factory=list)  # keys skipped while reading (bad values)


class RegistryStatus(_Wire):
    """Whether the registry's numbers stand for now (``state``: core.models.REGISTRY_STATES).
    While it is not ``settled`` every registry number is ``None`` and the verdict says why."""

    state: RegistryState = "settled"
    reason: str | None = None
    since: float | None = None  # fleet clock: when the store came back / the loss was seen
    pending_workers: list[str] = Field(default_factory=list)  # live workers not yet resynced
    epoch: str | None = None  # the registry's generation (a new one after the store lost its data)
    last_loss_at: float | None = None  # the last time the store was seen to have lost the fleet's data


class CleanupStats(_Wire):
    """``None`` means unknown (store unreachable), never 0."""

    total_cleanups: int | None = Field(ge=0)
    total_connections_cleaned: int | None = Field(ge=0)
    cleanup_errors: int | None = Field(ge=0)
    failed_connections: int | None = Field(ge=0)
    error_rate: float | None = Field(ge=0)
    connection_failure_rate: float | None = Field(ge=0)
    last_cleanup_duration_ms: float | None = Field(ge=0)
    connections_per_cleanup: float | None = Field(ge=0)
    stale: int | None = Field(ge=0)
    active: int | None = Field(ge=0)
    long_lived: int | None = Field(ge=0)
    very_old: int | None = Field(ge=0)
    # added (the guide has the lifetime error_rate only): what the verdict uses
    error_rate_window: float | None = Field(default=None, ge=0)  # percent failed within the window, unrounded
    consecutive_errors: int | None = Field(default=None, ge=0)


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
    avg_cleanup_duration_ms: float | None = Field(ge=0)
    cleanup_efficiency_rate: float | None = Field(ge=0)
    cleanup_error_rate: float | None = Field(ge=0)
    connections_cleaned_per_operation: float | None = Field(ge=0)


class ConfigurationView(_Wire):
    cleanup_interval_seconds: float
    cleanup_batch_size: int
    stale_threshold_seconds: float
    periodic_cleanup_enabled: bool
    ping_interval_seconds: float | None = None
    validation_warnings: list[str] = Field(default_factory=list)
    long_lived_seconds: float | None = None
    very_old_seconds: float | None = None
    worker_heartbeat_ttl_seconds: float | None = None
    touch_flush_interval_seconds: float | None = None
    error_rate_window_seconds: float | None = None
    worker_late_seconds: float | None = None  # a heartbeat older than this is LATE (dead after the TTL)
    activity_resolution_seconds: float | None = None  # last_activity is exact to within this (plus one flush)
    counts_interval_seconds: float | None = None  # a connection's events/bytes are at most this old (plus one flush)
    # SSE_NOT_READING_SECONDS: a stream stuck or falling behind this long is flagged not_reading, and its
    # worker reads its send queue at least twice within it. None: a server from before it was published
    not_reading_seconds: float | None = None
    # how this process counts its streams (core.stream_watch): SSE_COUNT_EVENTS, and its open
    # streams by where their bytes and progress come from: "kernel" (tcp_info, no frame of
    # ours per message), "asgi" (a send wrapper: the kernel could not name the socket),
    # "other" (streams that touch() or count for themselves). None: not known here (an observer)
    count_events: bool | None = None
    stream_counting: dict[str, int] | None = None


class WorkerInfo(_Wire):
    worker_id: str
    host: str | None  # None: unknown (the heartbeat hash expired or was unreadable)
    pid: int | None
    connections: int = Field(ge=0)
    heartbeat_age_seconds: float = Field(ge=0)
    started_at: float | None = None
    alive: bool = True  # not dead (its heartbeat is within the TTL): its connections count as active
    cleanup_running: bool = False
    state: WorkerState = "alive"
    state_reason: str | None = None  # why late / dead / unknown ("no heartbeat for 16 s", "process gone")


class AgeBucket(_Wire):
    """Connections whose age (now - connected_at) lies in [lower, upper) seconds."""

    lower_seconds: float
    upper_seconds: float | None  # None: no upper bound
    count: int = Field(ge=0)


class CutClient(_Wire):
    """One stream a death, reap, cleanup or disconnect cut (core.blast)."""

    client: str  # core.reconnects.client_key: a hash of the address without the port and the user agent
    channel: str = "default"
    user_agent: str = ""
    age_seconds: float = 0.0  # the stream's age when it was cut
    back_after_seconds: float | None = None  # its client connected again this long after the cut (None: not yet)


class BlastRadius(_Wire):
    """Who an event cut and who came back (core.blast): the same client (address without the
    port, user agent) connecting anywhere in the fleet within ``window_seconds`` of the cut."""

    cut: int  # streams cut
    back: int  # ... whose client connected again within the window
    not_back: int  # ... whose client did not (yet, while ``open``)
    window_seconds: float
    open: bool  # the window has not ended: ``not_back`` may still fall
    cut_at: float  # fleet clock; a death: the dead worker last known alive (core.blast.death_time)
    median_back_seconds: float | None = None  # None: nobody back
    not_back_clients: list[CutClient] = Field(default_factory=list)  # the first 100
    listed: int = 0  # cut streams recorded (at most core.blast.MAX_CUT_LISTED; ``cut`` may be more)
    summary: str = ""  # "63 streams cut; 58 back within 10 s, median 2.1 s; 5 not back"


class FleetEvent(_Wire):
    """Something the fleet did (cleanup run, dead worker reaped, connection disconnected)."""

    at: float  # unix seconds (the fleet's clock); for a group or a span: its latest moment
    type: Literal["cleanup", "reap", "disconnect", "store", "death", "outage", "rebuild", "operator"]
    message: str
    count: int = 0
    worker_id: str | None = None
    first_at: float | None = None  # routine cleanups in a row are one event: the first run's time
    runs: int = 1  # ... and how many runs it groups
    until: float | None = None  # a span (an outage, a rebuild): when it ended
    blast_id: str | None = None  # streams it cut are followed (core.blast): ``blast`` is filled when read
    # (a group of routine cleanups: its latest run's)
    blast: BlastRadius | None = None


EVENT_TYPES: tuple[str, ...] = ("cleanup", "reap", "disconnect", "store", "death", "outage", "rebuild", "operator")
# events that are never grouped or pushed out by routine ones (they are also marks on the history)
NOTABLE_EVENTS: frozenset[str] = frozenset({"reap", "disconnect", "death", "outage", "rebuild", "operator", "store"})


class RuleRow(_Wire):
    """One row of the health rule table (core.health.RULES) with the threshold in force."""

    type: str
    kind: Literal["alert", "warning"]
    severity: Severity
    input: str  # the number compared, e.g. "connection_mismatch", "error_rate_window"
    comparison: Literal[">", ">=", "<", "==", "!="]
    threshold: float | int | bool | None
    config_field: str | None  # SSE_<config_field> sets the threshold
    for_seconds: float = 0.0  # hysteresis: must hold this long (for the fleet) before it fires
    min_runs: int | None = None  # a rate is judged only over at least this many runs
    description: str = ""


class TrendEvidence(BaseModel):
    """A history-based verdict (core.history) with the window it looked at. ``value`` None:
    not enough history to judge (unknown, its rule is skipped)."""

    model_config = ConfigDict(extra="ignore")

    type: str  # the HealthInputs field it feeds: cleanup_duration_sustained, error_rate_trend, ...
    value: float | None = None
    fired: bool | None = None  # value compared with threshold (None: unknown)
    threshold: float | None = None
    window_start: float  # unix seconds (the fleet's clock)
    window_end: float
    samples: int = 0  # history points the verdict used
    band_low: float | None = None  # baseline_deviation: the band
    band_high: float | None = None
    growth_per_day: float | None = None  # days_to_capacity: connections per day
    detail: str = ""


class AlertSpan(_Wire):
    """When an alert or warning type held on a history timeline (``end`` None: still on)."""

    type: str
    kind: Literal["alert", "warning"]
    start: float
    end: float | None = None


class HistorySeries(_Wire):
    """``GET /monitoring/history``: columns on buckets ``times[i] .. times[i] + step``.
    ``last`` / ``min`` / ``max``: per field (core.history.NUMERIC), None where no sample."""

    start: float
    end: float
    step: float
    tier_step: float  # resolution of the stored tier that answered
    times: list[float]
    samples: list[int]  # stored samples folded into each bucket
    last: dict[str, list[float | int | None]]
    min: dict[str, list[float | int | None]]
    max: dict[str, list[float | int | None]]
    level: list[str | None]
    error_rate: list[float | None]  # percent of cleanup runs that failed over the trailing rate window
    alerts: list[AlertSpan] = Field(default_factory=list)
    bad_points: int = 0  # stored points that were malformed and skipped
    # worker id -> its connections in each bucket (the last per-worker sample in it; they are
    # stored once a minute): None where unknown (no such sample in the bucket, or the worker
    # was not listed then). Only workers seen in the range, at most core.history.MAX_SERIES_WORKERS
    # (the largest); workers_omitted: how many more were seen. None: the tier that answered
    # keeps no per-worker counts (the rollup tier), not asked for (``?workers=1``,
    # ``history(..., workers=True)``), or a server without them.
    workers: dict[str, list[int | None]] | None = None
    workers_omitted: int = 0
    # the cleanup error rate of every bucket is the highest of the rates at its stored samples,
    # each the percent of runs that failed over the trailing error_rate_window seconds (the
    # same definition as /monitoring's error_rate_window, whatever the range or step)
    error_rate_window: float | None = None
    # per bucket: "ok" (a sample with known numbers), "unknown" (no sample or unknown numbers
    # after the history began: an outage, the fleet down), "none" (no data yet)
    coverage: list[str] = Field(default_factory=list)
    data_from: float | None = None  # the answering tier's first stored sample (None: none)
    marks: list[FleetEvent] = Field(default_factory=list)  # deaths, reaps, cleanups, disconnects, outages


class ConnectRate(_Wire):
    """Connects per second for the fleet over the last ``window_seconds`` (core.reconnects),
    and how many were reconnects (a ``Last-Event-ID`` header, or the same client closed or cut
    within the reconnect window). ``reconnect_share_percent`` None: no connect in the window."""

    window_seconds: float
    connects: int
    reconnects: int
    per_second: float
    reconnects_per_second: float
    reconnect_share_percent: float | None = None


class MonitoringStats(_Wire):
    timestamp: str
    service_name: str
    connection_stats: ConnectionStats
    cleanup_stats: CleanupStats
    health_indicators: HealthIndicators
    performance_metrics: PerformanceMetrics
    configuration: ConfigurationView
    workers: list[WorkerInfo] | None = Field(default_factory=list)  # None: unknown
    age_histogram: list[AgeBucket] = Field(default_factory=list)
    store_status: StoreStatus = Field(default_factory=StoreStatus)
    health_rules: list[RuleRow] = Field(default_factory=list)
    recent_events: list[FleetEvent] = Field(default_factory=list)
    registry: RegistryStatus = Field(default_factory=RegistryStatus)
    now: float | None = None  # the server's clock (unix seconds) when the snapshot was taken
    admission: dict[str, Any] | None = None  # this process's admission control counts (None: not in use)
    performance_trends: list[TrendEvidence] = Field(default_factory=list)  # history verdicts and their windows
    connect_rate: ConnectRate | None = None  # the reconnect-storm meter (None: unknown, e.g. the store is down)
    connect_rate_reason: str | None = None  # why connect_rate is null ("warming up: 3 s of 10 s counted"); None: known


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
    events_sent: int | None = 0  # None: not counted (SSE_COUNT_EVENTS off, bytes counted by the kernel)
    bytes_sent: int = 0
    counts_at: float | None = None  # when events_sent / bytes_sent were taken (fleet clock; None: not known)
    # the kernel's send queue for it (core.queues; None: unknown, e.g. not Linux or behind a proxy),
    # its growth since the read before, how long the client has not been reading, and the flag
    queued_bytes: int | None = None
    queue_growth_bytes: int | None = None
    not_reading_seconds: float | None = None
    not_reading: bool | None = None
    queue_at: float | None = None  # when the queue was read (fleet clock)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def events_sent_reason(self) -> str | None:
        """Why ``events_sent`` is unknown (None where it is counted)."""
        return EVENTS_NOT_COUNTED if self.events_sent is None else None


class ConnectionPage(_Wire):
    """One page of ``GET /monitoring/connections`` (and ``FleetReader.list_connections``)."""

    state: str = "all"
    query: str = ""
    sort: Literal["age", "idle", "events", "bytes", "queued"] = "age"
    order: Literal["desc", "asc"] = "desc"
    total: int = Field(ge=0)  # connections matching (exact unless ``truncated``)
    limit: int
    offset: int
    truncated: bool = False  # a text search or events/bytes sort stopped at its scan bound
    scanned: int = 0  # records examined for a text search / events-bytes sort (0: index only)
    now: float  # the server's clock: ages are now - connected_at, idle is now - last_activity
    stale_threshold_seconds: float
    connections: list[ConnectionRecord] = Field(default_factory=list)
    activity_resolution_seconds: float | None = None  # idle = now - last_activity, exact to within this
    counts_interval_seconds: float | None = None  # events_sent / bytes_sent are at most this old (plus one flush)


class ChannelSummary(_Wire):
    channel: str
    connections: int = Field(ge=0)
    stale: int = Field(ge=0)
    oldest_connected_at: float | None = None


class ChannelsPage(_Wire):
    now: float
    scanned: int = 0
    truncated: bool = False
    channels: list[ChannelSummary] = Field(default_factory=list)


class DisconnectResult(_Wire):
    connection_id: str
    removed: bool  # removed from the registry by this call
    closed_locally: bool = False  # the stream was on the answering worker and is closed now
    worker_id: str | None = None  # its worker closes it at its next flush otherwise


class ReapResult(_Wire):
    worker_id: str
    removed: int = Field(ge=0)
    was_alive: bool = False


class CleanupResult(_Wire):
    """What one cleanup run did (the POST /monitoring/cleanup body)."""

    cleaned: int = Field(ge=0)
    failed: int = Field(ge=0)
    duration_ms: float = Field(ge=0)
    batches: int = Field(default=0, ge=0)
    dead_workers_reaped: int = Field(default=0, ge=0)
    error: str | None = None
    skipped: str | None = None  # why nothing ran (the registry settles: idle times may only mean the store was away)


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
    bad_fields: tuple[str, ...] = ()  # fields that held something that is not a number (read as 0; repaired at the next run)
    recent_runs: tuple[tuple[float, bool], ...] = ()  # (time, failed) of the latest runs, newest first


class Touch(NamedTuple):
    """Accumulated activity of one connection since the last flush (a tuple: thousands are
    made per flush)."""

    at: float
    events: int = 0
    bytes: int = 0


@dataclass(frozen=True, slots=True)
class WorkerHeartbeat:
    worker_id: str
    host: str | None
    pid: int | None
    connections: int
    heartbeat_at: float
    started_at: float
    cleanup_running: bool = False
    hostkey: str | None = None  # host identity (hostname, boot id, pid namespace): pids compare only within one
    dead_reason: str | None = None  # set by a worker on its host that saw the process gone
    synced_at: float | None = None  # when the worker last confirmed the registry holds what it holds
    epoch: str | None = None  # the registry generation the worker registered its connections in
    counts_at: float | None = None  # the worker's per-connection counts in the store are as of this time
