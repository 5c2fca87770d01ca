"""The fleet history recorder: one sample per interval for the fleet, trends once a period.

Every ``HISTORY_INTERVAL_SECONDS``, just after the interval starts on the fleet clock,
each worker's recorder tries to take that interval's lease; the one that wins writes the
fleet's sample (:func:`core.history.sample_from_snapshot`) into the tiers. Once per
``TREND_REFRESH_SECONDS`` the worker that takes the period's lease computes the trend
verdicts and stores them; every other worker, and every observer, reads them
(:class:`TrendVerdicts` holds what was read, and says when it is too old to stand for
now). :meth:`Recorder.history` reads a range back, keeping the raw points it read
(:class:`~core.history.ColumnCache`) so a repeated read fetches only the newer ones.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable

from . import history
from .blast import with_blasts
from .cleanup import add_event
from .clock import StoreClock
from .config import SSEConfig
from .durations import DAY
from .loops import BackgroundLoop, cancel
from .models import FleetEvent, HistorySeries, MonitoringStats, TrendEvidence
from .reconnects import connect_rate, counting_since, rate_unknown_reason
from .store.base import StateStore, StoreUnavailable
from .store_status import StoreStatusTracker

__all__ = ["Recorder", "TrendVerdicts", "with_connect_rates"]

log = logging.getLogger("sse")

VERDICTS_MAX_AGE_PERIODS = 3  # verdicts older than this many refresh periods read as unknown


class TrendVerdicts:
    """The fleet's trend verdicts as last computed or read, and when (fleet clock)."""

    def __init__(self) -> None:
        self.verdicts: dict[str, TrendEvidence] = {}
        self.at: float | None = None  # fleet clock the verdicts held were computed at
        self.checked: float | None = None  # fleet clock of the last refresh (computed or read)

    def fresh(self, now: float) -> dict[str, TrendEvidence]:
        """The last verdicts, or {} when they are too old to stand for ``now``."""
        if self.at is None or now - self.at > VERDICTS_MAX_AGE_PERIODS * history.TREND_REFRESH_SECONDS:
            return {}
        return self.verdicts

    def due(self, now: float, interval: float) -> bool:
        """A refresh is due when the verdicts held are a period old (or none are held), at
        most once per sample ``interval`` (a worker whose read found none asks again then)."""
        if self.checked is not None and now - self.checked < 0.5 * min(interval, history.TREND_REFRESH_SECONDS):
            return False
        return self.at is None or now - self.at >= history.TREND_REFRESH_SECONDS


