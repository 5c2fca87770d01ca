"""ConnectionManager: the registry of SSE streams, cleanup, and the monitoring snapshot.

Lifecycle of one connection (drawn out in docs/architecture.md)::

    register() ──► store.register (Lua: zsets + hash + worker set + counter)
       │
    touch() ──► in-memory batch ─┐
    stream counters (activity=) ─┴─(every TOUCH_FLUSH_INTERVAL)──► store.flush (one EVALSHA)
       │
    unregister() ──► store.unregister (Lua, counted once)       ┐ whichever
    cleanup (stale, or its worker's heartbeat expired) ─────────┘ comes first

The manager never lets a store failure reach a stream: register/touch/unregister keep
the local registry and mark it for resync; the next successful cleanup cycle puts every
live local connection back into the store.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Protocol

from . import health, stats
from .config import SSEConfig, describe_valid, fleet_settings, validation_warnings
from .models import (
    AgeCounts, CleanupCounters, CleanupResult, ConfigurationView, ConnectionRecord, ConnectionStats,
    MonitoringStats, Touch, WorkerHeartbeat, WorkerInfo,
)
from .store.base import AgeQuery, Census, StateStore, StoreUnavailable

log = logging.getLogger("sse")

OnClose = Callable[[], Awaitable[None] | None]
COUNTERS_EVERY = 30  # periodic flushes per flush of per-connection events/bytes counters
Clock = Callable[[], float]


class ActivitySource(Protocol):
    """A stream's own running totals, read by the manager at each flush instead of a
    ``touch()`` per send (the tracked stream's hot path is then two integer additions).

    ``events_sent`` / ``bytes_sent`` are counted into the store. ``progress`` is what
    liveness is judged by: any change since the last flush is activity at the flush time.
    A source that can see what the client really took (the kernel's send queue) reports
    that; otherwise ``progress`` is simply ``bytes_sent``."""

    events_sent: int
    bytes_sent: int

    @property
    def progress(self) -> int: ...


@dataclass(slots=True)
class _Local:
    record: ConnectionRecord
    on_close: OnClose | None
    last_touch: float = 0.0  # latest local activity, so a resync never re-registers a live stream as stale
    activity: ActivitySource | None = None
    seen_progress: int = 0  # activity.progress at the last flush
    flushed_events: int = 0  # activity totals already counted into a store flush
    flushed_bytes: int = 0


class StateManager:
    """The guide's ``manager.state_manager``: read access to fleet-wide cleanup state."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    async def get_cleanup_statistics(self) -> dict[str, float | int]:
        """Counters and rates, ``error_rate`` included (percent, one decimal)."""
        return stats.cleanup_statistics(await self.store.cleanup_counters())


class ConnectionManager:
    def __init__(self, store: StateStore, config: SSEConfig, *, clock: Clock = time.time,
                 worker_id: str | None = None, host: str | None = None, pid: int | None = None,
                 observer: bool = False) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.host = host or socket.gethostname()
        self.pid = pid if pid is not None else os.getpid()
        self.worker_id = worker_id or f"{self.host}-{self.pid}-{uuid.uuid4().hex[:6]}"
        self.observer = observer
        self.state_manager = StateManager(store)
        self.started_at = clock()
        self._local: dict[str, _Local] = {}
        # batched activity since the last flush: id -> latest activity time; and per-connection
        # [events, bytes] since the last counters flush (kept apart: touch() is on the hot path)
        self._active: dict[str, float] = {}
        self._counts: dict[str, list[int]] = {}
        self._cleanup_task: asyncio.Task[None] | None = None
        self._flush_task: asyncio.Task[None] | None = None
        self._cleanup_lock = asyncio.Lock()
        self._needs_resync = False
        self._heartbeats = 0
        self._flushes = 0
        self._unrecorded: list[tuple[int, int, float, bool]] = []  # cleanup runs the store missed
        self._store_error: str | None = None
        self._started = False
        self._flush_hooks: list[Callable[[], None]] = []
        self.validation_warnings: list[str] = validation_warnings(config)

    # -- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        if self._started:
            return
        if self.validation_warnings:
            log.warning("SSE configuration validation warnings: %s", "; ".join(self.validation_warnings))
        else:
            log.info("SSE configuration validated successfully: %s", describe_valid(self.config))
        await self.store.start()
        self._started = True
        if self.observer:
            return
        try:
            await self.store.publish_config(fleet_settings(self.config))
            await self._heartbeat()
        except StoreUnavailable as exc:  # start anyway: streams must not depend on Redis
            self._mark_unavailable(exc)
        self._flush_task = asyncio.create_task(self._flush_loop(), name="sse-touch-flush")
        if self.config.PERIODIC_CLEANUP_ENABLED:
            self.start_periodic_cleanup()

    def start_periodic_cleanup(self) -> None:
        if self._cleanup_task is None or self._cleanup_task.done():
            self._cleanup_task = asyncio.create_task(self._cleanup_loop(), name="sse-periodic-cleanup")

    async def stop_periodic_cleanup(self) -> None:
        await _cancel(self._cleanup_task)
        self._cleanup_task = None

    async def stop(self, *, close_streams: bool = True) -> None:
        """Graceful shutdown: unregister every local connection, forget this worker, close the store."""
        if not self._started:
            return
        await self.stop_periodic_cleanup()
        await _cancel(self._flush_task)
        self._flush_task = None
        local = list(self._local.items())
        self._local.clear()
        self._active.clear()
        self._counts.clear()
        if close_streams:
            for _, entry in local:
                await self._close_stream(entry)
        try:
            if not self.observer:
                # everything this worker still holds, in batches of 1,000 per Lua call
                # (not one round trip per connection), then its heartbeat
                while (await self.store.reap_worker(self.worker_id, 1000))[1]:
                    pass
                await self.store.forget_worker(self.worker_id)
        except StoreUnavailable as exc:
            log.warning("SSE shutdown could not unregister %d connections: %s", len(local), exc)
        await self.store.close()
        self._started = False

    @property
    def cleanup_task_running(self) -> bool:
        return self._cleanup_task is not None and not self._cleanup_task.done()

    @property
    def local_connection_count(self) -> int:
        return len(self._local)

    def local_connection_ids(self) -> list[str]:
        return list(self._local)

    # -- registry ---------------------------------------------------------------------
    async def register(self, connection_id: str | None = None, *, channel: str = "default",
                       client_address: str = "", user_agent: str = "",
                       on_close: OnClose | None = None, activity: ActivitySource | None = None) -> ConnectionRecord:
        """Register a stream. Never raises for store trouble: the stream goes on, and the
        registry is resynced when the store is back.

        ``activity``: the stream's running ``events_sent``/``bytes_sent`` totals, read at
        every flush (then the stream need not call :meth:`touch`)."""
        now = self.clock()
        record = ConnectionRecord(
            connection_id=connection_id or uuid.uuid4().hex, worker_id=self.worker_id, host=self.host,
            pid=self.pid, channel=channel, client_address=client_address, user_agent=user_agent[:256],
            connected_at=now, last_activity=now,
        )
        try:
            await self.store.register(record)
        except StoreUnavailable as exc:
            self._mark_unavailable(exc)
        # added after the store call: a flush running meanwhile never sees a local
        # connection the store does not hold yet (it would take it for removed elsewhere)
        if activity is None:
            self._local[record.connection_id] = _Local(record, on_close)
        else:
            ev, by = activity.events_sent, activity.bytes_sent
            self._local[record.connection_id] = _Local(record, on_close, activity=activity, seen_progress=activity.progress,
                                                       flushed_events=ev, flushed_bytes=by)
        return record

    def touch(self, connection_id: str, events: int = 1, bytes_sent: int = 0) -> None:
        """A send or ping succeeded. Cheap (called for every event): two dict updates;
        the store hears of it at the next flush."""
        if connection_id not in self._local:
            return
        self._active[connection_id] = self.clock()
        if events or bytes_sent:
            c = self._counts.get(connection_id)
            if c is None:
                self._counts[connection_id] = [events, bytes_sent]
            else:
                c[0] += events
                c[1] += bytes_sent

    async def unregister(self, connection_id: str) -> bool:
        """Forget a stream (client gone, server shutdown, error). True if the store removed it now."""
        self._local.pop(connection_id, None)
        self._active.pop(connection_id, None)
        self._counts.pop(connection_id, None)
        try:
            return await self.store.unregister(connection_id)
        except StoreUnavailable as exc:
            self._mark_unavailable(exc)
            return False

    async def flush_touches(self, *, counters: bool = True) -> None:
        """Send batched activity and the heartbeat (one round trip).

        With ``counters=False`` only activity times go out and per-connection event/byte
        counts stay batched here: the periodic flush sends counts every
        ``COUNTERS_EVERY`` flushes, so an idle fleet costs Redis a few commands per flush
        instead of several per ping."""
        active, self._active = self._active, {}
        counts: dict[str, list[int]] = {}
        if counters:
            counts, self._counts = self._counts, {}
        self._run_flush_hooks()
        self._pull_activity(active, counts if counters else None)
        pending: dict[str, Touch] = {}
        for cid, at in active.items():
            entry = self._local.get(cid)
            if entry is None:
                continue
            entry.last_touch = at
            c = counts.pop(cid, None)
            pending[cid] = Touch(at, c[0], c[1]) if c else Touch(at)
        for cid, c in counts.items():  # counts of connections with no activity since the last flush
            entry = self._local.get(cid)
            if entry is not None:
                pending[cid] = Touch(max(entry.last_touch, entry.record.last_activity), c[0], c[1])
        try:
            if self._needs_resync:
                # The store failed since the last flush and may have lost our connections
                # (a restarted Redis): put them back first, so they are not taken for
                # "removed elsewhere" below and closed.
                await self.resync()
            missing, existed, registered = await self._heartbeat(pending)
            if not existed and self._heartbeats > 1:
                # our heartbeat vanished: Redis lost its data, or a fleet-mate reaped us as dead
                log.warning("SSE worker %s was missing from the store; resyncing its connections", self.worker_id)
                await self.resync()
                missing = []  # they were lost with the store, not removed: re-registered, keep them open
            elif registered < len(self._local):
                # some of our connections were removed elsewhere (another worker's cleanup)
                missing.extend(await self.store.missing(list(self._local)))
        except StoreUnavailable as exc:
            # keep the activity for the next flush (newer touches win, counts add up)
            for c, t in pending.items():
                self._active[c] = max(t.at, self._active.get(c, t.at))
                if t.events or t.bytes:
                    cur = self._counts.setdefault(c, [0, 0])
                    cur[0] += t.events
                    cur[1] += t.bytes
            self._mark_unavailable(exc)
            return
        self._store_error = None
        if missing:
            # removed elsewhere (another worker's cleanup, an operator): close our side too
            for cid in dict.fromkeys(missing):
                entry = self._local.pop(cid, None)
                if entry is not None:
                    await self._close_stream(entry)

    def add_flush_hook(self, hook: Callable[[], None]) -> None:
        """Run ``hook()`` at the start of every flush, before the streams' ``progress`` is
        read (one refresh for all streams, e.g. one read of the kernel's socket table)."""
        self._flush_hooks.append(hook)

    def remove_flush_hook(self, hook: Callable[[], None]) -> None:
        if hook in self._flush_hooks:
            self._flush_hooks.remove(hook)

    def _run_flush_hooks(self) -> None:
        for hook in self._flush_hooks:
            try:
                hook()
            except Exception:  # noqa: BLE001 - a broken hook must not stop the flush
                log.exception("SSE flush hook failed")

    def _pull_activity(self, active: dict[str, float], counts: dict[str, list[int]] | None) -> None:
        """Fold the streams' own totals into this flush: a stream that sent anything since
        the last flush is active now; with ``counts``, the events/bytes not yet counted."""
        now: float | None = None  # read once, and only if some stream sent anything
        for cid, entry in self._local.items():
            src = entry.activity
            if src is None:
                continue
            pr = src.progress
            if pr != entry.seen_progress:
                entry.seen_progress = pr
                if now is None:
                    now = self.clock()
                if active.get(cid, 0.0) < now:
                    active[cid] = now
            if counts is not None:
                ev, by = src.events_sent, src.bytes_sent
                d_ev, d_by = ev - entry.flushed_events, by - entry.flushed_bytes
                if d_ev or d_by:
                    entry.flushed_events, entry.flushed_bytes = ev, by
                    c = counts.get(cid)
                    if c is None:
                        counts[cid] = [d_ev, d_by]
                    else:
                        c[0] += d_ev
                        c[1] += d_by

    async def _heartbeat(self, touches: dict[str, Touch] | None = None) -> tuple[list[str], bool, int]:
        """Send batched touches and the heartbeat in one round trip.

        Returns (ids the store no longer knows, the heartbeat existed before, connections
        the store holds for this worker)."""
        if self.observer:
            return (await self.store.touch_many(touches) if touches else []), True, 0
        hb = WorkerHeartbeat(worker_id=self.worker_id, host=self.host, pid=self.pid,
                             connections=len(self._local), heartbeat_at=self.clock(),
                             started_at=self.started_at, cleanup_running=self.cleanup_task_running)
        result = await self.store.flush(touches or {}, hb, self.config.WORKER_HEARTBEAT_TTL_SECONDS)
        self._heartbeats += 1
        return result

    def _mark_unavailable(self, exc: Exception) -> None:
        if self._store_error is None:
            log.warning("SSE state store unavailable: %s", exc)
        self._store_error = str(exc)
        self._needs_resync = True

    async def resync(self) -> int:
        """Put every live local connection back into the store (after Redis lost them).
        Returns how many were missing."""
        ids = list(self._local)
        if not ids:
            self._needs_resync = False
            return 0
        missing = await self.store.missing(ids)
        records = []
        for c in missing:
            entry = self._local.get(c)
            if entry is not None:
                r = entry.record
                seen = max(entry.last_touch, self._active.get(c, 0.0))
                records.append(r.model_copy(update={"last_activity": seen}) if seen > r.last_activity else r)
        if records:
            await self.store.register_many(records)
            log.warning("SSE registry resync: re-registered %d live connections of worker %s", len(records), self.worker_id)
        self._needs_resync = False
        return len(records)

    # -- cleanup ----------------------------------------------------------------------
    def _age_query(self, edges: tuple[float, ...] = ()) -> AgeQuery:
        c = self.config
        return AgeQuery(now=self.clock(), stale_threshold=c.STALE_CONNECTION_THRESHOLD_SECONDS,
                        long_lived=c.LONG_LIVED_SECONDS, very_old=c.VERY_OLD_SECONDS, edges=edges)

    async def cleanup_stale_connections(self, batch_size: int | None = None) -> int:
        """Remove stale connections (and those of dead workers) in batches; returns how many."""
        return (await self.run_cleanup(batch_size)).cleaned

    async def run_cleanup(self, batch_size: int | None = None, *, periodic: bool = False) -> CleanupResult:
        """One cleanup run with its full result. Raises StoreUnavailable if the store fails."""
        batch = self.config.CLEANUP_BATCH_SIZE if batch_size is None else int(batch_size)
        if batch <= 0:
            raise ValueError("batch_size must be a positive integer")
        async with self._cleanup_lock:
            return await self._cleanup(batch, periodic)

    @property
    def cleanup_in_progress(self) -> bool:
        return self._cleanup_lock.locked()

    async def _cleanup(self, batch: int, periodic: bool) -> CleanupResult:
        t0 = time.perf_counter()
        cleaned = failed = batches = reaped = 0
        error: Exception | None = None
        before: Census | None = None
        try:
            await self._record_unrecorded()
            before = await self.store.census(self._age_query())
            cutoff = self.clock() - self.config.STALE_CONNECTION_THRESHOLD_SECONDS
            while True:
                count, mine = await self.store.remove_stale(cutoff, batch, self.worker_id)
                batches += 1
                failed_here = await self._close_removed(mine)
                cleaned += count - failed_here
                failed += failed_here
                if count < batch:
                    break
                await asyncio.sleep(0)  # let streams breathe between batches
            now = self.clock()
            ttl = self.config.WORKER_HEARTBEAT_TTL_SECONDS
            for hb in await self.store.workers():
                if hb.worker_id == self.worker_id or now - hb.heartbeat_at <= ttl:
                    continue
                while True:
                    removed, left = await self.store.reap_worker(hb.worker_id, batch)
                    batches += 1
                    cleaned += removed
                    if left == 0:
                        break
                await self.store.forget_worker(hb.worker_id)
                reaped += 1
                log.warning("SSE reaped dead worker %s (heartbeat %.1fs old)", hb.worker_id, now - hb.heartbeat_at)
            await self.store.reconcile_counter()
            if self._needs_resync:  # flushes catch lost registrations every second; no full check here
                await self.resync()
        except StoreUnavailable as exc:
            error = exc
            self._mark_unavailable(exc)
        duration_ms = (time.perf_counter() - t0) * 1000.0
        result = CleanupResult(cleaned=cleaned, failed=failed, duration_ms=round(duration_ms, 3), batches=batches,
                               dead_workers_reaped=reaped, error=str(error) if error else None)
        try:
            await self.store.record_cleanup(cleaned, failed, duration_ms, error is not None)
        except StoreUnavailable:
            self._unrecorded.append((cleaned, failed, duration_ms, error is not None))
        if error is not None:
            raise error
        after = await self.store.census(self._age_query())
        log.info(
            "SSE cleanup completed: cleaned=%d, failed=%d, total_before=%d, total_after=%d, duration_ms=%.2f, "
            "efficiency=%.1f%%, batch_size=%d, threshold_seconds=%g, stale_connections=%d, active_connections=%d, "
            "long_lived_connections=%d",
            cleaned, failed, before.ages.total if before else 0, after.ages.total, duration_ms,
            stats.run_efficiency(cleaned, failed), batch, self.config.STALE_CONNECTION_THRESHOLD_SECONDS,
            before.ages.stale if before else 0, after.ages.active, after.ages.long_lived,
        )
        return result

    async def _record_unrecorded(self) -> None:
        while self._unrecorded:
            await self.store.record_cleanup(*self._unrecorded[0])
            self._unrecorded.pop(0)

    async def _close_removed(self, removed: list[str]) -> int:
        """Close the local streams among ``removed``; returns how many could not be closed."""
        failed = 0
        for cid in removed:
            self._active.pop(cid, None)
            self._counts.pop(cid, None)
            entry = self._local.pop(cid, None)
            if entry is not None and not await self._close_stream(entry):
                failed += 1
        return failed

    async def _close_stream(self, entry: _Local) -> bool:
        if entry.on_close is None:
            return True
        try:
            res = entry.on_close()
            if inspect.isawaitable(res):
                await res
            return True
        except Exception:  # noqa: BLE001 - a broken stream must not stop the cleanup
            log.exception("SSE cleanup could not close stream %s", entry.record.connection_id)
            return False

    async def _cleanup_loop(self) -> None:
        interval = self.config.CLEANUP_INTERVAL_SECONDS
        while True:
            await asyncio.sleep(interval)
            t0 = time.perf_counter()
            try:
                result = await self.run_cleanup(periodic=True)
                counters = await self.store.cleanup_counters()
                log.info("Periodic cleanup cycle: cleaned=%d connections, cycle_duration_ms=%.2f, total_cleanups=%d, "
                         "total_cleaned=%d, error_rate=%.1f%%", result.cleaned, (time.perf_counter() - t0) * 1000.0,
                         counters.total_cleanups, counters.total_connections_cleaned, stats.error_rate(counters))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the loop must survive anything
                log.error("Error during periodic SSE cleanup: %s: %s", type(exc).__name__, exc)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.TOUCH_FLUSH_INTERVAL_SECONDS)
            self._flushes += 1
            try:
                await self.flush_touches(counters=self._flushes % COUNTERS_EVERY == 0)
                if self._needs_resync and self._store_error is None:
                    await self.resync()
            except asyncio.CancelledError:
                raise
            except StoreUnavailable as exc:
                self._mark_unavailable(exc)
            except Exception:  # noqa: BLE001
                log.exception("SSE touch flush failed")

    # -- monitoring -------------------------------------------------------------------
    async def monitoring_snapshot(self) -> MonitoringStats:
        """The guide's Complete Monitoring Response as a model. Never raises for store trouble:
        an unreachable store is reported as an unhealthy snapshot."""
        cfg = self.config
        now = self.clock()
        store_error: str | None = None
        census = Census(ages=AgeCounts(total=0, stale=0, long_lived=0, very_old=0), counter=0, older_than=[0] * len(stats.AGE_EDGES))
        counters = CleanupCounters()
        workers: list[WorkerInfo] = []
        try:
            census = await self.store.census(self._age_query(stats.AGE_EDGES))
            counters = await self.store.cleanup_counters()
            workers = self._worker_infos(await self.store.workers(), now)
        except StoreUnavailable as exc:
            store_error = str(exc)
            self._mark_unavailable(exc)
        live_others = [w for w in workers if w.alive and w.worker_id != self.worker_id]
        active = sum(w.connections for w in live_others) + (0 if self.observer else len(self._local))
        cleanup_running = self.cleanup_task_running or any(w.cleanup_running for w in live_others)
        indicators = health.evaluate(
            health.HealthInputs(
                active_connections=active, redis_connection_counters=census.counter,
                error_rate=stats.error_rate(counters), cleanup_task_running=cleanup_running,
                periodic_cleanup_enabled=cfg.PERIODIC_CLEANUP_ENABLED, stale=census.ages.stale,
                very_old=census.ages.very_old, store_available=store_error is None, store_error=store_error,
            ),
            health.HealthThresholds.from_config(cfg),
        )
        return MonitoringStats(
            timestamp=datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            service_name=cfg.SERVICE_NAME,
            connection_stats=ConnectionStats(active_connections=active, redis_connection_counters=census.counter,
                                             cleanup_task_running=cleanup_running,
                                             store_available=store_error is None),
            cleanup_stats=stats.cleanup_stats(counters, census.ages),
            health_indicators=indicators,
            performance_metrics=stats.performance_metrics(counters),
            configuration=ConfigurationView(
                cleanup_interval_seconds=cfg.CLEANUP_INTERVAL_SECONDS, cleanup_batch_size=cfg.CLEANUP_BATCH_SIZE,
                stale_threshold_seconds=cfg.STALE_CONNECTION_THRESHOLD_SECONDS,
                periodic_cleanup_enabled=cfg.PERIODIC_CLEANUP_ENABLED, ping_interval_seconds=cfg.PING_INTERVAL_SECONDS,
                validation_warnings=self.validation_warnings,
            ),
            workers=workers,
            age_histogram=stats.age_histogram(census.older_than, census.ages.total),
        )

    async def get_detailed_monitoring_stats(self) -> dict[str, Any]:
        """The guide's JSON as a plain dict."""
        return (await self.monitoring_snapshot()).model_dump(mode="json")

    async def metrics_inputs(self) -> tuple[MonitoringStats, CleanupCounters]:
        """What the Prometheus collector needs: the snapshot plus raw counters (histogram buckets)."""
        snap = await self.monitoring_snapshot()
        try:
            counters = await self.store.cleanup_counters()
        except StoreUnavailable:
            counters = CleanupCounters()
        return snap, counters

    async def list_connections(self, state: str = "stale", limit: int = 50, offset: int = 0) -> tuple[int, list[ConnectionRecord]]:
        return await self.store.list_connections(state, self._age_query(), limit, offset)

    def _worker_infos(self, heartbeats: list[WorkerHeartbeat], now: float) -> list[WorkerInfo]:
        ttl = self.config.WORKER_HEARTBEAT_TTL_SECONDS
        out = []
        for hb in heartbeats:
            mine = hb.worker_id == self.worker_id
            out.append(WorkerInfo(
                worker_id=hb.worker_id, host=hb.host, pid=hb.pid,
                connections=len(self._local) if mine else hb.connections,
                heartbeat_age_seconds=round(max(now - hb.heartbeat_at, 0.0), 3), started_at=hb.started_at,
                alive=mine or now - hb.heartbeat_at <= ttl,
                cleanup_running=self.cleanup_task_running if mine else hb.cleanup_running,
            ))
        return out


async def _cancel(task: asyncio.Task[Any] | None) -> None:
    if task is None or task.done():
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
