"""A fleet history as the server writes it, read back as ``GET /monitoring/history`` does.

Samples go into a MemoryStore through the real append path (``history_append``, one per
interval under the lease); the fleet's events are added as the cleanup code adds them
(``core.cleanup.add_event``: routine cleanups grouped, a dead worker's reap as ``death``);
the store outage is recorded by a real :class:`core.recorder.Recorder` (``record_outage``:
its mark and the missed intervals as samples with unknown numbers and the
``state_store_unavailable`` alert). :meth:`Fleet.history` is ``Recorder.history`` (the
endpoint's read: tiers, ``data_from``, marks, ``series_columns``) on a clock fixed at END.

The story, in fractions of the range before END: the history begins at 0.92 (before it:
no data yet); a worker holding 63 streams dies at 0.62 (active drops, the counter holds
until the reap 20 s later: a mismatch alert, then the ``death`` mark); the store is down
from 0.45 to 0.3 (no samples; an alert span once it is back); routine cleanups run
throughout, an operator disconnects a connection at 0.2.
"""

from __future__ import annotations

import math

from core import history
from core.cleanup import add_event
from core.clock import StoreClock
from core.config import load_config
from core.history import HistorySample
from core.models import FleetEvent, HistorySeries
from core.recorder import Recorder, TrendVerdicts
from core.store.memory import MemoryStore
from core.store_status import StoreStatusTracker

END = 1_795_000_000.0  # the fleet clock at the picture: Sat 2026-11-19 ~ 07:06 UTC
CFG = load_config()
DEAD_WORKER = "w-2"
HELD = 63  # streams the dead worker held


def story(range_s: float) -> dict[str, float]:
    at = {name: END - range_s * f for name, f in
          (("begin", 0.92), ("death", 0.62), ("down", 0.45), ("up", 0.3), ("disconnect", 0.2))}
    at["reap"] = at["death"] + 20.0
    return at


def sample(t: float, i: int, at: dict[str, float], errors: int) -> HistorySample:
    daily = 800 + 300 * math.sin(2 * math.pi * (t % 86400) / 86400)
    active = int(daily) - (HELD if t >= at["death"] else 0)
    counter = active + (HELD if at["death"] <= t < at["reap"] else 0)  # the dead worker's streams until the reap
    mismatch = counter != active
    after_outage = at["up"] <= t < at["up"] + 60  # workers report what they saw while it was down
    runs = int((t - at["begin"]) // 60)  # a cleanup run a minute
    return HistorySample(
        t=t, active=active, counter=counter, stale=10 + i % 5 + (HELD if mismatch else 0), active_recent=active - 10,
        long_lived=active // 4, very_old=3 + (i // 400) % 3, runs=runs, cleaned=runs * 2, errors=errors,
        last_ms=30.0 + (i % 7) * 3 + (90 if mismatch else 0), avg_ms=35.0,
        level="unhealthy" if mismatch or after_outage else "healthy",
        alerts=(["connection_mismatch"] if mismatch else []) + (["state_store_unavailable"] if after_outage else []))


class Fleet:
    """A MemoryStore holding the story's history, and the recorder that reads it."""

    def __init__(self) -> None:
        self.store = MemoryStore()
        self.status = StoreStatusTracker(lambda: END)
        self.recorder = Recorder(self.store, CFG, clock=StoreClock(self.store, lambda: END, follow_store=False),
                                 status=self.status, worker_id="w-1", observer=False, verdicts=TrendVerdicts(),
                                 snapshot=self._no_snapshot)

    async def _no_snapshot(self):  # the story's samples are appended directly
        raise AssertionError("not used")

    async def event(self, at: float, type_: str, message: str, count: int = 0, worker: str = "w-1",
                    group: bool = False) -> None:
        await add_event(self.store, self.status, CFG, FleetEvent(at=at, type=type_, message=message, count=count,  # type: ignore[arg-type]
                                                                 worker_id=worker), group=group)

    async def connects(self, t: float, storm: bool) -> None:
        """The connect rates of the interval ending at ``t`` (a storm: the dead worker's
        clients come back at once), raw and into the rollup step, as core.recorder writes them."""
        rollup = history.tiers_from_config(CFG)[1]
        await self.store.history_connects_append(
            t, 25.0 if storm else 1.5, 21.0 if storm else 0.2, END - CFG.HISTORY_RAW_RETENTION_SECONDS,
            rollup=(math.floor(t / rollup.step) * rollup.step, END - rollup.retention))

    async def write(self, range_s: float) -> dict[str, float]:
        """Write the story over the last ``range_s`` seconds before END."""
        at = story(range_s)
        tiers = history.tiers_from_config(CFG)
        every = 10.0 if range_s <= 86400 else 300.0  # one sample per rollup step is enough for 7 d
        errors, failed_at = 0, at["begin"]
        t, i = math.ceil(at["begin"] / every) * every + 0.5, 0
        death_written = disconnect_written = storm_written = False
        while t <= END:
            if not at["down"] <= t <= at["up"]:
                if t - failed_at >= range_s / 9:
                    errors, failed_at = errors + 1, t  # a failed cleanup run, now and then
                assert await self.store.history_append(sample(t, i, at, errors), tiers, "w-1")
                # the connect rates beside it (core.reconnects): the dead worker's clients come back at once
                back = at["death"] <= t < at["death"] + 30
                await self.connects(t, back)
                if every > 10.0 and not storm_written and t >= at["death"] + 10:
                    # a recorder samples every 10 s: the storm's interval is in its rollup step
                    await self.connects(at["death"] + 10, True)
                    storm_written = True
                if i % 6 == 0:
                    await self.event(t, "cleanup", "cleanup removed 2 stale connection(s)", 2, group=True)
            if not death_written and t >= at["reap"]:
                await self.event(at["reap"], "death", f"worker {DEAD_WORKER} died (process gone): {HELD} stream(s) "
                                 "cut and reaped", HELD, DEAD_WORKER)
                death_written = True
            if not disconnect_written and t >= at["disconnect"]:
                await self.event(at["disconnect"], "disconnect", "connection c-41 disconnected by an operator", 1, "w-3")
                disconnect_written = True
            t, i = t + every, i + 1
        assert await self.recorder.record_outage(at["down"], at["up"], "Error 111 connecting to redis:6379. Connection refused.")
        return at

    async def history(self, range_s: float, step: float) -> HistorySeries:
        return await self.recorder.history(range_s, step)


async def fleet_series(range_s: float, plot_width: int) -> tuple[HistorySeries, dict[str, float]]:
    """The story over ``range_s`` read at about one bucket per column of a plot
    ``plot_width`` columns wide (as the App asks: ``HistoryView.request_for``)."""
    fleet = Fleet()
    at = await fleet.write(range_s)
    step = max(10.0, math.ceil(range_s / plot_width / 10.0) * 10.0)
    return await fleet.history(range_s, step), at
