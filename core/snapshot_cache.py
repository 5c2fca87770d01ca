"""A monitoring snapshot refreshed in the background, for readers that must never wait.

A Prometheus scrape (:mod:`core.exporters.prometheus`) and an admission decision
(:mod:`core.admission`) read the last snapshot here; only the refresher task talks to the
state store. Readers see how old the snapshot is (``age_seconds``) and ``None`` before
the first one: unknown is not zero, and old is not now.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .models import CleanupCounters, MonitoringStats

if TYPE_CHECKING:
    from .manager import ConnectionManager

__all__ = ["CachedSnapshot", "SnapshotCache"]

log = logging.getLogger("sse")


@dataclass(frozen=True)
class CachedSnapshot:
    """One refresh's result and when it was taken (``time.monotonic()``)."""

    stats: MonitoringStats
    counters: CleanupCounters | None
    taken_at: float
    pod: Any = None  # the process's own PodStats at that moment

    def age_seconds(self, now: float | None = None) -> float:
        return max(0.0, (time.monotonic() if now is None else now) - self.taken_at)


class SnapshotCache:
    """Keeps the latest ``manager.metrics_inputs()`` fresh in a background task.

    ``source``: a ConnectionManager, an SSEProvider (resolved when the refresher starts),
    or a zero-argument coroutine function returning a started manager. ``interval``:
    seconds between refreshes. ``timeout``: a refresh slower than this is abandoned
    (counted in ``refresh_errors``; the previous snapshot stays, growing older).
    """

    def __init__(self, source: Any, *, interval: float = 5.0, timeout: float | None = None) -> None:
        if interval <= 0:
            raise ValueError("interval must be > 0 seconds")
        self.source = source
        self.interval = float(interval)
        self.timeout = float(timeout) if timeout is not None else max(self.interval, 1.0) * 2
        self._latest: CachedSnapshot | None = None
        self._task: asyncio.Task[None] | None = None
        self._manager: ConnectionManager | None = None
        self._listeners: list[Callable[[CachedSnapshot], None]] = []
        self._stopping = False
        self.refreshes = 0
        self.refresh_errors = 0

    # -- reading (never waits) -----------------------------------------------------------
    @property
    def latest(self) -> CachedSnapshot | None:
        """The last snapshot, or None before the first refresh completed."""
        return self._latest

    def age_seconds(self) -> float | None:
        snap = self._latest
        return None if snap is None else snap.age_seconds()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def on_refresh(self, listener: Callable[[CachedSnapshot], None]) -> None:
        """Call ``listener(snapshot)`` after each successful refresh (on the event loop)."""
        self._listeners.append(listener)

    # -- refreshing ----------------------------------------------------------------------
    async def manager(self) -> ConnectionManager:
        if self._manager is None:
            src = self.source
            get = getattr(src, "get_connection_manager", None)
            if get is not None:
                self._manager = await get()
            elif callable(src) and not hasattr(src, "metrics_inputs"):
                self._manager = await src()
            else:
                self._manager = src
        assert self._manager is not None
        return self._manager

    async def refresh(self) -> CachedSnapshot | None:
        """Take one snapshot now (the refresher calls this; tests may too)."""
        try:
            manager = await self.manager()
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # that arrives as the inner call completes, and the refresher would never stop
            async with asyncio.timeout(self.timeout):
                stats, counters, pod = await manager.metrics_inputs()
        except Exception as exc:  # noqa: BLE001 - a failed refresh keeps the old snapshot
            self.refresh_errors += 1
            log.warning("SSE snapshot refresh failed: %s: %s", type(exc).__name__, exc)
            return None
        snap = CachedSnapshot(stats, counters, time.monotonic(), pod)
        self._latest = snap
        self.refreshes += 1
        for listener in list(self._listeners):
            try:
                listener(snap)
            except Exception:
                log.exception("SSE snapshot listener failed")
        return snap

    async def _loop(self) -> None:
        while not self._stopping:
            await self.refresh()
            await asyncio.sleep(self.interval)

    async def start(self) -> None:
        """Start the refresher on the running loop (idempotent); the first refresh runs now."""
        if self.running:
            return
        await self.manager()
        self._stopping = False
        self._task = asyncio.create_task(self._loop(), name="sse-snapshot-cache")

    async def stop(self) -> None:
        task, self._task = self._task, None
        self._stopping = True
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