class Recorder:
    """This worker's part in the fleet history. ``snapshot``: takes the monitoring snapshot
    a sample is made of; ``verdicts``: where the trend verdicts are kept for the snapshot
    to read; ``observer``: reads verdicts, never computes them."""

    def __init__(self, store: StateStore, config: SSEConfig, *, clock: StoreClock, status: StoreStatusTracker,
                 worker_id: str, observer: bool, verdicts: TrendVerdicts,
                 snapshot: Callable[[], Awaitable[MonitoringStats]]) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.status = status
        self.worker_id = worker_id
        self.observer = observer
        self.verdicts = verdicts
        self.snapshot = snapshot
        self.trend_computations = 0  # compute_trends calls (one per period across the fleet)
        self._cache = history.ColumnCache()  # raw-tier points already read (history())
        self._cache_lock = asyncio.Lock()  # one cache update at a time
        self.loop = BackgroundLoop("sse-history", self._loop)
        self._outages: list[tuple[float, float, str]] = []  # (start, end, reason) on the fleet clock, to record
        self._outage_task: asyncio.Task[None] | None = None

    async def record(self) -> bool:
        """Take this interval's lease and write the fleet's sample (True: this worker wrote
        it; False: another worker did, or the store is in trouble: nothing is written then)."""
        if not self.status.connected or not self.status.ok:
            return False
        snap = await self.snapshot()
        if not snap.connection_stats.store_available:
            return False
        sample = history.sample_from_snapshot(snap, t=self.clock.now())
        wrote = await self.store.history_append(sample, history.tiers_from_config(self.config), self.worker_id)
        if wrote:  # the interval's connect rates beside it (core.reconnects)
            interval = max(self.config.HISTORY_INTERVAL_SECONDS, 1.0)
            settle = self.config.TOUCH_FLUSH_INTERVAL_SECONDS
            # only an interval the fleet counted whole: before, none is written (the history
            # reads None there, unknown, never the 0 of an interval nobody counted)
            since = counting_since(w.started_at for w in snap.workers or ())
            if rate_unknown_reason(since, sample.t, interval, settle) is None:
                rate = connect_rate(await self.store.connect_counts(sample.t - interval - settle - 1, sample.t),
                                    sample.t, interval, settle)
                rollup = history.tiers_from_config(self.config)[1]
                await self.store.history_connects_append(
                    sample.t, rate.per_second, rate.reconnects_per_second,
                    sample.t - self.config.HISTORY_RAW_RETENTION_SECONDS,
                    rollup=(math.floor(sample.t / rollup.step) * rollup.step, sample.t - rollup.retention))
        return wrote

    async def refresh_trends(self) -> dict[str, TrendEvidence]:
        """The fleet's trend verdicts, computed once per TREND_REFRESH_SECONDS for the whole
        fleet: the worker that takes the period's lease computes them (:meth:`compute_trends`)
        and stores them with their evidence for 3 periods; every other worker, and every
        observer, reads them. None stored, expired or unreadable: {} (unknown, never "fine")."""
        now = self.clock.now()
        period = history.TREND_REFRESH_SECONDS
        v = self.verdicts
        v.checked = now
        if not self.observer and await self.store.history_trends_claim(int(now // period), self.worker_id,
                                                                       2 * period):
            verdicts = await self.compute_trends(now)
            await self.store.history_trends_put(history.trends_to_json(verdicts, now, self.worker_id),
                                                VERDICTS_MAX_AGE_PERIODS * period)
            v.verdicts, v.at = verdicts, now
            return verdicts
        got = history.trends_from_json(await self.store.history_trends_get(), now, VERDICTS_MAX_AGE_PERIODS * period)
        v.verdicts, v.at = got if got is not None else ({}, None)
        return v.verdicts

    async def compute_trends(self, now: float) -> dict[str, TrendEvidence]:
        """The history verdicts at ``now`` (two range reads: the raw tier's last hour, the
        rollup tier's days). ``trend_computations`` counts the calls."""
        cfg = self.config
        raw_tier, roll_tier = history.tiers_from_config(cfg)
        raw_win = max(cfg.ERROR_RATE_TREND_WINDOW_SECONDS * 7 / 6, cfg.CLEANUP_DURATION_SUSTAINED_SECONDS)
        roll_win = max(cfg.BASELINE_DAYS * DAY + cfg.BASELINE_WINDOW_SECONDS, cfg.GROWTH_WINDOW_DAYS * DAY)
        raw, _ = await self.store.history_range(raw_tier, now - raw_win, now)
        roll, _ = await self.store.history_range(roll_tier, now - roll_win, now)
        current = raw[-1].last.get("active") if raw and now - raw[-1].t <= 3 * raw_tier.step else None
        self.trend_computations += 1
        return history.trends(raw, roll, now, cfg, current)

    def trends_due(self, now: float) -> bool:
        return self.verdicts.due(now, self.config.HISTORY_INTERVAL_SECONDS)

    async def refresh_trends_if_due(self) -> None:
        """For observers (sse-dash --redis), which run no recorder loop."""
        if self.trends_due(self.clock.now()):
            try:
                await self.refresh_trends()
            except StoreUnavailable:
                pass

    async def history(self, range_s: float, step: float | None = None, workers: bool = False) -> HistorySeries:
        """The fleet history of the last ``range_s`` seconds on ``step``-second buckets (None:
        about 360 buckets). ValueError for a range/step the tiers cannot answer. The step is
        raised to a multiple of the answering tier's step. ``workers``: with the per-worker
        counts (their own key, read only then: nearly as many bytes as the rest of a raw
        read); without, the series' ``workers`` is None."""
        tiers = history.tiers_from_config(self.config)
        step = step if step is not None else history.default_step(tiers, range_s)
        history.check_range(tiers, range_s, step)
        tier = history.choose_tier(tiers, range_s, step)
        step = max(step, math.ceil(step / tier.step - 1e-9) * tier.step)
        end = self.clock.now()
        start = math.floor((end - range_s) / step) * step
        window = self.config.ERROR_RATE_WINDOW_SECONDS
        read_start = start - window  # the error rate at the first buckets looks back a window
        raw = tier.step == tiers[0].step
        if raw:  # raw rows never change: read only what is new
            async with self._cache_lock:
                cache = self._cache
                since = cache.read_from(read_start, 3 * tier.step)
                try:
                    members = await self.store.history_members(tier, since, end)
                    cols, bad_at = history.decode_columns(members, raw=True)
                    bad_times = await self.store.history_times(tier, [members[i] for i in bad_at]) if bad_at else []
                    if workers:
                        wsince = cache.workers_read_from(start, 3 * tier.step)
                        wt, wc = history.decode_workers(await self.store.history_workers(wsince, end))
                except StoreUnavailable:
                    cache.clear()  # the store may come back without what was cached: read whole next time
                    raise
                cols, bad = cache.update(read_start, since, cols, [t for t in bad_times if t is not None],
                                         end - tier.retention)
                if workers:
                    cols = history.attach_workers(cols, *cache.update_workers(start, wsince, wt, wc,
                                                                              end - tier.retention))
                else:
                    cols = history.without_workers(cols)
        else:
            cols, bad_at = history.decode_columns(await self.store.history_members(tier, read_start, end), raw=False)
            bad = len(bad_at)
        data_from = await self.store.history_first(tier)
        marks = await with_blasts(self.store, await self.store.history_marks(start, end), self.clock.now())
        series = history.series_columns(cols, start, end, step, tier.step, rate_window=window, bad_points=bad,
                                        data_from=data_from, marks=marks)
        return with_connect_rates(series, await self.store.history_connects(start, end, rollup=not raw))

    # -- outages: the history remembers them ----------------------------------------------
    def outage(self, since: float, until: float, reason: str) -> None:
        """The store was away from ``since`` to ``until`` (this process's clock): once Redis
        is back, write it to the fleet's history (a mark, and samples over it that say the
        store was unavailable and every number unknown), once for the fleet."""
        offset = self.clock.offset
        self._outages.append((since + offset, until + offset, reason))
        if self._outage_task is None or self._outage_task.done():
            self._outage_task = asyncio.create_task(self._write_outages(), name="sse-history-outage")

    async def _write_outages(self) -> None:
        while self._outages:
            start, end, reason = self._outages[0]
            try:
                await self.record_outage(start, end, reason)
            except StoreUnavailable:
                return  # the store is away again: this outage goes with the next recovery
            except Exception:
                log.exception("SSE history could not record an outage")
            self._outages.pop(0)

    async def record_outage(self, start: float, end: float, reason: str) -> bool:
        """Record an outage of the store (fleet clock) unless a fleet-mate just did (the
        workers come back together): its mark, and every interval whose sample it missed as
        a sample with unknown numbers, level unhealthy, alert ``state_store_unavailable``."""
        cfg = self.config
        if not await self.store.claim("outage", self.worker_id, max(2 * cfg.TOUCH_FLUSH_INTERVAL_SECONDS, 5.0)):
            return False
        await add_event(self.store, self.status, cfg, FleetEvent(
            at=end, first_at=start, until=end, type="outage", worker_id=self.worker_id,
            message=f"state store unavailable for {end - start:.0f}s ({reason[:160]})"))
        interval = cfg.HISTORY_INTERVAL_SECONDS
        if cfg.HISTORY_ENABLED:
            tiers = history.tiers_from_config(cfg)
            for slot in range(math.floor(start / interval), math.floor(end / interval) + 1):
                t = slot * interval + min(0.05 * interval, 0.5)  # when the sample was due
                if start <= t <= end:
                    missed = history.HistorySample(t=t, level="unhealthy", alerts=["state_store_unavailable"])
                    await self.store.history_append(missed, tiers, self.worker_id)
        log.warning("SSE recorded a state store outage of %.1fs in the fleet history", end - start)
        return True

    async def stop(self) -> None:
        await cancel(self._outage_task)
        self._outage_task = None

    async def _loop(self) -> None:
        """Every HISTORY_INTERVAL_SECONDS, just after the interval starts on the fleet clock:
        record the sample (one worker per interval wins the lease) and, every
        TREND_REFRESH_SECONDS, refresh the trend verdicts."""
        while True:
            try:
                interval = self.config.HISTORY_INTERVAL_SECONDS
                now = self.clock.now()
                await asyncio.sleep(interval - (now % interval) + min(0.05 * interval, 0.5))
                if not self.config.HISTORY_ENABLED:
                    continue
                await self.record()
                if self.trends_due(self.clock.now()):
                    await self.refresh_trends()
            except asyncio.CancelledError:
                raise
            except StoreUnavailable:
                pass  # the registry's flushes judge the store's status; a gap is simply not written
            except Exception:
                log.exception("SSE history recorder failed")
                await asyncio.sleep(1.0)


def with_connect_rates(series: HistorySeries, rates: list[tuple[float, float, float]]) -> HistorySeries:
    """``series`` with the fleet's connects and reconnects per second (core.reconnects) as
    the columns ``connects`` / ``reconnects`` (the highest rate recorded in each bucket; on
    the rollup tier ``rates`` are already each step's highest; None where none was
    recorded: before the meter, an interval not counted whole, the store away)."""
    n = len(series.times)
    cols: dict[str, list[float | int | None]] = {"connects": [None] * n, "reconnects": [None] * n}
    for t, c, r in rates:
        i = int((t - series.start) // series.step)
        if 0 <= i < n:
            for name, v in (("connects", c), ("reconnects", r)):
                cur = cols[name][i]
                cols[name][i] = v if cur is None or v > cur else cur
    return series.model_copy(update={name: {**getattr(series, name), **cols} for name in ("last", "min", "max")})
