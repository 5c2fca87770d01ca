"""ConnectionManager: the guide's connection manager, a façade over parts with one concern each.

::

    ConnectionManager ── the guide's API; builds the parts below and wires them
      ├─ registry   Registry           this worker's streams, written behind to the store:
      │                                 register / touch / unregister, the flush (touches +
      │                                 heartbeat), sync after trouble          (core.registry)
      ├─ cleaner    Cleanup            cleanup runs, reaping dead workers, disconnect, the
      │                                 periodic loop                           (core.cleanup)
      ├─ snapshots  SnapshotBuilder    MonitoringStats from one fleet read, the rules'
      │                                 hysteresis, the configuration view      (core.snapshot)
      ├─ recorder   Recorder           fleet history samples, trends under a lease,
      │                                 history() reads                         (core.recorder)
      ├─ settings   ConfigWatch        validation warnings, settings changed at
      │                                 run time                                (core.snapshot)
      ├─ fleet_clock StoreClock        the store's clock offset: now()          (core.clock)
      └─ status_tracker StoreStatusTracker  up / connecting / unreachable, bad data
                                                                                (core.store_status)

Each part is handed what it needs (the store, the config, the clock, a callable) and never
the manager. The manager never lets a store failure reach a stream: it starts whether or
not the store answers (it connects in the background), a stream's headers wait at most
``REGISTER_WAIT_SECONDS`` for its registration, and after any store trouble the next good
flush makes the store agree with what this worker really holds. Times written to the
store are on the store's clock (Redis ``TIME``, measured at every flush), so workers whose
clocks disagree still agree on every cutoff. Drawn out in docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from . import stats
from .blast import arrivals_kept
from .cleanup import Cleanup
from .clock import Clock, StoreClock, age_query
from .config import SSEConfig
from .local_streams import (
    CLOSE_REASONS,
    MAX_CHANNEL,
    MAX_CLIENT,
    MAX_CONNECTION_ID,
    MAX_USER_AGENT,
    ActivitySource,
    LocalStream,
    OnClose,
    PodStats,
    new_connection_id,
)
from .models import (
    ChannelsPage,
    ChannelSummary,
    CleanupCounters,
    CleanupResult,
    ConnectionPage,
    ConnectionRecord,
    DisconnectResult,
    HistorySeries,
    MonitoringStats,
    ReapResult,
    StoreStatus,
    TrendEvidence,
)
from .queues import FRESH_READS, QueueWatch, annotate, parse_published
from .reconnects import ConnectMeter
from .recorder import Recorder, TrendVerdicts
from .registry import COUNTS_MIN_FLUSHES, RESYNC_FLUSHES, SYNC_EVERY, Registry, activity_resolution, counts_interval
from .snapshot import AdmissionSource, ConfigWatch, SnapshotBuilder
from .store.base import StateStore, StoreUnavailable
from .store_status import StoreStatusTracker, explain
from .watch import FleetWatch

# names other modules import from here (kept where they were before the parts moved out)
__all__ = [
    "CLOSE_REASONS", "COUNTS_MIN_FLUSHES", "MAX_CHANNEL", "MAX_CLIENT", "MAX_CONNECTION_ID", "MAX_USER_AGENT",
    "RESYNC_FLUSHES", "SYNC_EVERY", "ActivitySource", "AdmissionSource", "Clock", "ConnectionManager", "OnClose",
    "PodStats", "StateManager", "new_connection_id",
]

log = logging.getLogger("sse")
T = TypeVar("T")


class StateManager:
    """The guide's ``manager.state_manager``: read access to fleet-wide cleanup state."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    async def get_cleanup_statistics(self) -> dict[str, float | int]:
        """Counters and rates, ``error_rate`` included (percent, one decimal)."""
        return stats.cleanup_statistics(await self.store.cleanup_counters())


QUEUED_SORT_SCAN = 2000  # records a sort by send queue looks at (the newest; ``truncated`` beyond)


