"""The monitoring snapshot: the guide's Complete Monitoring Response from one fleet read.

:class:`SnapshotBuilder` asks the store once (``fleet_read``: census, counters, workers,
events in one pipeline) and builds :class:`~core.models.MonitoringStats` from that read,
the store's status, the rules (:mod:`core.health`) and the trend verdicts it is handed.
It never raises for store trouble: numbers the store could not give are ``None``
(unknown, never 0) and the verdict says why. What it keeps between snapshots is the
rules' hysteresis (:class:`Hysteresis`: since when each condition holds, as this process
saw it). :class:`ConfigWatch` notices settings changed at run time.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from . import health, history, stats
from .blast import with_blasts
from .clock import Clock, StoreClock, age_query
from .config import SSEConfig, describe_valid, fleet_settings, validation_warnings
from .liveness import Epoch, Registry, counts_as_active, registry_state, worker_state
from .models import (
    CleanupCounters,
    ConfigurationView,
    ConnectionStats,
    ConnectRate,
    MonitoringStats,
    RegistryStatus,
    StoreStatus,
    TrendEvidence,
    WorkerHeartbeat,
    WorkerInfo,
    WorkerState,
)
from .reconnects import connect_rate, connect_rate_reason, counting_since, rate_unknown_reason
from .registry import activity_resolution, counts_interval
from .store.base import Census, FleetRead, StateStore, StoreUnavailable
from .store_status import StoreStatusTracker, explain

__all__ = ["AdmissionSource", "ConfigWatch", "Hysteresis", "SnapshotBuilder", "configuration_view", "worker_infos", "worker_line"]

log = logging.getLogger("sse")

AdmissionSource = Callable[[], dict[str, Any] | None]  # admission control's counts, None when not in use


class ConfigWatch:
    """The settings in force: their validation warnings (the guide's start-up lines), and
    changes made at run time (``sse_config.X = ...``), which ``on_change`` republishes."""

    def __init__(self, config: SSEConfig, on_change: Callable[[], None]) -> None:
        self.config = config
        self.on_change = on_change
        self.validation_warnings: list[str] = validation_warnings(config)
        self._seen: dict[str, str] = fleet_settings(config)

    def log_validation(self) -> None:
        if self.validation_warnings:
            log.warning("SSE configuration validation warnings: %s", "; ".join(self.validation_warnings))
        else:
            log.info("SSE configuration validated successfully: %s", describe_valid(self.config))

    def check(self) -> None:
        """Pick up settings changed at run time: recompute and log the guide's validation
        lines, and republish the fleet settings. The loops read their intervals each
        cycle, so a change takes effect at the next one."""
        current = fleet_settings(self.config)
        if current == self._seen:
            return
        first = not self._seen
        self._seen = current
        self.validation_warnings = validation_warnings(self.config)
        if first:
            return
        self.log_validation()
        self.on_change()


class Hysteresis:
    """How long each hysteresis rule's condition has held, as this process observed it
    (on its own ``clock``; a condition not seen holding resets, an unknown one neither
    starts nor clears the clock)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._since: dict[str, float] = {}  # rule type -> when its condition started holding

    def held_for(self, inputs: health.HealthInputs, th: health.HealthThresholds) -> dict[str, float]:
        t = self.clock()
        out: dict[str, float] = {}
        for rule in health.RULES:
            if rule.for_field is None:
                continue
            hit, value, _ = health.condition(rule, inputs, th)
            if value is None:
                continue  # unknown: neither starts nor clears the clock
            if hit:
                since = self._since.setdefault(rule.type, t)
                out[rule.type] = t - since
            else:
                self._since.pop(rule.type, None)
                out[rule.type] = 0.0
        return out


def configuration_view(cfg: SSEConfig, warnings: list[str], registry_size: int = 0,
                       stream_counting: dict[str, int] | None = None) -> ConfigurationView:
    return ConfigurationView(
        count_events=cfg.COUNT_EVENTS if stream_counting is not None else None, stream_counting=stream_counting,
        cleanup_interval_seconds=cfg.CLEANUP_INTERVAL_SECONDS, cleanup_batch_size=cfg.CLEANUP_BATCH_SIZE,
        stale_threshold_seconds=cfg.STALE_CONNECTION_THRESHOLD_SECONDS,
        periodic_cleanup_enabled=cfg.PERIODIC_CLEANUP_ENABLED, ping_interval_seconds=cfg.PING_INTERVAL_SECONDS,
        validation_warnings=warnings, long_lived_seconds=cfg.LONG_LIVED_SECONDS,
        very_old_seconds=cfg.VERY_OLD_SECONDS, worker_heartbeat_ttl_seconds=cfg.WORKER_HEARTBEAT_TTL_SECONDS,
        touch_flush_interval_seconds=cfg.TOUCH_FLUSH_INTERVAL_SECONDS,
        error_rate_window_seconds=cfg.ERROR_RATE_WINDOW_SECONDS,
        activity_resolution_seconds=activity_resolution(cfg),
        counts_interval_seconds=counts_interval(cfg, registry_size),
        worker_late_seconds=cfg.worker_late_seconds,
        not_reading_seconds=cfg.NOT_READING_SECONDS,
    )


def worker_infos(heartbeats: list[WorkerHeartbeat], now: float, cfg: SSEConfig, *, own_id: str,
                 own_cleanup_running: bool, writable: bool = True,
                 settling_since: float | None = None) -> list[WorkerInfo]:
    """The workers' rows with their state (core.liveness.worker_state; this worker: alive)."""
    out = []
    for hb in heartbeats:
        mine = hb.worker_id == own_id
        age = now - hb.heartbeat_at
        state: WorkerState
        why: str | None
        if mine:
            state, why = "alive", None
        else:
            state, why = worker_state(hb, now, late_after=cfg.worker_late_seconds, ttl=cfg.WORKER_HEARTBEAT_TTL_SECONDS,
                                      skew=cfg.CLOCK_SKEW_TOLERANCE_SECONDS, writable=writable,
                                      settling_since=settling_since)
        out.append(WorkerInfo(
            worker_id=hb.worker_id, host=hb.host, pid=hb.pid, connections=hb.connections,
            heartbeat_age_seconds=round(max(age, 0.0), 3) if math.isfinite(age) else 0.0,
            started_at=hb.started_at,
            alive=counts_as_active(state),
            cleanup_running=own_cleanup_running if mine else hb.cleanup_running,
            state=state, state_reason=why,
        ))
    return out


def worker_line(w: WorkerInfo) -> str:
    """One worker in a health message: its id, where it runs, why it is in its state, its connections."""
    where = f" on {w.host} pid {w.pid}" if w.host and w.pid else ""
    return f"{w.worker_id}{where} ({w.state_reason}): {w.connections} connection(s)"


def trend_inputs(fresh: dict[str, TrendEvidence]) -> dict[str, Any]:
    """HealthInputs fields from the fresh verdicts (None: unknown, the rule is skipped)."""
    return {name: (ev.value if (ev := fresh.get(name)) is not None else None) for name in history.TREND_TYPES}


class SnapshotBuilder:
    """Builds this process's view of the fleet. ``cleanup_running``: whether this worker's
    periodic cleanup runs; ``trends(now)``: the trend verdicts fresh enough to stand for
    ``now`` ({} when there are none); ``admission_source``: admission control's counts
    (None: not in use); ``known_epoch()``: the registry generation this process registered
    in (a worker's; None for an observer, which remembers the last one it read);
    ``observer``: a process that holds no streams (sse-dash --redis): it probes whether the
    store takes writes, as no heartbeat of its own tells it."""

    def __init__(self, store: StateStore, config: SSEConfig, *, clock: StoreClock, status: StoreStatusTracker,
                 settings: ConfigWatch, worker_id: str, cleanup_running: Callable[[], bool],
                 trends: Callable[[float], dict[str, TrendEvidence]],
                 admission_source: AdmissionSource | None = None,
                 known_epoch: Callable[[], str | None] = lambda: None, observer: bool = False,
                 registry_size: Callable[[], int] = lambda: 0) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.status = status
        self.settings = settings
        self.worker_id = worker_id
        self.cleanup_running = cleanup_running
        self.trends = trends
        self.admission_source = admission_source
        self.known_epoch = known_epoch
        self.observer = observer
        self.registry_size = registry_size
        # this process's streams by how they are counted (set by a serving manager; None: an observer)
        self.stream_counting: Callable[[], dict[str, int]] | None = None
        self.hysteresis = Hysteresis(clock.local)
        self.seen_epoch: str | None = None  # the last epoch read (an observer's memory of the fleet)
        self.last_registry: Registry = Registry("unknown", None, None)
        self.last_counters: CleanupCounters | None = None  # the fleet's counters as last read (reseeded after a loss)
        self.write_problem: str | None = None  # an observer's probe: why the store takes no writes (None: it does)
        # the fleet's per-second connect counts (the manager hands in store.connect_counts; core.reconnects)
        self.connect_rate_source: Callable[[float, float], Awaitable[list[tuple[int, int, int]]]] | None = None
        self.rate: ConnectRate | None = None  # the reconnect-storm meter as last read (None: unknown)
        self.rate_reason: str | None = None  # why it is unknown when the store answered (core.reconnects)

    async def snapshot(self) -> MonitoringStats:
        """Read the fleet once and build the snapshot. Never raises for store trouble."""
        q = age_query(self.config, self.clock.now(), stats.AGE_EDGES)
        read: FleetRead | None = None
        read_error: str | None = None
        if self.status.connected:
            try:
                read = await self.store.fleet_read(q)
                self.status.note_bad_data(read.bad_data)
                read = dataclasses.replace(read, events=await with_blasts(self.store, read.events, q.now))
                self.rate, self.rate_reason = None, None
                if self.connect_rate_source is not None:  # known once the fleet counted a whole window
                    window, settle = self.config.CONNECT_RATE_WINDOW_SECONDS, self.config.TOUCH_FLUSH_INTERVAL_SECONDS
                    self.rate_reason = rate_unknown_reason(counting_since(w.started_at for w in read.workers),
                                                           q.now, window, settle)
                    if self.rate_reason is None:
                        self.rate = connect_rate(await self.connect_rate_source(q.now - window - settle - 1, q.now),
                                                 q.now, window, settle)
                if self.observer:
                    await self._probe()
            except StoreUnavailable as exc:
                self.rate, self.rate_reason = None, None
                named = await explain(self.store, exc)
                read_error = str(named)
                self.status.mark_unavailable(named)  # a key of the wrong type: the registry's writer repairs it
        self.settings.check()
        view = self.assess(q.now, read, read_error)
        held: dict[str, float] | None = None
        if read is not None and self.status.ok:
            try:
                held = await self._fleet_held_for(view.inputs, view.thresholds, q.now)
            except StoreUnavailable as exc:
                self.status.mark_unavailable(exc)
        return self.render(view, held)

    async def _probe(self) -> None:
        """An observer's write probe: a store that refuses writes (maxmemory, a read-only
        replica, failing persistence) is seen here, not only by the workers."""
        try:
            await self.store.probe_write(self.worker_id)
            self.write_problem = None
            self.status.mark_ok()
        except StoreUnavailable as exc:
            if exc.state == "refusing_writes":
                self.write_problem = str(exc)
                self.status.mark_unavailable(exc)
            else:  # e.g. an ACL that lets this observer read only: it cannot tell, and says so
                self.write_problem = None
                self.status.note(f"writes not probed ({exc}): a store refusing writes would show only as "
                                 "workers' heartbeats growing old")

    async def _fleet_held_for(self, inputs: health.HealthInputs, th: health.HealthThresholds,
                              now: float) -> dict[str, float]:
        """How long each hysteresis rule's condition has held *for the fleet*: the store keeps
        when any process first saw it (``hold_conditions``), so every worker and a one-shot
        check agree. A condition whose value is unknown neither starts nor clears it."""
        holding, clear = health.hysteresis_conditions(inputs, th)
        since = await self.store.hold_conditions(now, holding, clear)
        return {**dict.fromkeys(clear, 0.0), **{t: max(now - at, 0.0) for t, at in since.items()}}

    def build(self, now: float, read: FleetRead | None, read_error: str | None) -> MonitoringStats:
        """The snapshot at ``now`` from one fleet ``read`` (None: it failed with ``read_error``,
        or the store is not connected yet), with this process's own hysteresis clock."""
        return self.render(self.assess(now, read, read_error), None)

    def assess(self, now: float, read: FleetRead | None, read_error: str | None) -> _View:
        """Everything the snapshot says, but the hysteresis (held_for)."""
        cfg = self.config
        status = self.status.status
        if read is None and read_error is None:
            read_error = status.reason or "state store not connected yet"
        store_ok = read is not None and status.state == "up"
        writable = status.state != "refusing_writes"
        workers: list[WorkerInfo] | None = None
        active: int | None = None
        cleanup_running: bool | None = self.cleanup_running() or None
        registry = Registry("unknown", status.reason or read_error, None)
        if read is not None:
            # an observer's memory of the epoch only tells that it vanished (a present one is
            # judged by its own rebuild / settle marks: after a loss the new one is simply new)
            known = self.known_epoch() if not self.observer else (self.seen_epoch if read.epoch is None else None)
            has_data = read.census.ages.total > 0 or bool(read.workers) or (read.census.counter or 0) > 0
            registry = registry_state(read.epoch, read.workers, now, ttl=cfg.WORKER_HEARTBEAT_TTL_SECONDS,
                                      has_data=has_data, known_epoch=known)
            if read.epoch is not None and registry.state == "settled":
                self.seen_epoch = read.epoch.id
            settling = read.epoch.settle_since if read.epoch is not None and registry.state != "settled" else None
            workers = worker_infos(read.workers, now, cfg, own_id=self.worker_id,
                                   own_cleanup_running=self.cleanup_running(), writable=writable,
                                   settling_since=settling)
            if writable:
                active = sum(w.connections for w in workers if w.alive)
                cleanup_running = self.cleanup_running() or any(w.cleanup_running for w in workers if w.alive)
        self.last_registry = registry
        settled = registry.state == "settled"
        # numbers a store refusing writes still answers are frozen (no worker can update them): unknown;
        # so are the fleet's counters of a store that lost its data, until they are reseeded
        census = read.census if read is not None and settled and store_ok else None
        counters = read.counters if read is not None and settled else None
        if counters is not None:
            self.last_counters = counters
        problem = None if store_ok else (status.reason or read_error or "state store unavailable")
        if not settled:
            active = None
        dead = tuple(worker_line(w) for w in workers if w.state == "dead") if workers is not None else None
        late = tuple(worker_line(w) for w in workers if w.state == "late") if workers is not None else None
        fresh = self.trends(now)
        thresholds = health.HealthThresholds.from_config(cfg)
        window_runs = stats.window_runs(counters.recent_runs, now, cfg.ERROR_RATE_WINDOW_SECONDS) if counters else None
        inputs = health.HealthInputs(
            active_connections=active, redis_connection_counters=census.counter if census else None,
            error_rate=stats.error_rate(counters) if counters else None,
            cleanup_task_running=cleanup_running,
            periodic_cleanup_enabled=cfg.PERIODIC_CLEANUP_ENABLED,
            stale=census.ages.stale if census else None, very_old=census.ages.very_old if census else None,
            store_available=store_ok, store_error=problem, bad_data=self.status.bad_data,
            consecutive_errors=counters.consecutive_errors if counters else None,
            error_rate_window=(stats.window_error_rate(counters.recent_runs, now, cfg.ERROR_RATE_WINDOW_SECONDS) or 0.0)
            if counters else None,
            error_rate_window_seconds=cfg.ERROR_RATE_WINDOW_SECONDS, error_rate_window_runs=window_runs,
            dead_workers=dead, late_workers=late,
            registry_state=registry.state if read is not None else "unknown", registry_reason=registry.reason,
            very_old_seconds=cfg.VERY_OLD_SECONDS,
            reconnects_per_second=self.rate.reconnects_per_second if self.rate is not None and store_ok else None,
            connects_per_second=self.rate.per_second if self.rate is not None and store_ok else None,
            **trend_inputs(fresh),
        )
        return _View(now=now, read=read, status=status, store_ok=store_ok, workers=workers, active=active,
                     cleanup_running=cleanup_running, census=census, counters=counters, registry=registry,
                     inputs=inputs, thresholds=thresholds, fresh=fresh)

    def render(self, v: _View, held_for: dict[str, float] | None) -> MonitoringStats:
        """The snapshot of an assessment; ``held_for``: the fleet's hysteresis clock (None:
        this process's own, when the store could not keep it)."""
        cfg = self.config
        inputs = dataclasses.replace(v.inputs, held_for=held_for if held_for is not None
                                     else self.hysteresis.held_for(v.inputs, v.thresholds))
        indicators = health.evaluate(inputs, v.thresholds)
        census, counters, read = v.census, v.counters, v.read
        epoch: Epoch | None = read.epoch if read is not None else None
        return MonitoringStats(
            timestamp=datetime.fromtimestamp(v.now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            service_name=cfg.SERVICE_NAME,
            connection_stats=ConnectionStats(active_connections=v.active,
                                             redis_connection_counters=census.counter if census else None,
                                             cleanup_task_running=v.cleanup_running, store_available=v.store_ok),
            cleanup_stats=stats.cleanup_stats(counters, census.ages if census else None).model_copy(update={
                "error_rate_window": inputs.error_rate_window if counters else None,
                "consecutive_errors": counters.consecutive_errors if counters else None}),
            health_indicators=indicators,
            performance_metrics=stats.performance_metrics(counters),
            configuration=configuration_view(cfg, self.settings.validation_warnings, self.registry_size(),
                                             None if self.stream_counting is None else self.stream_counting()),
            workers=v.workers,
            age_histogram=stats.age_histogram(census.older_than, census.ages.total) if census else [],
            store_status=v.status,
            registry=RegistryStatus(state=v.registry.state, reason=v.registry.reason, since=v.registry.since,
                                    pending_workers=list(v.registry.pending), epoch=epoch.id if epoch else None,
                                    last_loss_at=epoch.last_loss_at if epoch else None),
            health_rules=health.rule_rows(v.thresholds),
            admission=self.admission_source() if self.admission_source is not None else None,
            recent_events=read.events if read is not None else [],
            now=v.now,
            performance_trends=list(v.fresh.values()),
            connect_rate=self.rate if v.store_ok else None,
            connect_rate_reason=connect_rate_reason(self.rate, self.rate_reason, v.store_ok),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class _View:
    """One assessment of the fleet (what a snapshot says, before the hysteresis)."""

    now: float
    read: FleetRead | None
    status: StoreStatus
    store_ok: bool
    workers: list[WorkerInfo] | None
    active: int | None
    cleanup_running: bool | None
    census: Census | None
    counters: CleanupCounters | None
    registry: Registry
    inputs: health.HealthInputs
    thresholds: health.HealthThresholds
    fresh: dict[str, TrendEvidence]
