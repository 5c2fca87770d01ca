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
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from . import health, history, stats
from .clock import Clock, StoreClock, age_query
from .config import SSEConfig, describe_valid, fleet_settings, validation_warnings
from .models import ConfigurationView, ConnectionStats, MonitoringStats, TrendEvidence, WorkerHeartbeat, WorkerInfo
from .registry import activity_resolution, counts_interval
from .store.base import FleetRead, StateStore, StoreUnavailable
from .store_status import StoreStatusTracker

__all__ = ["AdmissionSource", "ConfigWatch", "Hysteresis", "SnapshotBuilder", "configuration_view", "worker_infos"]

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


def configuration_view(cfg: SSEConfig, warnings: list[str]) -> ConfigurationView:
    return ConfigurationView(
        cleanup_interval_seconds=cfg.CLEANUP_INTERVAL_SECONDS, cleanup_batch_size=cfg.CLEANUP_BATCH_SIZE,
        stale_threshold_seconds=cfg.STALE_CONNECTION_THRESHOLD_SECONDS,
        periodic_cleanup_enabled=cfg.PERIODIC_CLEANUP_ENABLED, ping_interval_seconds=cfg.PING_INTERVAL_SECONDS,
        validation_warnings=warnings, long_lived_seconds=cfg.LONG_LIVED_SECONDS,
        very_old_seconds=cfg.VERY_OLD_SECONDS, worker_heartbeat_ttl_seconds=cfg.WORKER_HEARTBEAT_TTL_SECONDS,
        touch_flush_interval_seconds=cfg.TOUCH_FLUSH_INTERVAL_SECONDS,
        error_rate_window_seconds=cfg.ERROR_RATE_WINDOW_SECONDS,
        activity_resolution_seconds=activity_resolution(cfg),
        counts_interval_seconds=counts_interval(cfg),
    )


def worker_infos(heartbeats: list[WorkerHeartbeat], now: float, ttl: float, *, own_id: str,
                 own_cleanup_running: bool) -> list[WorkerInfo]:
    """The workers' rows: alive while their heartbeat is at most ``ttl`` old (this worker: always)."""
    out = []
    for hb in heartbeats:
        mine = hb.worker_id == own_id
        age = now - hb.heartbeat_at
        out.append(WorkerInfo(
            worker_id=hb.worker_id, host=hb.host, pid=hb.pid, connections=hb.connections,
            heartbeat_age_seconds=round(max(age, 0.0), 3) if math.isfinite(age) else 0.0,
            started_at=hb.started_at,
            alive=mine or age <= ttl,
            cleanup_running=own_cleanup_running if mine else hb.cleanup_running,
        ))
    return out


def trend_inputs(fresh: dict[str, TrendEvidence]) -> dict[str, Any]:
    """HealthInputs fields from the fresh verdicts (None: unknown, the rule is skipped)."""
    return {name: (ev.value if (ev := fresh.get(name)) is not None else None) for name in history.TREND_TYPES}


class SnapshotBuilder:
    """Builds this worker's view of the fleet. ``cleanup_running``: whether this worker's
    periodic cleanup runs; ``trends(now)``: the trend verdicts fresh enough to stand for
    ``now`` ({} when there are none); ``admission_source``: admission control's counts
    (None: not in use)."""

    def __init__(self, store: StateStore, config: SSEConfig, *, clock: StoreClock, status: StoreStatusTracker,
                 settings: ConfigWatch, worker_id: str, cleanup_running: Callable[[], bool],
                 trends: Callable[[float], dict[str, TrendEvidence]],
                 admission_source: AdmissionSource | None = None) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.status = status
        self.settings = settings
        self.worker_id = worker_id
        self.cleanup_running = cleanup_running
        self.trends = trends
        self.admission_source = admission_source
        self.hysteresis = Hysteresis(clock.local)

    async def snapshot(self) -> MonitoringStats:
        """Read the fleet once and build the snapshot. Never raises for store trouble."""
        q = age_query(self.config, self.clock.now(), stats.AGE_EDGES)
        read: FleetRead | None = None
        read_error: str | None = None
        if self.status.connected:
            try:
                read = await self.store.fleet_read(q)
                self.status.note_bad_data(read.bad_data)
            except StoreUnavailable as exc:
                read_error = str(exc)
                self.status.mark_unavailable(exc)
        self.settings.check()
        return self.build(q.now, read, read_error)

    def build(self, now: float, read: FleetRead | None, read_error: str | None) -> MonitoringStats:
        """The snapshot at ``now`` from one fleet ``read`` (None: it failed with ``read_error``,
        or the store is not connected yet)."""
        cfg = self.config
        status = self.status.status
        if read is None and read_error is None:
            read_error = status.reason or "state store not connected yet"
        store_ok = read is not None and status.state == "up"
        workers: list[WorkerInfo] | None = None
        active: int | None = None
        cleanup_running: bool | None = self.cleanup_running() or None
        if read is not None and status.state != "refusing_writes":
            workers = worker_infos(read.workers, now, cfg.WORKER_HEARTBEAT_TTL_SECONDS, own_id=self.worker_id,
                                   own_cleanup_running=self.cleanup_running())
            active = sum(w.connections for w in workers if w.alive)
            cleanup_running = self.cleanup_running() or any(w.cleanup_running for w in workers if w.alive)
        census = read.census if read is not None else None
        counters = read.counters if read is not None else None
        problem = None if store_ok else (status.reason or read_error or "state store unavailable")
        bad_data = self.status.bad_data
        fresh = self.trends(now)
        thresholds = health.HealthThresholds.from_config(cfg)
        inputs = health.HealthInputs(
            active_connections=active, redis_connection_counters=census.counter if census else None,
            error_rate=stats.error_rate(counters) if counters else None,
            cleanup_task_running=cleanup_running,
            periodic_cleanup_enabled=cfg.PERIODIC_CLEANUP_ENABLED,
            stale=census.ages.stale if census else None, very_old=census.ages.very_old if census else None,
            store_available=store_ok, store_error=problem, bad_data=bad_data,
            consecutive_errors=counters.consecutive_errors if counters else None,
            error_rate_window=(stats.window_error_rate(counters.recent_runs, now, cfg.ERROR_RATE_WINDOW_SECONDS) or 0.0)
            if counters else None,
            error_rate_window_seconds=cfg.ERROR_RATE_WINDOW_SECONDS,
            **trend_inputs(fresh),
        )
        inputs = dataclasses.replace(inputs, held_for=self.hysteresis.held_for(inputs, thresholds))
        indicators = health.evaluate(inputs, thresholds)
        return MonitoringStats(
            timestamp=datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            service_name=cfg.SERVICE_NAME,
            connection_stats=ConnectionStats(active_connections=active,
                                             redis_connection_counters=census.counter if census else None,
                                             cleanup_task_running=cleanup_running, store_available=store_ok),
            cleanup_stats=stats.cleanup_stats(counters, census.ages if census else None).model_copy(update={
                "error_rate_window": inputs.error_rate_window if counters else None,
                "consecutive_errors": counters.consecutive_errors if counters else None}),
            health_indicators=indicators,
            performance_metrics=stats.performance_metrics(counters),
            configuration=configuration_view(cfg, self.settings.validation_warnings),
            workers=workers,
            age_histogram=stats.age_histogram(census.older_than, census.ages.total) if census else [],
            store_status=status,
            health_rules=health.rule_rows(thresholds),
            admission=self.admission_source() if self.admission_source is not None else None,
            recent_events=read.events if read is not None else [],
            now=now,
            performance_trends=list(fresh.values()),
        )