class ConnectionManager:
    """The guide's connection manager (one per process: :class:`core.provider.SSEProvider`).
    Its parts, each with one concern: :attr:`registry`, :attr:`cleaner`, :attr:`snapshots`,
    :attr:`recorder`, :attr:`fleet_clock`, :attr:`status_tracker`, :attr:`settings`."""

    def __init__(self, store: StateStore, config: SSEConfig, *, clock: Clock = time.time,
                 worker_id: str | None = None, host: str | None = None, pid: int | None = None,
                 observer: bool = False, store_clock: bool | None = None,
                 admission_source: AdmissionSource | None = None) -> None:
        """``store_clock``: translate times to the store's clock (measured at each flush).
        Default: on with the real clock, off with an injected test clock.

        ``admission_source``: what ``/monitoring`` shows as ``admission`` (None: not in
        use); :class:`core.admission.AdmissionMiddleware` and :class:`core.provider.SSEProvider`
        hand in :func:`core.admission.admission_in_use`."""
        self.store = store
        self._config = config
        self.clock = clock
        self.host = host or socket.gethostname()
        self.pid = pid if pid is not None else os.getpid()
        self.worker_id = worker_id or f"{self.host}-{self.pid}-{uuid.uuid4().hex[:6]}"
        self.observer = observer
        self.state_manager = StateManager(store)
        self.started_at = clock()
        follow = (clock is time.time) if store_clock is None else store_clock
        self.fleet_clock = StoreClock(store, clock, follow_store=follow)
        self.status_tracker = StoreStatusTracker(clock)
        self.registry = Registry(store, config, clock=self.fleet_clock, status=self.status_tracker,
                                 worker_id=self.worker_id, host=self.host, pid=self.pid, started_at=self.started_at,
                                 observer=observer, host_is_local=host is None)
        self.settings = ConfigWatch(config, on_change=self.registry.republish)
        self.cleaner = Cleanup(store, config, clock=self.fleet_clock, status=self.status_tracker,
                               registry=self.registry, worker_id=self.worker_id, check_config=self.settings.check)
        # the heartbeat says whether the periodic cleanup runs: the one tie from the registry
        # back to the cleanup (which needs the registry), made once both exist
        self.registry.cleanup_running = self.cleaner.loop.running
        verdicts = TrendVerdicts()
        self.snapshots = SnapshotBuilder(store, config, clock=self.fleet_clock, status=self.status_tracker,
                                         settings=self.settings, worker_id=self.worker_id,
                                         cleanup_running=self.cleaner.loop.running, trends=verdicts.fresh,
                                         admission_source=admission_source, known_epoch=lambda: self.registry.epoch,
                                         observer=observer, registry_size=lambda: self.registry.registry_size)
        if not observer:
            self.snapshots.stream_counting = self.registry.local.counting
        self.recorder = Recorder(store, config, clock=self.fleet_clock, status=self.status_tracker,
                                 worker_id=self.worker_id, observer=observer, verdicts=verdicts,
                                 snapshot=self.snapshots.snapshot)
        self.watch = FleetWatch(store, config, clock=self.fleet_clock, worker_id=self.worker_id,
                                hostkey=self.registry.hostkey, reap=self.cleaner.reap_dead,
                                judge=self.snapshots.snapshot, real_clock=clock is time.time,
                                on_settled=self.registry.settled)
        if not observer:
            self.registry.on_flushed = self.watch.after_flush
            self.registry.on_loss = self._reseed
            self.status_tracker.on_recovery(self.recorder.outage)
        self._exported: CleanupCounters | None = None  # the fleet counters /metrics last showed (never go back)
        self.connects = ConnectMeter(store, now=self.fleet_clock.now, window=lambda: self.config.RECONNECT_WINDOW_SECONDS,
                                     arrivals_kept=lambda: arrivals_kept(self.config))
        if not observer:
            self.registry.add_flush_hook(self.connects.after_flush)
            # a stream removed by the fleet (cleanup, reap, operator, shutdown): its client comes
            # back (one hook for all streams: no closure kept per stream)
            self.registry.local.on_removal = self._stream_removed
        self.snapshots.connect_rate_source = self._connect_counts
        self.queues = QueueWatch(store, self.worker_id, not_reading_seconds=lambda: self.config.NOT_READING_SECONDS,
                                 read_interval=lambda: self.socket_read_interval, fleet_now=self.fleet_clock.now)

    # -- settings -----------------------------------------------------------------------
    @property
    def config(self) -> SSEConfig:
        return self._config

    @config.setter
    def config(self, cfg: SSEConfig) -> None:
        """Judge by other settings from now on (an observer follows the fleet's published ones)."""
        self._config = cfg
        for part in (self.registry, self.settings, self.cleaner, self.snapshots, self.recorder, self.watch):
            part.config = cfg

    @property
    def validation_warnings(self) -> list[str]:
        return self.settings.validation_warnings

    def check_config(self) -> None:
        """Pick up settings changed at run time (``sse_config.X = ...``): recompute and log
        the guide's validation lines, and republish the fleet settings. The loops read
        their intervals each cycle, so a change takes effect at the next one."""
        self.settings.check()

    @property
    def socket_read_interval(self) -> float:
        """Seconds between reads of the kernel's socket table (at most one per flush): half
        the activity resolution, or of ``SSE_NOT_READING_SECONDS`` when that is shorter (a
        client that stops reading is flagged within about that, core.queues)."""
        return min(self.activity_resolution, self.config.NOT_READING_SECONDS) / 2

    @property
    def activity_resolution(self) -> float:
        """Seconds within which the store's activity time of a streaming connection may lag
        (``SSE_ACTIVITY_RESOLUTION_SECONDS``, default a tenth of the stale threshold)."""
        return activity_resolution(self.config)

    @property
    def counts_interval(self) -> float:
        """Seconds between writes of each connection's events/bytes to the store (the stale
        threshold, at least ``COUNTS_MIN_FLUSHES`` flush intervals)."""
        return counts_interval(self.config, self.registry.registry_size)

    def counts_due(self) -> bool:
        """True when the next periodic flush should send the per-connection counts."""
        return self.registry.counts_due()

    @property
    def admission_source(self) -> AdmissionSource | None:
        return self.snapshots.admission_source

    @admission_source.setter
    def admission_source(self, source: AdmissionSource | None) -> None:
        self.snapshots.admission_source = source

    # -- clocks -----------------------------------------------------------------------
    def now(self) -> float:
        """The fleet's clock: the store's (Redis TIME) as measured at the last flush."""
        return self.fleet_clock.now()

    @property
    def clock_offset(self) -> float:
        return self.fleet_clock.offset

    async def measure_clock(self) -> None:
        """Read the store's clock now (observers, which do not flush)."""
        if self.status_tracker.connected:
            await self.fleet_clock.measure()

    # -- store status -------------------------------------------------------------------
    @property
    def store_status(self) -> StoreStatus:
        return self.status_tracker.status

    @property
    def store_ok(self) -> bool:
        return self.status_tracker.ok

    # -- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        """Start: never waits long on the store. An observer (sse-dash) needs the store and
        raises StoreUnavailable; a worker connects in the background and serves at once."""
        registry = self.registry
        if registry.started:
            return
        self.settings.log_validation()
        if self.observer:
            await self.store.start()
            self.status_tracker.connected = True
            self.status_tracker.mark_ok()
            registry.started = True
            return
        registry.started = True
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # arrives as the inner call completes
            async with asyncio.timeout(min(self.config.REDIS_TIMEOUT_SECONDS, 0.5)):
                await registry.connect()
        except (StoreUnavailable, TimeoutError) as exc:  # serve anyway: streams must not depend on Redis
            # up already: the first flush landed and only the fleet watch after it ran past the
            # bound (a busy machine); the store answered, so no outage (it runs at the next flush)
            if isinstance(exc, StoreUnavailable) or not self.status_tracker.ok:
                self.status_tracker.mark_unavailable(exc if isinstance(exc, StoreUnavailable)
                                                     else StoreUnavailable("state store did not answer at start",
                                                                           "unreachable"))
        registry.loop.start()
        if self.config.PERIODIC_CLEANUP_ENABLED:
            self.start_periodic_cleanup()
        if self.config.HISTORY_ENABLED:
            self.recorder.loop.start()

    def start_periodic_cleanup(self) -> None:
        self.cleaner.loop.start()

    async def stop_periodic_cleanup(self) -> None:
        await self.cleaner.loop.stop()

    async def stop(self, *, close_streams: bool = True) -> None:
        """Graceful shutdown: unregister every local connection, forget this worker, close the store."""
        if not self.registry.started:
            return
        await self.stop_periodic_cleanup()
        await self.recorder.loop.stop()
        await self.registry.loop.stop()
        await self.watch.stop()
        await self.recorder.stop()
        await self.queues.stop()
        await self.registry.leave(close_streams=close_streams)
        await self.connects.stop()  # the streams it closed: their clients will be back (core.reconnects)
        await self.store.close()
        self.registry.started = False

    @property
    def cleanup_task_running(self) -> bool:
        return self.cleaner.loop.running()

    # -- registry (core.registry) -----------------------------------------------------
    @property
    def local_connection_count(self) -> int:
        return len(self.registry.local)

    def local_connection_ids(self) -> list[str]:
        return list(self.registry.local)

    async def register(self, connection_id: str | None = None, *, channel: str = "default",
                       client_address: str = "", user_agent: str = "",
                       on_close: OnClose | None = None, activity: ActivitySource | None = None,
                       resumed: bool = False) -> ConnectionRecord:
        """Register a stream. Never raises for store trouble and waits at most
        ``REGISTER_WAIT_SECONDS`` for the store (then the registration goes on in the
        background, batched with others). Client-controlled fields are length-capped.

        ``activity``: the stream's running ``events_sent``/``bytes_sent`` totals, read at
        every flush (then the stream need not call :meth:`touch`). ``resumed``: the client
        sent ``Last-Event-ID`` (a reconnect, core.reconnects)."""
        self.connects.connected(client_address, user_agent, resumed)
        # closed by on_close, else by the activity's on_removed (core.local_streams.LocalStreams.close)
        return await self.registry.register(connection_id, channel=channel, client_address=client_address,
                                            user_agent=user_agent, on_close=on_close, activity=activity)

    def _stream_removed(self, entry: LocalStream) -> None:
        """The fleet removed one of our streams (cleanup, reap, operator, shutdown): its client
        will be back (the reconnect meter, core.reconnects)."""
        _w, _h, _p, _ch, client_address, user_agent, _at, _act = entry.fields
        self.connects.closed(client_address, user_agent)

    def touch(self, connection_id: str, events: int = 1, bytes_sent: int = 0) -> None:
        """A send or ping succeeded. Cheap (called for every event): two dict updates;
        the store hears of it at the next flush."""
        self.registry.touch(connection_id, events, bytes_sent)

    def pod_stats(self) -> PodStats:
        return self.registry.local.pod_stats()

    async def unregister(self, connection_id: str, reason: str = "client_gone") -> bool:
        """Forget a stream (client gone, server shutdown, error; ``reason`` one of
        CLOSE_REASONS). True when the store no longer holds it on return (it is removed in
        the background otherwise)."""
        entry = self.registry.local.get(connection_id)
        if entry is not None:
            self.connects.closed(entry.record.client_address, entry.record.user_agent)
        return await self.registry.unregister(connection_id, reason)

    def add_flush_hook(self, hook: Callable[[], None]) -> None:
        """Run ``hook()`` at the start of every flush, before the streams' ``progress`` is
        read (one refresh for all streams, e.g. one read of the kernel's socket table)."""
        self.registry.add_flush_hook(hook)

    def remove_flush_hook(self, hook: Callable[[], None]) -> None:
        self.registry.remove_flush_hook(hook)

    async def flush_touches(self, *, counters: bool = True) -> None:
        """Send queued registrations, batched activity and the heartbeat; after store
        trouble (or when the store's count of our connections disagrees with ours) make
        the store agree with what this worker holds.

        With ``counters=False`` only activity times go out and per-connection event/byte
        counts stay batched here: the periodic flush sends counts every
        :attr:`counts_interval` seconds, so a streaming fleet costs Redis per connection
        what its stale threshold asks, not what its event rate would."""
        await self.registry.flush(counters=counters)

    async def resync(self) -> int:
        """Put every live local connection back into the store (after it lost them) and
        drop phantoms. Returns how many were re-registered."""
        return await self.registry.resync()

    # -- cleanup (core.cleanup) ---------------------------------------------------------
    async def cleanup_stale_connections(self, batch_size: int | None = None) -> int:
        """Remove stale connections (and those of dead workers) in batches; returns how many."""
        return (await self.run_cleanup(batch_size)).cleaned

    async def run_cleanup(self, batch_size: int | None = None, *, periodic: bool = False) -> CleanupResult:
        """One cleanup run with its full result. Raises StoreUnavailable if the store fails."""
        return await self.cleaner.run(batch_size, periodic=periodic)

    @property
    def cleanup_in_progress(self) -> bool:
        return self.cleaner.in_progress

    async def disconnect(self, connection_id: str) -> DisconnectResult:
        """Remove one connection from the registry and close its stream: here at once when
        this worker holds it, otherwise its worker closes it at its next flush."""
        return await self.cleaner.disconnect(connection_id)

    async def reap_worker_now(self, worker_id: str, *, force: bool = False) -> ReapResult:
        """Reap one worker's connections now. Refuses (ValueError) a worker whose heartbeat
        is alive unless ``force``; KeyError for a worker the store does not know."""
        return await self.cleaner.reap_worker_now(worker_id, force=force)

    # -- reading connections ------------------------------------------------------------
    async def _reading(self, call: Awaitable[T]) -> T:
        """A read for an endpoint: its failure is the store's status too (a key of the wrong
        type is then repaired by the registry's writer)."""
        try:
            return await call
        except StoreUnavailable as exc:
            named = await explain(self.store, exc)
            self.status_tracker.mark_unavailable(named)
            raise named from exc

    async def connection(self, connection_id: str) -> ConnectionRecord | None:
        rec = await self._reading(self.store.get_connection(connection_id))
        if rec is None:
            return None
        now = self.now()
        return (await self._with_queues([self._live(rec, now)], now))[0]

    async def _connect_counts(self, since: float, now: float) -> list[tuple[int, int, int]]:
        return await self.store.connect_counts(since, now)

    async def _with_queues(self, records: list[ConnectionRecord], now: float) -> list[ConnectionRecord]:
        """``records`` with their send queues as their workers last published them
        (core.queues); unknown (None) where a worker published none lately, or the store
        cannot say."""
        if not records:
            return records
        try:
            raw = await self.store.get_queues(sorted({r.worker_id for r in records}))
        except StoreUnavailable:
            return records
        views = {w: parse_published(body) for w, body in raw.items()}
        max_age = FRESH_READS * self.socket_read_interval + self.config.TOUCH_FLUSH_INTERVAL_SECONDS
        n = self.config.NOT_READING_SECONDS
        return [annotate(r, views, now, max_age, n) for r in records]

    def _live(self, rec: ConnectionRecord, now: float) -> ConnectionRecord:
        """A record of a stream this worker serves, with its counts as of now (the stream
        keeps them itself); any other record as stored, with the time its counts were taken."""
        entry = self.registry.local.get(rec.connection_id)
        src = entry.activity if entry is not None else None
        if src is None:
            return rec
        refresh = getattr(src, "refresh_counts", None)  # kernel-counted: ask for this one connection now
        if refresh is not None:
            refresh()
        return rec.model_copy(update={"events_sent": src.events_sent, "bytes_sent": src.bytes_sent, "counts_at": now})

    async def list_connections(self, state: str = "all", limit: int = 50, offset: int = 0, *, query: str = "",
                               sort: str | None = None, order: str = "desc") -> ConnectionPage:
        q = age_query(self.config, self.now())
        sort = sort or ("idle" if state in ("stale", "active") else "age")
        by_queue = sort == "queued"  # the store does not hold queues: the newest QUEUED_SORT_SCAN, sorted here
        scan = max(QUEUED_SORT_SCAN, offset + limit) if by_queue else limit
        page = await self._reading(self.store.list_connections(state, q, scan, 0 if by_queue else offset,
                                                               query=query, sort="age" if by_queue else sort,
                                                               order="desc" if by_queue else order))
        if page.bad_data or self.status_tracker.bad_from("records"):
            self.status_tracker.note_bad_data(page.bad_data, "records")
        records = await self._with_queues([self._live(r, q.now) for r in page.records], q.now)
        truncated, scanned = page.truncated, page.scanned
        if by_queue:
            records.sort(key=lambda r: -1 if r.queued_bytes is None else r.queued_bytes, reverse=order == "desc")
            records = records[offset:offset + limit]
            truncated, scanned = truncated or page.total > scan, max(scanned, len(page.records))
        return ConnectionPage(state=state, query=query, sort=sort, order=order, total=page.total, limit=limit,
                              offset=offset, truncated=truncated, scanned=scanned, now=q.now,
                              stale_threshold_seconds=q.stale_threshold,
                              connections=records,
                              activity_resolution_seconds=self.activity_resolution,
                              counts_interval_seconds=self.counts_interval)

    async def channels(self) -> ChannelsPage:
        q = age_query(self.config, self.now())
        rows, scanned, truncated = await self._reading(self.store.channels(q))
        rows.sort(key=lambda r: (-r.connections, r.channel))
        return ChannelsPage(now=q.now, scanned=scanned, truncated=truncated, channels=[
            ChannelSummary(channel=r.channel, connections=r.connections, stale=r.stale,
                           oldest_connected_at=r.oldest_connected_at) for r in rows])

    # -- monitoring (core.snapshot) -----------------------------------------------------
    async def monitoring_snapshot(self) -> MonitoringStats:
        """The guide's Complete Monitoring Response as a model. Never raises for store
        trouble: numbers the store could not give are ``None`` (unknown, never 0) and the
        verdict says why."""
        return await self.snapshots.snapshot()

    async def get_detailed_monitoring_stats(self) -> dict[str, Any]:
        """The guide's JSON as a plain dict."""
        return (await self.monitoring_snapshot()).model_dump(mode="json")

    async def metrics_inputs(self) -> tuple[MonitoringStats, CleanupCounters | None, PodStats]:
        """What the Prometheus collector needs: the snapshot plus raw counters (histogram
        buckets; None when the store could not be read)."""
        snap = await self.monitoring_snapshot()
        counters: CleanupCounters | None = None
        if snap.connection_stats.store_available and snap.registry.state == "settled":
            try:
                counters = stats.never_back(self._exported, await self.store.cleanup_counters())
                self._exported = counters
            except StoreUnavailable:
                counters = None
        if counters is not None:  # the cumulative numbers this pod exports never go back
            cl = snap.cleanup_stats
            snap = snap.model_copy(update={"cleanup_stats": cl.model_copy(update={
                "total_cleanups": max(cl.total_cleanups or 0, counters.total_cleanups),
                "total_connections_cleaned": max(cl.total_connections_cleaned or 0, counters.total_connections_cleaned),
                "cleanup_errors": max(cl.cleanup_errors or 0, counters.cleanup_errors),
                "failed_connections": max(cl.failed_connections or 0, counters.failed_connections)})})
        return snap, counters, self.pod_stats()

    async def _reseed(self) -> None:
        """The store lost the fleet's data: put its cleanup counters back to what this worker
        last saw (or exported), so counters kept there never go back."""
        floor = stats.never_back(self._exported, self.snapshots.last_counters) if self.snapshots.last_counters \
            else self._exported
        if floor is not None:
            await self.store.reseed_counters(floor)

    # -- fleet history (core.recorder; docs/architecture.md "Fleet history") -------------
    async def record_history(self) -> bool:
        """Take this interval's lease and write the fleet's sample (True: this worker wrote
        it; False: another worker did, or the store is in trouble: nothing is written then)."""
        return await self.recorder.record()

    async def refresh_trends(self) -> dict[str, TrendEvidence]:
        """The fleet's trend verdicts, computed once per TREND_REFRESH_SECONDS by the worker
        that takes the period's lease, read by every other worker and observer ({}: unknown)."""
        return await self.recorder.refresh_trends()

    async def compute_trends(self, now: float) -> dict[str, TrendEvidence]:
        """The history verdicts at ``now``; ``trend_computations`` counts the calls."""
        return await self.recorder.compute_trends(now)

    @property
    def trend_computations(self) -> int:
        return self.recorder.trend_computations

    async def refresh_trends_if_due(self) -> None:
        """For observers (sse-dash --redis), which run no recorder."""
        await self.recorder.refresh_trends_if_due()

    async def history(self, range_s: float, step: float | None = None, workers: bool = False) -> HistorySeries:
        """The fleet history of the last ``range_s`` seconds on ``step``-second buckets (None:
        about 360 buckets); ValueError for a range/step the tiers cannot answer. ``workers``:
        with the per-worker counts (read only then); without, the series' ``workers`` is None."""
        return await self._reading(self.recorder.history(range_s, step, workers))
