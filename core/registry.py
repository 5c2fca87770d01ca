"""The write-behind registry: this worker's streams, written to the store in batches.

::

    register() ──► local table + registration queue ─┐ the writer task (``sse-store-sync``)
    unregister() ─► local table + removal queue ─────┤ sends queued registrations / removals
                                                     │ in batches (one call each), and every
    stream progress (activity=) / touch() ───────────┴ TOUCH_FLUSH_INTERVAL one store.flush
                                                       (touches + heartbeat)

A stream waits at most ``REGISTER_WAIT_SECONDS`` for its batch: a store that hangs never
holds it. After any store trouble (:class:`~core.store_status.StoreStatusTracker` calls
back) the next flushes make the store agree with what this worker really holds: phantoms
removed, missing connections added (``sync_worker``). The heartbeat's round trip measures
the store's clock (:class:`~core.clock.StoreClock`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
from collections.abc import Awaitable, Callable

from .clock import StoreClock
from .config import SSEConfig, fleet_settings
from .liveness import host_identity
from .local_streams import (
    MAX_CHANNEL,
    MAX_CLIENT,
    MAX_CONNECTION_ID,
    MAX_USER_AGENT,
    ActivitySource,
    Counts,
    LocalStream,
    LocalStreams,
    OnClose,
    new_connection_id,
)
from .loops import BackgroundLoop
from .models import ConnectionRecord, Touch, WorkerHeartbeat
from .store.base import FlushResult, StateStore, StoreUnavailable
from .store_status import StoreStatusTracker

__all__ = ["COUNTS_MIN_FLUSHES", "RESYNC_FLUSHES", "SYNC_EVERY", "Registry", "activity_resolution", "counts_interval"]

log = logging.getLogger("sse")

COUNTS_MIN_FLUSHES = 30  # per-connection events/bytes go to the store at most every this many flushes
SYNC_EVERY = 60  # flushes between full checks of this worker's set against the store
RESYNC_FLUSHES = 2  # flushes after store trouble that reconcile (late-applied writes of a hang land in the first)


def activity_resolution(cfg: SSEConfig) -> float:
    """Seconds within which the store's activity time of a streaming connection may lag
    (``SSE_ACTIVITY_RESOLUTION_SECONDS``, default a tenth of the stale threshold): a
    stream's activity is rewritten only when it moved by more, so Redis work per
    streaming connection depends on the threshold, not on the event rate."""
    r = cfg.ACTIVITY_RESOLUTION_SECONDS
    return cfg.STALE_CONNECTION_THRESHOLD_SECONDS / 10.0 if r is None else r


def counts_interval(cfg: SSEConfig, registry_size: int = 0) -> float:
    """Seconds between writes of each connection's events/bytes to the store, adapted to
    the registry's size: every flush for a small fleet, stretched only as far as the Redis
    budget ``COUNTS_WRITES_PER_SECOND`` requires (``registry_size / budget`` seconds: at
    most one count write per registered connection per interval), never past the stale
    threshold. Rewriting a record costs Redis several times an activity touch
    (docs/capacity.md); every record says when its counts were taken (``counts_at``), and
    the per-pod totals in ``/metrics`` are exact at every scrape."""
    flush = cfg.TOUCH_FLUSH_INTERVAL_SECONDS
    return min(max(flush, registry_size / cfg.COUNTS_WRITES_PER_SECOND), max(cfg.STALE_CONNECTION_THRESHOLD_SECONDS, flush))


class Registry:
    """This worker's streams (:attr:`local`) and the one writer of its registry state.

    ``cleanup_running``: whether this worker's periodic cleanup runs (its heartbeat says so;
    the manager sets it once the cleanup exists, as the cleanup needs the registry).
    ``observer`` (sse-dash): no writer task and no heartbeat; touches go straight to the store."""

    def __init__(self, store: StateStore, config: SSEConfig, *, clock: StoreClock, status: StoreStatusTracker,
                 worker_id: str, host: str, pid: int, started_at: float, observer: bool,
                 cleanup_running: Callable[[], bool] = lambda: False, host_is_local: bool = True) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.status = status
        self.worker_id, self.host, self.pid, self.started_at = worker_id, host, pid, started_at
        self.observer = observer
        self.cleanup_running = cleanup_running
        self.local = LocalStreams()
        # batched activity since the last flush: id -> latest activity time; and per-connection
        # [events, bytes] since the last counters flush (kept apart: touch() is on the hot path)
        self._active: dict[str, float] = {}
        self._counts: dict[str, Counts] = {}
        self._to_register: dict[str, LocalStream] = {}  # queued for the writer task
        self._to_remove: set[str] = set()  # ids to remove from the store (retried until done)
        self._wake = asyncio.Event()
        # one future per waiting register()/unregister(), released when a batch holding its
        # change lands (a waiter that timed out is simply skipped: never a removal from a
        # shared future's callbacks, which is O(waiters) each and made a burst quadratic)
        self._waiters: list[asyncio.Future[None]] = []
        self._lock = asyncio.Lock()  # one writer of this worker's registry state at a time
        self._resync_flushes = 0
        self._lost_data = False  # the store lost our heartbeat: missing connections are re-registered
        self._heartbeats = 0
        self._flushes = 0
        self._counts_sent_at = -math.inf  # local clock of the last flush that sent per-connection counts
        self._flush_hooks: list[Callable[[], None]] = []
        self.last_sync: tuple[int, int] = (0, 0)  # (phantoms removed, re-registered) by the last sync
        self._republish = False
        self.started = False  # writes with no writer task go straight to the store (observers: always)
        self.loop = BackgroundLoop("sse-store-sync", self._sync_loop)
        # the registry's own health (core.liveness): the epoch our connections are registered
        # in, since when the store holds all of them, whether to mark the fleet settling
        self.hostkey = host_identity() if host_is_local else f"{host}|{worker_id}"
        self.epoch: str | None = None
        self.synced_at: float | None = None
        self.registry_size = 0  # connections registered in the fleet (the last flush's answer)
        self.last_flush: FlushResult | None = None
        self._settle = False  # the next good flush marks the fleet settling (we are back from trouble)
        self._repair = False  # a key of the namespace holds another type than the store writes
        self.on_flushed: Callable[[FlushResult], Awaitable[None]] | None = None  # peers / settle checks (the manager)
        self.on_loss: Callable[[], Awaitable[None]] | None = None  # the store lost the fleet's data
        status.on_trouble(self._trouble)

    def _trouble(self) -> None:
        self._resync_flushes = RESYNC_FLUSHES
        if "wrong type" in str(self.status.last_error or ""):
            self._repair = True  # a key of the namespace holds another type: repaired at the writer's next turn
        st = self.status.status
        # an outage of a flush interval or more (not one slow call): the fleet settles after it
        if st.since is not None and self.clock.local() - st.since >= self.config.TOUCH_FLUSH_INTERVAL_SECONDS:
            self._settle = True

    def settled(self) -> None:
        """The fleet's rebuild / settle is over (the watch ended it): what the last flush said
        of the epoch is out of date."""
        res = self.last_flush
        if res is not None and res.epoch is not None:
            self.last_flush = dataclasses.replace(res, epoch=dataclasses.replace(res.epoch, rebuild_since=None,
                                                                                   settle_since=None))

    @property
    def resyncing(self) -> bool:
        """This worker has not yet made the store agree with what it holds (after trouble)."""
        return self._resync_flushes > 0 or self._lost_data

    def counts_due(self) -> bool:
        """True when the next periodic flush should send the per-connection counts."""
        return self.clock.local() - self._counts_sent_at >= counts_interval(self.config, self.registry_size)

    def republish(self) -> None:
        """Publish the fleet settings again at the writer's next turn (they changed)."""
        self._republish = True
        self._wake.set()

    async def connect(self) -> None:
        """Connect, publish the fleet settings and send the first heartbeat."""
        await self.store.start()
        self.status.connected = True
        await self.store.publish_config(fleet_settings(self.config))
        await self.flush(counters=False)

    # -- streams come and go ------------------------------------------------------------
    async def register(self, connection_id: str | None = None, *, channel: str = "default",
                       client_address: str = "", user_agent: str = "",
                       on_close: OnClose | None = None, activity: ActivitySource | None = None) -> ConnectionRecord:
        now = self.clock.now()
        record = ConnectionRecord(
            connection_id=(connection_id or new_connection_id())[:MAX_CONNECTION_ID], worker_id=self.worker_id,
            host=self.host, pid=self.pid, channel=channel[:MAX_CHANNEL], client_address=client_address[:MAX_CLIENT],
            user_agent=user_agent[:MAX_USER_AGENT], connected_at=now, last_activity=now,
        )
        entry = LocalStream.of(record, on_close)
        if activity is not None:
            entry.activity = activity
            entry.seen_progress = activity.progress
            entry.flushed_events, entry.flushed_bytes = activity.events_sent or 0, activity.bytes_sent
        self.local.add(entry)
        self._to_register[record.connection_id] = entry
        await self._kick(self.config.REGISTER_WAIT_SECONDS)
        return record

    async def _kick(self, wait: float) -> None:
        """Wake the writer task and wait (bounded) for its next batch to land."""
        if self.loop.task is None:  # not started (or stopped): write directly
            if self.started or self.observer:
                await self._send_queued()
            return
        self._wake.set()
        if wait <= 0:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        # asyncio.wait, not a timeout context: a cancel of the stream's task arriving as the
        # wait expires must reach the stream (3.11 loses it inside asyncio.timeout)
        await asyncio.wait((fut,), timeout=wait)

    def touch(self, connection_id: str, events: int = 1, bytes_sent: int = 0) -> None:
        if connection_id not in self.local:
            return
        self._active[connection_id] = self.clock.now()
        if events or bytes_sent:
            c = self._counts.get(connection_id)
            self._counts[connection_id] = (events, bytes_sent) if c is None else (c[0] + events, c[1] + bytes_sent)

    async def unregister(self, connection_id: str, reason: str = "client_gone") -> bool:
        entry = self.local.pop(connection_id, None)
        self.local.ended(entry, reason)
        self._active.pop(connection_id, None)
        self._counts.pop(connection_id, None)
        queued = self._to_register.pop(connection_id, None)
        if queued is not None and not queued.sent:
            return True  # never reached the store
        self._to_remove.add(connection_id)
        del entry
        await self._kick(self.config.REGISTER_WAIT_SECONDS)
        return connection_id not in self._to_remove

    def drop(self, connection_id: str, reason: str, *, dequeue: bool = False) -> LocalStream | None:
        """Forget a stream the store no longer holds (removed by cleanup or an operator):
        its batched activity goes, its end is counted. ``dequeue``: its registration too."""
        self._active.pop(connection_id, None)
        self._counts.pop(connection_id, None)
        entry = self.local.pop(connection_id, None)
        self.local.ended(entry, reason)
        if dequeue:
            self._to_register.pop(connection_id, None)
        return entry

    async def leave(self, *, close_streams: bool) -> None:
        """Shutdown (the writer task stopped): forget every stream (closing them with
        ``close_streams``), then remove what this worker holds from the store and forget it."""
        local = list(self.local.values())
        self.local.clear()
        self._active.clear()
        self._counts.clear()
        self._to_register.clear()
        for entry in local:
            self.local.ended(entry, "shutdown")
            if close_streams:
                await self.local.close(entry)
        try:
            if not self.observer and self.status.connected:
                # everything this worker still holds, in batches of 1,000 per Lua call
                # (not one round trip per connection), then its heartbeat
                while (await self.store.reap_worker(self.worker_id, 1000, self.worker_id))[1] > 0:
                    pass
                await self.store.forget_worker(self.worker_id)
        except StoreUnavailable as exc:
            log.warning("SSE shutdown could not unregister %d connections: %s", len(local), exc)

    # -- the writer ---------------------------------------------------------------------
    async def _send_queued(self) -> None:
        """Send queued removals and registrations (one call each, batched)."""
        async with self._lock:
            await self._send_queued_locked()

    async def _send_queued_locked(self) -> None:
        # the waiters queued so far: their changes are in this batch (later ones wait for the next)
        waiters, self._waiters = self._waiters, []
        try:
            if self._to_remove:
                ids = list(self._to_remove)
                await self.store.unregister_many(ids)
                self._to_remove.difference_update(ids)
            if self._to_register:
                batch = list(self._to_register.values())
                for e in batch:
                    e.sent = True
                records = [self._current_record(e) for e in batch]
                await self.store.register_many(records)
                for e, r in zip(batch, records, strict=True):
                    cid = e.connection_id
                    if self._to_register.get(cid) is e:
                        del self._to_register[cid]
                    self.local.mark_stored(e)
                    e.stored_activity = max(e.stored_activity, r.last_activity)
                    self._carried(e, r)
            self.status.mark_ok()
        except StoreUnavailable as exc:
            self.status.mark_unavailable(exc)
        finally:
            _release(waiters)

    def add_flush_hook(self, hook: Callable[[], None]) -> None:
        self._flush_hooks.append(hook)

    def remove_flush_hook(self, hook: Callable[[], None]) -> None:
        if hook in self._flush_hooks:
            self._flush_hooks.remove(hook)

    def _run_flush_hooks(self) -> None:
        for hook in self._flush_hooks:
            try:
                hook()
            except Exception:
                log.exception("SSE flush hook failed")

    async def flush(self, *, counters: bool = True) -> None:
        """Send queued registrations, batched activity and the heartbeat; reconcile when due."""
        async with self._lock:
            await self._flush_locked(counters)

    async def _flush_locked(self, counters: bool) -> None:
        if self._to_register or self._to_remove:
            await self._send_queued_locked()
        active, self._active = self._active, {}
        counts: dict[str, Counts] = {}
        if counters:
            counts, self._counts = self._counts, {}
            self._counts_sent_at = self.clock.local()
        self._run_flush_hooks()
        self.local.pull_activity(active, counts if counters else None, self.clock.now)
        pending, unstored = self.local.touches(active, counts, activity_resolution(self.config))
        self._counts.update(unstored)  # counted once they are stored
        counts_at = self.clock.now() if counters else None
        try:
            closed_first: list[str] = []
            if self._resync_flushes:
                # the store was in trouble since the last good flush and may have lost or
                # late-applied our writes: agree with it first, so the touches below land
                closed_first = await self._sync_locked()
            # in step with the store from this flush on: nothing left to resync
            confirmed = self._resync_flushes <= 1 and not self._lost_data and self.epoch is not None
            settle, self._settle = self._settle, False
            res = await self._heartbeat(pending, confirmed=confirmed, counts_at=counts_at, settle=settle)
            missing = [c for c in res.unknown if (e := self.local.get(c)) is not None and e.stored]
            lost = (not res.existed and self._heartbeats > 1) or res.lost
            if res.epoch is not None and self.epoch is None:
                self.epoch = res.epoch.id  # the first flush: the registry's generation we register in
            if lost:
                # our heartbeat vanished or the epoch changed: Redis lost its data, or a
                # fleet-mate reaped us as dead
                log.warning("SSE worker %s: the store lost %s; re-registering its %d connection(s)", self.worker_id,
                            "the fleet's data" if res.lost else "this worker's heartbeat", len(self.local))
                self._lost_data = True
                self._republish = True
                if self.on_loss is not None and res.lost:
                    await self.on_loss()
            stored = self.local.stored_count
            if (lost or missing or res.held != stored
                    or (self._flushes and self._flushes % SYNC_EVERY == 0)):
                if lost:
                    for lost_id in res.unknown:  # their touches were lost with the data: send again next flush
                        t = pending.get(lost_id)
                        if t is not None:
                            self._requeue(lost_id, t)
                missing = await self._sync_locked()
            missing.extend(closed_first)
            if res.epoch is not None:
                self.epoch = res.epoch.id  # every connection we hold is registered in it now
            if not res.config_published:
                self._republish = True
            self.registry_size = res.registry_size
            self._resync_flushes = max(self._resync_flushes - 1, 0)
            self._lost_data = False
        except StoreUnavailable as exc:
            # keep the activity for the next flush (newer touches win, counts add up)
            for cid, t in pending.items():
                self._requeue(cid, t)
            if counts_at is not None:
                self._counts_sent_at = -math.inf  # the counts go again with the next flush
            self.status.mark_unavailable(exc)
            return
        self.status.mark_ok()
        self.last_flush = res
        for cid, t in pending.items():
            entry = self.local.get(cid)
            if entry is not None and t.at > entry.stored_activity:
                entry.stored_activity = t.at
        if missing:
            # removed elsewhere (another worker's cleanup, an operator): close our side too
            for cid in dict.fromkeys(missing):
                entry = self.local.pop(cid, None)
                if entry is not None:
                    self.local.ended(entry, "removed_elsewhere")
                    await self.local.close(entry)
        if self.on_flushed is not None and not self.observer:
            try:
                await self.on_flushed(res)
            except StoreUnavailable as exc:
                self.status.mark_unavailable(exc)

    async def _sync_locked(self) -> list[str]:
        """The reconcile step (caller holds the lock). Returns ids removed elsewhere."""
        # a stream that ended and whose removal is still queued is no phantom: the queued
        # removal takes it (were it counted here, every mass disconnect would warn of phantoms)
        held = [*self.local, *self._to_remove]
        phantoms, absent = await self.store.sync_worker(self.worker_id, held)
        trouble = self._resync_flushes > 0 or self._lost_data
        readd, removed_elsewhere = [], []
        for cid in absent:
            e = self.local.get(cid)
            if e is None:
                continue
            if trouble or not e.stored:
                readd.append(e)
            else:
                removed_elsewhere.append(cid)
        if readd:
            records = [self._current_record(e) for e in readd]
            await self.store.register_many(records)
            for e, r in zip(readd, records, strict=True):
                self.local.mark_stored(e)
                e.sent = True
                e.stored_activity = r.last_activity
                self._to_register.pop(e.connection_id, None)
                self._carried(e, r)
        if phantoms or readd:
            log.warning("SSE registry sync for worker %s: removed %d phantom(s), re-registered %d live connection(s)",
                        self.worker_id, phantoms, len(readd))
        self.last_sync = (phantoms, len(readd))
        return removed_elsewhere

    def _current_record(self, e: LocalStream) -> ConnectionRecord:
        """The record to (re-)register: its latest local activity, so a stream that was
        active while the store was away is never registered as stale; a stream that counts
        its own totals is registered with them (a record the store lost comes back whole)."""
        seen = max(e.last_touch, self._active.get(e.connection_id, 0.0))
        w, h, p = e.origin
        src = e.activity
        return ConnectionRecord.model_construct(  # the fields were validated when the stream registered
            connection_id=e.connection_id, worker_id=w, host=h, pid=p, channel=e.channel,
            client_address=e.client_address, user_agent=e.user_agent,
            connected_at=e.connected_at, last_activity=max(seen, e.registered_activity),
            events_sent=src.events_sent if src is not None else 0,  # None: not counted
            bytes_sent=src.bytes_sent if src is not None else 0, counts_at=None)

    def _carried(self, e: LocalStream, r: ConnectionRecord) -> None:
        """A registration that carried the stream's own totals: they are counted now."""
        if e.activity is not None:
            e.flushed_events, e.flushed_bytes = r.events_sent or 0, r.bytes_sent
            self._counts.pop(e.connection_id, None)

    def _requeue(self, cid: str, t: Touch) -> None:
        self._active[cid] = max(t.at, self._active.get(cid, t.at))
        if t.events or t.bytes:
            cur = self._counts.get(cid, (0, 0))
            self._counts[cid] = (cur[0] + t.events, cur[1] + t.bytes)

    async def resync(self) -> int:
        """Put every live local connection back into the store and drop phantoms."""
        async with self._lock:
            self._lost_data = True
            try:
                closed = await self._sync_locked()
            finally:
                self._lost_data = False
            assert not closed
            return self.last_sync[1]

    async def _heartbeat(self, touches: dict[str, Touch] | None = None, *, confirmed: bool = False,
                         counts_at: float | None = None, settle: bool = False) -> FlushResult:
        """Send batched touches and the heartbeat in one round trip; measure the store's clock.
        ``confirmed``: the store holds every connection of ours (the heartbeat says since
        when); ``counts_at``: these touches complete our counts as of then; ``settle``: we
        are back from store trouble (the fleet settles until every live worker resynced)."""
        if self.observer:
            return FlushResult(unknown=(await self.store.touch_many(touches) if touches else []), existed=True, held=0)
        t0 = self.clock.local()
        offset = self.clock.offset
        if confirmed:
            self.synced_at = t0 + offset
        hb = WorkerHeartbeat(worker_id=self.worker_id, host=self.host, pid=self.pid,
                             connections=len(self.local), heartbeat_at=t0 + offset,
                             started_at=self.started_at + offset, cleanup_running=self.cleanup_running(),
                             hostkey=self.hostkey, synced_at=self.synced_at, epoch=self.epoch, counts_at=counts_at)
        result = await self.store.flush(touches or {}, hb, self.config.WORKER_HEARTBEAT_TTL_SECONDS, settle=settle)
        self.clock.measured(t0, self.clock.local(), result.server_time)
        self._heartbeats += 1
        return result

    async def _sync_loop(self) -> None:
        """The one task that writes this worker's registry state: queued registrations and
        removals as soon as they come (batched), a flush every TOUCH_FLUSH_INTERVAL, and
        (re)connecting to the store in the background."""
        loop = asyncio.get_running_loop()
        next_flush = loop.time() + self.config.TOUCH_FLUSH_INTERVAL_SECONDS
        while True:
            try:
                timeout = max(next_flush - loop.time(), 0.0)
                if not (self._to_register or self._to_remove) or not self.status.connected:
                    # woken by a queued change or at the next flush: a timer sets the event (no
                    # asyncio.timeout: on 3.11 a cancel arriving as it expires is turned into its
                    # TimeoutError and lost, and stop() would wait for this task for ever)
                    timer = loop.call_later(timeout, self._wake.set)
                    try:
                        await self._wake.wait()
                    finally:
                        timer.cancel()
                self._wake.clear()
                if not self.status.connected:
                    if loop.time() >= next_flush:
                        next_flush = loop.time() + self.config.TOUCH_FLUSH_INTERVAL_SECONDS
                        try:
                            await self.connect()
                            log.warning("SSE state store connected (%d local connections registered)", len(self.local))
                        except StoreUnavailable as exc:
                            self.status.mark_unavailable(exc)
                    else:
                        self._release_waiters()
                    continue
                if self._repair:
                    self._repair = False
                    repaired = await self.store.repair_types()
                    if repaired:
                        log.warning("SSE state store held keys of the wrong type, deleted (rebuilt by the fleet): %s",
                                    "; ".join(repaired))
                if self._republish:
                    self._republish = False
                    await self.store.publish_config(fleet_settings(self.config))
                if loop.time() >= next_flush:
                    next_flush = loop.time() + self.config.TOUCH_FLUSH_INTERVAL_SECONDS
                    self._flushes += 1
                    await self.flush(counters=self.counts_due())
                elif self._to_register or self._to_remove:
                    if self.status.ok:
                        await self._send_queued()
                    else:
                        self._release_waiters()  # store in trouble: retry at the next flush, don't hold streams
                        await asyncio.sleep(min(timeout, 0.05))
            except asyncio.CancelledError:
                raise
            except StoreUnavailable as exc:
                self.status.mark_unavailable(exc)
            except Exception:
                log.exception("SSE store sync failed")
                await asyncio.sleep(0.1)

    def _release_waiters(self) -> None:
        waiters, self._waiters = self._waiters, []
        _release(waiters)


def _release(waiters: list[asyncio.Future[None]]) -> None:
    for fut in waiters:
        if not fut.done():  # done: it timed out (cancelled)
            fut.set_result(None)
