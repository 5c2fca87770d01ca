"""What a worker checks of its fleet after every flush: dead fleet-mates, the registry settling.

The flush's answer lists every worker and its heartbeat (``FlushResult.peers``) and the
registry's epoch; :meth:`FleetWatch.after_flush` acts on it, in this order:

* **A fleet-mate on this host whose process is gone** (same host identity: hostname, boot id
  and pid namespace; its pid no longer exists, or belongs to a process started after it)
  is marked dead in the store at once (every reader sees it dead) and reaped — within a
  flush of its death, not after the heartbeat TTL.
* **A fleet-mate dead by its heartbeat** (older than the TTL, or from the future beyond the
  skew tolerance) is reaped now, not at the next cleanup interval. Never while the registry
  settles: an old heartbeat then may only mean the store was away.
* **The registry settling** (after an outage or a data loss): once every live worker has
  confirmed its connections since and a late worker's time has passed, the mark is cleared.
* **The fleet's verdict clock**: one worker per period (a lease) builds the snapshot, so the
  rules' "held for N s" is stamped for the fleet even when nobody polls.
* **Keys of the wrong type**: one worker every ten flush intervals asks the fixed keys'
  types (one pipeline) and deletes any that holds another type than the store writes
  (what it holds is unusable; a registry key makes the fleet re-register).

Reaps run in tasks of their own (a big dead worker must not hold this worker's flush).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from .clock import StoreClock
from .config import SSEConfig
from .liveness import Epoch, process_gone, settled_now, worker_state
from .loops import cancel
from .models import WorkerHeartbeat
from .store.base import FlushResult, StateStore, StoreUnavailable

__all__ = ["FleetWatch"]

log = logging.getLogger("sse")

PEER_INFO_REFRESH_SECONDS = 5.0
TYPE_CHECK_FLUSHES = 10  # one worker checks the fixed keys' types every this many flush intervals  # an unknown fleet-mate's host and pid are read at most this often


class FleetWatch:
    """``reap(worker_id, reason)``: reap a dead fleet-mate (under the fleet's lease);
    ``judge()``: build the snapshot (stamps the fleet's verdict clock)."""

    def __init__(self, store: StateStore, config: SSEConfig, *, clock: StoreClock, worker_id: str, hostkey: str,
                 reap: Callable[[str, str], Awaitable[Any]], judge: Callable[[], Awaitable[Any]],
                 real_clock: bool = True, on_settled: Callable[[], None] = lambda: None) -> None:
        """``real_clock``: the clock is the wall clock (a process's start time compares with
        a heartbeat's then; a test's injected clock skips that check)."""
        self.store = store
        self.config = config
        self.clock = clock
        self.worker_id = worker_id
        self.hostkey = hostkey
        self.pid = os.getpid()  # a fleet-mate in this very process (tests run several) is alive while we are
        self.real_clock = real_clock
        self.on_settled = on_settled
        self.reap = reap
        self.judge = judge
        self._peers: dict[str, WorkerHeartbeat] = {}  # fleet-mates' host and pid, as last read
        self._peers_read_at = float("-inf")
        self._reaping: dict[str, asyncio.Task[Any]] = {}
        self._marked: set[str] = set()

    def unsettled(self, epoch: Epoch | None) -> bool:
        return epoch is not None and (epoch.rebuild_since is not None or epoch.settle_since is not None)

    async def after_flush(self, res: FlushResult) -> None:
        now = self.clock.now()
        cfg = self.config
        others = {wid: at for wid, at in res.peers if wid != self.worker_id}
        unsettled = self.unsettled(res.epoch)
        everyone: list[WorkerHeartbeat] | None = None
        if unsettled or (any(wid not in self._peers for wid in others)
                         and self.clock.local() - self._peers_read_at >= PEER_INFO_REFRESH_SECONDS):
            everyone = await self.store.workers()
            self._peers = {hb.worker_id: hb for hb in everyone if hb.worker_id != self.worker_id}
            self._peers_read_at = self.clock.local()
        for wid in list(self._peers):
            if wid not in others:
                del self._peers[wid]
                self._marked.discard(wid)
        for wid, at in others.items():
            hb = self._peers.get(wid)
            reason: str | None = None
            if hb is not None and hb.dead_reason:
                reason = hb.dead_reason
            elif hb is not None and hb.hostkey == self.hostkey and hb.pid and hb.pid != self.pid \
                    and wid not in self._marked and \
                    process_gone(hb.pid, hb.started_at - self.clock.offset if self.real_clock else None):
                reason = f"process {hb.pid} gone (seen by {self.worker_id} on its host)"
                if await self.store.mark_dead(wid, reason, cfg.WORKER_HEARTBEAT_TTL_SECONDS):
                    self._marked.add(wid)
                    log.warning("SSE worker %s is dead: %s", wid, reason)
            elif not unsettled:
                probe = WorkerHeartbeat(worker_id=wid, host=None, pid=None, connections=0, heartbeat_at=at,
                                        started_at=at)
                state, why = worker_state(probe, now, late_after=cfg.worker_late_seconds,
                                          ttl=cfg.WORKER_HEARTBEAT_TTL_SECONDS, skew=cfg.CLOCK_SKEW_TOLERANCE_SECONDS)
                if state == "dead":
                    reason = why
            if reason is not None:
                self._start_reap(wid, reason)
        if unsettled and res.epoch is not None and everyone is not None:
            await self._settle(res.epoch, now, everyone)
        period = max(cfg.TOUCH_FLUSH_INTERVAL_SECONDS, 1.0)
        if await self.store.claim(f"judge:{int(now // period)}", self.worker_id, 2 * period):
            await self.judge()
        types = max(TYPE_CHECK_FLUSHES * cfg.TOUCH_FLUSH_INTERVAL_SECONDS, 2.0)
        if await self.store.claim(f"types:{int(now // types)}", self.worker_id, 2 * types):
            repaired = await self.store.repair_types(scan=False)  # a fixed key of another type: unusable
            if repaired:
                log.warning("SSE state store held keys of the wrong type, deleted (rebuilt by the fleet): %s",
                            "; ".join(repaired))

    def _start_reap(self, worker_id: str, reason: str) -> None:
        task = self._reaping.get(worker_id)
        if task is not None and not task.done():
            return
        self._reaping[worker_id] = asyncio.create_task(self._reap_quietly(worker_id, reason),
                                                       name=f"sse-reap-{worker_id[:40]}")

    async def _reap_quietly(self, worker_id: str, reason: str) -> None:
        try:
            await self.reap(worker_id, reason)
        except StoreUnavailable:
            pass  # the next flush tries again
        except Exception:
            log.exception("SSE reaping dead worker %s failed", worker_id)

    async def _settle(self, epoch: Epoch, now: float, everyone: list[WorkerHeartbeat]) -> None:
        since = epoch.rebuild_since if epoch.rebuild_since is not None else epoch.settle_since
        assert since is not None
        cfg = self.config
        window = cfg.worker_late_seconds + cfg.TOUCH_FLUSH_INTERVAL_SECONDS
        if settled_now(epoch, everyone, now, ttl=cfg.WORKER_HEARTBEAT_TTL_SECONDS, min_window=window) and \
                await self.store.mark_settled(since):
            self.on_settled()
            kind = "rebuilt" if epoch.rebuild_since is not None else "settled"
            log.warning("SSE registry %s: every live worker confirmed its connections %.1fs after %s", kind,
                        now - since, "the store lost its data" if kind == "rebuilt" else "the store came back")

    async def stop(self) -> None:
        for task in self._reaping.values():
            await cancel(task)
        self._reaping.clear()
