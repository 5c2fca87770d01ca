"""Cleanup: stale connections removed in batches, dead workers reaped, streams closed.

One run (:meth:`Cleanup.run`, at most one at a time per process): remove connections idle
past the stale threshold in batches of ``CLEANUP_BATCH_SIZE`` (one ``remove_stale`` call
each; the local ones among them are closed here, other workers close theirs at their
next flush), reap every worker whose heartbeat expired (under a lease: reaped and counted
once across the fleet), reconcile the counter, and record the run (kept and sent later
when the store is away). The periodic loop runs it every ``CLEANUP_INTERVAL_SECONDS``.
An operator's requests land here too: disconnect one connection, reap one worker now.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable

from . import stats
from .blast import MAX_CUT_LISTED, arrivals_kept, cuts_from_records, death_time, new_blast_id
from .clock import StoreClock, age_query
from .config import SSEConfig
from .liveness import worker_state
from .loops import BackgroundLoop
from .models import CleanupResult, DisconnectResult, FleetEvent, ReapResult, WorkerHeartbeat
from .registry import Registry
from .store.base import Cut, StateStore, StoreUnavailable
from .store_status import StoreStatusTracker

__all__ = ["Cleanup", "add_event"]

log = logging.getLogger("sse")
_REAP_EVENTS = ("death", "reap")  # the events that record a worker gone from the fleet

MIN_REAP_BATCH = 100  # connections per reap call on an operator's request


class Cleanup:
    """Runs cleanups for this worker. ``registry``: its streams (the local ones a run
    removes are closed); ``check_config``: called while the periodic loop sleeps, so a
    changed interval takes effect within the current cycle."""

    def __init__(self, store: StateStore, config: SSEConfig, *, clock: StoreClock, status: StoreStatusTracker,
                 registry: Registry, worker_id: str, check_config: Callable[[], None]) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.status = status
        self.registry = registry
        self.worker_id = worker_id
        self.check_config = check_config
        self._lock = asyncio.Lock()
        self._unrecorded: list[tuple[int, int, float, bool, float]] = []  # runs the store missed
        self._reap_locks: dict[str, asyncio.Lock] = {}
        self.loop = BackgroundLoop("sse-periodic-cleanup", self._periodic)

    @property
    def in_progress(self) -> bool:
        return self._lock.locked()

    async def run(self, batch_size: int | None = None, *, periodic: bool = False) -> CleanupResult:
        """One cleanup run with its full result. Raises StoreUnavailable if the store fails."""
        batch = self.config.CLEANUP_BATCH_SIZE if batch_size is None else int(batch_size)
        if batch <= 0:
            raise ValueError("batch_size must be a positive integer")
        async with self._lock:
            return await self._cleanup(batch, periodic)

    async def _reap(self, worker_id: str, batch: int,
                    announce: Callable[[int, list[Cut]], Awaitable[None]] | None = None) -> tuple[int, bool]:
        """Reap one dead worker under a lease; (connections removed, this call forgot it).
        ``announce(removed, cuts)`` writes its event (``cuts``: its streams, read first, for the
        blast radius: who was cut) *before* the worker is forgotten, so that no snapshot shows
        it gone without its event; called when this call is the one to forget it (it holds the
        lease, and the worker is still listed)."""
        # one reap of a worker at a time here (the fleet watch and a cleanup run may both find
        # it dead; they share this worker's lease): the first reaps and counts, the next finds nothing
        lock = self._reap_locks.setdefault(worker_id, asyncio.Lock())
        try:
            async with lock:
                cuts = cuts_from_records(await self.store.worker_records(worker_id, MAX_CUT_LISTED))
                removed = 0
                while True:
                    n, left = await self.store.reap_worker(worker_id, batch, self.worker_id)
                    removed += n
                    if left < 0:
                        return removed, False  # another worker is reaping it
                    if left == 0:
                        break
                # under the lease (another reaper finds it held until the worker is forgotten,
                # and nothing to forget after): still listed, so this call forgets it, and
                # announces it unless the fleet already did (a reaper whose lease ran out
                # between its event and the forget: a Redis pause longer than the lease)
                hb = next((w for w in await self.store.workers() if w.worker_id == worker_id), None)
                if announce is not None and hb is not None and not await self._announced(worker_id, hb.heartbeat_at):
                    await announce(removed, cuts)
                return removed, await self.store.forget_worker(worker_id)
        finally:
            if not lock.locked():
                self._reap_locks.pop(worker_id, None)

    async def _announced(self, worker_id: str, since: float) -> bool:
        """A death or reap of ``worker_id`` is on the fleet's record since ``since``: its last
        heartbeat (a dead worker's event is written at least its TTL later; a worker reaped on
        request that came back and heartbeats again is announced anew when it goes)."""
        marks = await self.store.history_marks(since, math.inf)
        return any(m.worker_id == worker_id and m.type in _REAP_EVENTS for m in marks)

    async def clock_ahead(self) -> str | None:
        """Why this worker's clock may not judge ages now (None: it may): it reads more than
        the tolerated skew ahead of the state store's (Redis ``TIME``), so every connection and
        heartbeat would look that much older than it is: live streams stale, live workers
        dead. (A clock that follows the store, the default, never is; one behind only delays
        a removal.) The store's clock unknown (memory store, a cluster, the store away): None."""
        before = self.clock.now()  # read first: the round trip can only make it look less ahead
        try:
            server = await self.store.server_time()
        except StoreUnavailable:
            return None  # the run meets the store's own error
        if server is None:
            return None
        ahead, tolerance = before - server, self.config.CLOCK_SKEW_TOLERANCE_SECONDS
        if ahead > tolerance:
            log.warning("SSE worker %s: its clock is %.1f s ahead of the state store's; it removes and reaps "
                        "nothing until they agree", self.worker_id, ahead)
            return f"this worker's clock is {ahead:.1f} s ahead of the state store's (tolerated: {tolerance:g} s)"
        return None

    def settling(self) -> str | None:
        """Why no cleanup may run now (None: it may): the registry settles after an outage
        or a data loss (an idle time or an old heartbeat may only mean the store was away),
        or this worker has not resynced yet."""
        if not self.status.ok:
            return None  # it runs, and fails with the store's own error
        if self.registry.resyncing:
            return "this worker is resyncing with the state store"
        res = self.registry.last_flush
        epoch = res.epoch if res is not None else None
        if epoch is not None and epoch.rebuild_since is not None:
            return "the registry is rebuilding after the state store lost its data"
        if epoch is not None and epoch.settle_since is not None:
            return "the registry is settling after a state store outage"
        return None

    async def _cleanup(self, batch: int, periodic: bool) -> CleanupResult:
        t0 = time.perf_counter()
        cleaned = failed = batches = reaped = 0
        cut: list[Cut] = []  # the stale streams removed (the dead workers' get their own events)
        stale = 0
        error: StoreUnavailable | None = None
        before_total = before_stale = 0
        skipped = self.settling() or await self.clock_ahead()
        if skipped is not None:
            log.info("SSE cleanup skipped: %s", skipped)
            return CleanupResult(cleaned=0, failed=0, duration_ms=0.0, skipped=skipped)
        try:
            await self._record_unrecorded()
            before = await self.store.census(age_query(self.config, self.clock.now()))
            before_total, before_stale = before.ages.total, before.ages.stale
            q = age_query(self.config, self.clock.now())
            cutoff = q.cut.stale
            while True:
                # who it cuts (core.blast): the batch remove_stale takes, the most idle first, read
                # before (not when the census just found none stale: the common run costs nothing more)
                if before_stale:
                    page = await self.store.list_connections("stale", q, batch, 0, sort="idle", order="desc")
                    cut.extend(cuts_from_records(page.records))
                count, mine = await self.store.remove_stale(cutoff, batch, self.worker_id)
                stale += count
                batches += 1
                failed_here = await self._close_removed(mine)
                cleaned += count - failed_here
                failed += failed_here
                if count < batch:
                    break
                await asyncio.sleep(0)  # let streams breathe between batches
            now = self.clock.now()
            for hb in await self.store.workers():
                reason = self._dead(hb, now)
                if reason is None:
                    continue
                removed, forgot = await self._reap(hb.worker_id, batch, self._announce_death(
                    hb.worker_id, reason, hb.heartbeat_at))
                cleaned += removed
                batches += 1
                if forgot:
                    reaped += 1
            await self.store.reconcile_counter()
        except StoreUnavailable as exc:
            error = exc
            self.status.mark_unavailable(exc)
        duration_ms = (time.perf_counter() - t0) * 1000.0
        result = CleanupResult(cleaned=cleaned, failed=failed, duration_ms=round(duration_ms, 3), batches=batches,
                               dead_workers_reaped=reaped, error=str(error) if error else None)
        # a run the store could not serve (unreachable, refusing writes) is not a cleanup
        # error of the fleet's own doing: the store's alert covers it, and counting it would
        # keep the error-rate verdict up long after the store is back
        if error is None or error.state == "error":
            try:
                await self.store.record_cleanup(cleaned, failed, duration_ms, error is not None, self.clock.now())
            except StoreUnavailable:
                self._unrecorded.append((cleaned, failed, duration_ms, error is not None, self.clock.now()))
        if error is not None:
            raise error
        if cleaned or failed:
            routine = periodic and not failed
            blast_id = await self._blast(stale, None, cut[:MAX_CUT_LISTED]) if stale > 0 else None
            await self.event("cleanup" if periodic else "operator",
                             f"{'cleanup' if periodic else 'cleanup on request'} removed {cleaned} stale connection(s)"
                             + (f", {failed} failed" if failed else ""), cleaned, group=routine, blast_id=blast_id)
        try:
            after = await self.store.census(age_query(self.config, self.clock.now()))
        except StoreUnavailable as exc:
            self.status.mark_unavailable(exc)
            return result
        log.info(
            "SSE cleanup completed: cleaned=%d, failed=%d, total_before=%d, total_after=%d, duration_ms=%.2f, "
            "efficiency=%.1f%%, batch_size=%d, threshold_seconds=%g, stale_connections=%d, active_connections=%d, "
            "long_lived_connections=%d",
            cleaned, failed, before_total, after.ages.total, duration_ms,
            stats.run_efficiency(cleaned, failed), batch, self.config.STALE_CONNECTION_THRESHOLD_SECONDS,
            before_stale, after.ages.active, after.ages.long_lived,
        )
        return result

    def _dead(self, hb: WorkerHeartbeat, now: float) -> str | None:
        """Why a fleet-mate is dead (None: it is not, or it is this worker)."""
        if hb.worker_id == self.worker_id:
            return None
        cfg = self.config
        state, why = worker_state(hb, now, late_after=cfg.worker_late_seconds, ttl=cfg.WORKER_HEARTBEAT_TTL_SECONDS,
                                  skew=cfg.CLOCK_SKEW_TOLERANCE_SECONDS)
        return why if state == "dead" else None

    async def reap_dead(self, worker_id: str, reason: str) -> int:
        """Reap a fleet-mate found dead (``reason``) now, under the fleet's lease (one reaper
        reaps and counts it); returns the connections this call removed."""
        if "gone" not in reason and (self.settling() is not None or await self.clock_ahead() is not None):
            return 0  # an old heartbeat while the registry settles, or by a clock ahead, says nothing
        t0 = time.perf_counter()
        cut_at = await self._last_heartbeat(worker_id)  # the last moment it was known alive
        removed, forgot = await self._reap(worker_id, max(self.config.CLEANUP_BATCH_SIZE, MIN_REAP_BATCH),
                                           self._announce_death(worker_id, reason, cut_at))
        if forgot:
            await self.store.reconcile_counter()
            # a cleanup run of its own: its connections count as cleaned, as when a periodic run reaps
            await self.store.record_cleanup(removed, 0, (time.perf_counter() - t0) * 1000.0, False, self.clock.now())
        return removed

    def _announce_death(self, worker_id: str, reason: str,
                        cut_at: float | None) -> Callable[[int, list[Cut]], Awaitable[None]]:
        """The death event of a reap (its blast radius first), for _reap to write before it
        forgets the worker."""
        async def announce(removed: int, cuts: list[Cut]) -> None:
            log.warning("SSE reaped dead worker %s (%s): %d connections removed", worker_id, reason, removed)
            blast_id = await self._blast(removed, death_time(cut_at, cuts), cuts)
            await self.event("death", f"worker {worker_id} died ({reason}): {removed} stream(s) cut and reaped",
                             removed, worker_id, blast_id=blast_id)
        return announce

    async def _last_heartbeat(self, worker_id: str) -> float | None:
        """The dead worker's last heartbeat (None: not listed, or the store is away)."""
        try:
            return next((w.heartbeat_at for w in await self.store.workers() if w.worker_id == worker_id), None)
        except StoreUnavailable:
            return None

    async def _blast(self, removed: int, cut_at: float | None, cuts: list[Cut]) -> str | None:
        """Record who ``removed`` cut (``cuts``: the streams read before, core.blast); its id
        (None: nothing cut, or the store lost it). ``cut_at``: when (None: now)."""
        if not removed and not cuts:
            return None
        now = self.clock.now()
        at = min(cut_at, now) if cut_at is not None else now
        blast_id = new_blast_id()
        try:
            # the event's count is what was removed; streams read before but removed by someone
            # else meanwhile are not its to follow
            await self.store.put_blast(blast_id, at, self.config.BLAST_WINDOW_SECONDS, removed, cuts[:removed],
                                       arrivals_kept(self.config))
        except StoreUnavailable as exc:
            self.status.mark_unavailable(exc)
            return None
        return blast_id

    async def event(self, type_: str, message: str, count: int = 0, worker_id: str | None = None, *,
                    group: bool = False, blast_id: str | None = None) -> None:
        """Add one fleet event (a routine one, ``group``, is merged into the same kind at the
        head of the list); it is a mark on the history too. A store in trouble loses it.
        ``blast_id``: the streams it cut are followed (core.blast)."""
        await add_event(self.store, self.status, self.config, FleetEvent(
            at=self.clock.now(), type=type_, message=message, count=count, worker_id=worker_id or self.worker_id,
            blast_id=blast_id), group=group)

    async def _record_unrecorded(self) -> None:
        while self._unrecorded:
            await self.store.record_cleanup(*self._unrecorded[0])
            self._unrecorded.pop(0)

    async def _close_removed(self, removed: list[str]) -> int:
        """Close the local streams among ``removed``; returns how many could not be closed."""
        failed = 0
        for cid in removed:
            entry = self.registry.drop(cid, "stale")
            if entry is not None and not await self.registry.local.close(entry):
                failed += 1
        return failed

    async def _periodic(self) -> None:
        while True:
            await self._sleep_interval()
            t0 = time.perf_counter()
            try:
                result = await self.run(periodic=True)
                counters = await self.store.cleanup_counters()
                log.info("Periodic cleanup cycle: cleaned=%d connections, cycle_duration_ms=%.2f, total_cleanups=%d, "
                         "total_cleaned=%d, error_rate=%.1f%%", result.cleaned, (time.perf_counter() - t0) * 1000.0,
                         counters.total_cleanups, counters.total_connections_cleaned, stats.error_rate(counters))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the loop must survive anything
                log.error("Error during periodic SSE cleanup: %s: %s", type(exc).__name__, exc)

    async def _sleep_interval(self) -> None:
        """Sleep one cleanup interval, re-reading the setting while sleeping: an interval
        changed at run time takes effect within the current cycle."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        while True:
            self.check_config()
            left = start + self.config.CLEANUP_INTERVAL_SECONDS - loop.time()
            if left <= 0:
                return
            await asyncio.sleep(min(left, 1.0))

    # -- an operator's requests --------------------------------------------------------
    async def disconnect(self, connection_id: str) -> DisconnectResult:
        """Remove one connection from the registry and close its stream: here at once when
        this worker holds it, otherwise its worker closes it at its next flush."""
        rec = await self.store.get_connection(connection_id)
        entry = self.registry.drop(connection_id, "operator", dequeue=True)
        removed = await self.store.unregister(connection_id)
        closed = False
        if entry is not None:
            closed = await self.registry.local.close(entry)
        if removed or closed:
            blast_id = await self._blast(1, None, cuts_from_records([rec] if rec else []))
            await self.event("disconnect", f"connection {connection_id[:40]} disconnected by an operator", 1,
                             rec.worker_id if rec else self.worker_id, blast_id=blast_id)
            log.warning("SSE connection %s disconnected by an operator (worker %s)", connection_id,
                        rec.worker_id if rec else "?")
        return DisconnectResult(connection_id=connection_id, removed=removed, closed_locally=closed,
                                worker_id=rec.worker_id if rec else None)

    async def reap_worker_now(self, worker_id: str, *, force: bool = False) -> ReapResult:
        """Reap one worker's connections now. Refuses (ValueError) a worker whose heartbeat
        is alive unless ``force``; KeyError for a worker the store does not know."""
        now = self.clock.now()
        ttl = self.config.WORKER_HEARTBEAT_TTL_SECONDS
        hb = next((w for w in await self.store.workers() if w.worker_id == worker_id), None)
        if hb is None:
            raise KeyError(worker_id)
        alive = worker_id == self.worker_id or now - hb.heartbeat_at <= ttl
        if alive and not force:
            raise ValueError("worker is alive")
        async def announce(removed: int, cuts: list[Cut]) -> None:
            log.warning("SSE reaped worker %s on request: %d connections removed", worker_id, removed)
            blast_id = await self._blast(removed, None, cuts)
            await self.event("reap", f"worker {worker_id} reaped on request: {removed} stream(s) cut", removed, worker_id,
                             blast_id=blast_id)
        removed, _ = await self._reap(worker_id, max(self.config.CLEANUP_BATCH_SIZE, MIN_REAP_BATCH), announce)
        await self.store.reconcile_counter()
        return ReapResult(worker_id=worker_id, removed=removed, was_alive=alive)


async def add_event(store: StateStore, status: StoreStatusTracker, config: SSEConfig, event: FleetEvent, *,
                    group: bool = False) -> None:
    """Add a fleet event and its history mark (marks kept as long as the rollup tier)."""
    try:
        await store.add_event(event, group=group, marks_since=event.at - config.HISTORY_ROLLUP_RETENTION_SECONDS)
    except StoreUnavailable as exc:
        status.mark_unavailable(exc)
