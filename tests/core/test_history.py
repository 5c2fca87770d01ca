"""Fleet history (issue 13): the lease, the tiers, retention, reads after a restart, and
every history rule firing on a history that should fire it and silent on one that should not.

Real stores (memory, a real redis-server, a real Redis Cluster) and a fake clock."""

from __future__ import annotations

import asyncio
import json
import math
import time

import pytest

from core import durations, health, history
from core.config import load_config
from core.fleet import FleetReader
from core.history import DAY, HistorySample, Point, Tier
from core.store.redis import RedisStore

TIERS = (Tier(10.0, 100.0), Tier(60.0, 300.0))


def sample(t: float, **kw) -> HistorySample:
    return HistorySample(t=t, **kw)


def points(samples: list[HistorySample]) -> list[Point]:
    pts, bad = history.parse_points([s.to_json() for s in samples])
    assert bad == 0
    return pts


# -- pure -------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, seconds", [("90s", 90), ("5m", 300), ("1h", 3600), ("7d", 7 * DAY), ("2w", 14 * DAY),
                                           ("15", 15), ("1.5h", 5400)])
def test_parse_duration(text, seconds):
    assert durations.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "-1h", "0s", "1y", "1h;drop", "10 minutes"])
def test_parse_duration_refuses(text):
    with pytest.raises(ValueError):
        durations.parse_duration(text)


@pytest.mark.parametrize("text", ["90s", "5m", "6h", "3d", "2w", "1.5s"])
def test_format_duration_writes_what_parse_duration_reads(text):
    assert durations.format_duration(durations.parse_duration(text)) == text
    assert history.parse_duration is durations.parse_duration  # the old import path still works


def test_choose_tier_and_range_checks():
    tiers = history.tiers_from_config(load_config())
    assert history.choose_tier(tiers, 3600, 10).step == 10
    assert history.choose_tier(tiers, 6 * 3600, 300).step == 300  # the coarsest that fits the step
    assert history.choose_tier(tiers, 7 * DAY, 60).step == 300  # only the rollup covers 7 days
    with pytest.raises(ValueError, match="exceeds"):
        history.check_range(tiers, 30 * DAY, 3600)
    with pytest.raises(ValueError, match="finer"):
        history.check_range(tiers, 3600, 1)
    with pytest.raises(ValueError, match="points"):
        history.check_range(tiers, 14 * DAY, 60)
    history.check_range(tiers, DAY, 10)  # 8,640 points: allowed


def test_series_buckets_keep_min_max_last_and_gaps_are_unknown():
    pts = points([sample(1000 + 10 * i, active=v, runs=i, errors=0) for i, v in enumerate([5, 50, 7, 6, 8, 9])])
    del pts[4]  # a missing sample
    s = history.series(pts, 1000, 1060, 20, 10)
    # buckets run up to and including the one holding ``end`` (a sample taken at ``end`` is shown)
    assert s.times == [1000, 1020, 1040, 1060]
    assert s.max["active"] == [50, 7, 9, None] and s.min["active"] == [5, 6, 9, None]
    assert s.last["active"] == [50, 6, 9, None]
    assert s.samples == [2, 2, 1, 0]
    at_end = history.series(points([sample(1060, active=3)]), 1000, 1060, 20, 10)
    assert at_end.last["active"][-1] == 3 and sum(at_end.samples) == 1
    s10 = history.series(pts, 1000, 1060, 10, 10)
    assert s10.last["active"][4] is None  # no sample: unknown, never 0


def test_alert_spans_start_and_end():
    levels = ["healthy", "degraded", "degraded", "healthy", "degraded"]
    samples = [sample(100 + 10 * i, level=lv, warnings=["stale_connection_accumulation"] if lv == "degraded" else [])
               for i, lv in enumerate(levels)]
    s = history.series(points(samples), 100, 150, 10, 10)
    spans = [(a.type, a.start, a.end) for a in s.alerts]
    assert spans == [("stale_connection_accumulation", 110, 130), ("stale_connection_accumulation", 140, None)]


# -- the store: lease, tiers, retention ---------------------------------------------------------
async def test_two_workers_write_one_sample_per_interval(make_manager, clock, store_kind):
    a = await make_manager(worker_id="worker-a", HISTORY_ENABLED=False)
    b = await make_manager(worker_id="worker-b", HISTORY_ENABLED=False)
    await a.register()
    wrote = {"worker-a": 0, "worker-b": 0}
    for i in range(12):
        clock.advance(10)
        await a.flush_touches()
        await b.flush_touches()  # heartbeats: both workers alive on the fake clock
        first, second = (a, b) if i % 3 else (b, a)  # either may come first
        results = [await first.record_history(), await second.record_history()]
        assert sorted(results) == [False, True], f"interval {i}: {results}"
        wrote[first.worker_id if results[0] else second.worker_id] += 1
        assert await first.record_history() is False  # the interval is taken
    assert wrote["worker-a"] > 0 and wrote["worker-b"] > 0
    raw, bad = await a.store.history_range(history.tiers_from_config(a.config)[0], 0, clock() + 1)
    assert bad == 0 and len(raw) == 12
    slots = [int(p.t // 10) for p in raw]
    assert len(set(slots)) == 12
    assert all(p.last["active"] == 1 for p in raw)


async def test_tiers_downsample_min_max_last(store):
    # 6 samples per 60 s rollup bucket, a spike inside the first bucket
    values = [3, 4, 90, 5, 4, 3, 7, 8, 2, 9, 6, 5]
    for i, v in enumerate(values):
        lv = "unhealthy" if v == 90 else "healthy"
        s = sample(6000 + 10 * i, active=v, last_ms=float(v), level=lv, alerts=["connection_mismatch"] if v == 90 else [])
        assert await store.history_append(s, TIERS, "w") is True
    roll, bad = await store.history_range(TIERS[1], 0, 10_000)
    assert bad == 0
    assert [(p.t, p.n) for p in roll] == [(6000, 6), (6060, 6)]
    first, second = roll
    assert (first.mn["active"], first.mx["active"], first.last["active"]) == (3, 90, 3)
    assert (second.mn["active"], second.mx["active"], second.last["active"]) == (2, 9, 5)
    assert first.level == "unhealthy" and first.alerts == ("connection_mismatch",)
    assert second.level == "healthy" and second.alerts == ()
    s = history.series(roll, 6000, 6060, 60, 60)
    assert s.max["active"] == [90, 9] and s.last["active"] == [3, 5]


async def test_retention_trims_every_tier(store):
    for i in range(100):
        await store.history_append(sample(20_000 + 10 * i, active=i), TIERS, "w")
    end = 20_000 + 990
    raw, _ = await store.history_range(TIERS[0], 0, 1e12)
    roll, _ = await store.history_range(TIERS[1], 0, 1e12)
    assert raw and min(p.t for p in raw) >= end - 100 and len(raw) == 11
    assert roll and min(p.t for p in roll) >= math.floor((end - 300) / 60) * 60 and len(roll) <= 6
    assert raw[-1].last["active"] == 99 and roll[-1].last["active"] == 99


async def test_malformed_points_are_skipped_and_counted(redis_url, namespace):
    store = RedisStore(redis_url, namespace)
    await store.start()
    try:
        await store.history_append(sample(50_000, active=1), TIERS, "w")
        await store.client.zadd(store.keys.history(TIERS[0].name), {"not json": 50_001, '{"no":"t"}': 50_002})
        await store.client.zadd(store.keys.history(TIERS[1].name), {"garbage": 50_040})
        await store.history_append(sample(50_040, active=2), TIERS, "w")  # the rollup repairs its bucket
        raw, bad = await store.history_range(TIERS[0], 0, 1e12)
        assert [p.last["active"] for p in raw] == [1, 2] and bad == 2
        roll, bad = await store.history_range(TIERS[1], 0, 1e12)
        assert bad == 0 and roll[-1].last["active"] == 2
    finally:
        await store.close()


async def test_a_restarted_reader_sees_samples_written_before_it_started(make_manager, clock, redis_url, namespace,
                                                                         store_kind):
    if store_kind != "redis":
        pytest.skip("a restart needs a store outside the process (the Redis store)")
    clock.now = math.floor(time.time()) - 600  # the fleet clock: the reader uses Redis TIME
    a = await make_manager(worker_id="writer", HISTORY_ENABLED=False)
    for _ in range(30):
        clock.advance(10)
        assert await a.record_history()
    await a.stop(close_streams=False)
    reader = await FleetReader.connect(redis_url, namespace, load_config())
    try:
        s = await reader.history("1h", "10s")
        got = [t for t, n in zip(s.times, s.samples, strict=False) if n]
        assert len(got) == 30
        assert s.tier_step == 10 and s.step == 10
        assert all(v == 0 for v, n in zip(s.last["active"], s.samples, strict=False) if n)
    finally:
        await reader.close()


async def test_recorder_task_writes_once_per_interval_across_two_workers(redis_url, namespace):
    """The real loop, the real clock (Redis TIME): two workers, 0.2 s interval."""
    from core.manager import ConnectionManager

    cfg = load_config(HISTORY_INTERVAL_SECONDS=0.2, PERIODIC_CLEANUP_ENABLED=False, TOUCH_FLUSH_INTERVAL_SECONDS=0.1)
    managers = [ConnectionManager(RedisStore(redis_url, namespace), cfg, worker_id=f"w{i}") for i in range(2)]
    for m in managers:
        await m.start()
    try:
        raw_tier = history.tiers_from_config(cfg)[0]
        deadline = time.monotonic() + 20
        raw: list[Point] = []
        while time.monotonic() < deadline:
            raw, _ = await managers[0].store.history_range(raw_tier, 0, 1e12)
            if len(raw) >= 10:
                break
            await __import__("asyncio").sleep(0.1)
        assert len(raw) >= 10, len(raw)
        slots = [int(p.t // 0.2) for p in raw]
        assert len(slots) == len(set(slots)), "two samples in one interval"
    finally:
        for m in managers:
            await m.stop(close_streams=False)


# -- history rules: fire on what should fire them, silent otherwise -----------------------------
CFG = load_config(CAPACITY_CONNECTIONS=10_000)
NOW = 1_800_000_000.0


def _raw(fn, span: float = 3900, step: float = 10) -> list[Point]:
    return points([fn(NOW - span + i * step) for i in range(int(span / step) + 1)])


@pytest.mark.parametrize("durations, fires", [
    (lambda t: 150.0 + (t % 7), True),  # every cleanup slow
    (lambda t: 150.0 if int(t) % 120 else 40.0, False),  # one fast run in the window: not "consistently"
    (lambda t: 20.0, False),
])
def test_cleanup_duration_sustained(durations, fires):
    ev = history.cleanup_duration_sustained(_raw(lambda t: sample(t, last_ms=durations(t))), NOW,
                                            CFG.CLEANUP_DURATION_SUSTAINED_SECONDS, CFG.ALERT_CLEANUP_DURATION_MS, 10)
    assert ev.fired is fires and ev.window_end == NOW and ev.window_start == NOW - 300 and ev.samples >= 30


def test_cleanup_duration_unknown_without_enough_history():
    ev = history.cleanup_duration_sustained(points([sample(NOW - 20, last_ms=500.0), sample(NOW, last_ms=500.0)]),
                                            NOW, 300, 100, 10)
    assert ev.value is None and ev.fired is None


def _cumulative(rate_at) -> list[Point]:
    """One cleanup run per 10 s sample; errors accumulate with probability rate_at(t)."""
    out, runs, errs, acc = [], 0, 0, 0.0
    for i in range(391):
        t = NOW - 3900 + 10 * i
        runs += 1
        acc += rate_at(t)
        if acc >= 1:
            errs += 1
            acc -= 1
        out.append(sample(t, runs=runs, errors=errs))
    return points(out)


@pytest.mark.parametrize("rate_at, fires", [
    (lambda t: max(0.0, (t - (NOW - 3600)) / 3600) * 0.4, True),  # 0 % -> 40 % over the hour
    (lambda t: 0.2, False),  # high but flat: the rate rules cover it, not the trend
    (lambda t: max(0.0, 0.4 - max(0.0, (t - (NOW - 3600)) / 3600) * 0.4), False),  # falling
])
def test_error_rate_trend(rate_at, fires):
    ev = history.error_rate_trend(_cumulative(rate_at), NOW, CFG.ERROR_RATE_TREND_WINDOW_SECONDS,
                                  CFG.ALERT_ERROR_RATE_SLOPE_PERCENT_PER_HOUR)
    assert ev.fired is fires, ev
    assert ev.window_start == NOW - 3600 and ev.value is not None


def _days(fn, days: int = 8, step: float = 300) -> list[Point]:
    n = int(days * DAY / step)
    return points([fn(NOW - days * DAY + i * step) for i in range(n)])


def _daily(t: float) -> int:
    return int(1000 + 500 * math.sin(2 * math.pi * (t % DAY) / DAY))


@pytest.mark.parametrize("current, fires", [(3000, True), (100, True), (None, None)])
def test_baseline_deviation_fires_outside_the_band(current, fires):
    pts = _days(lambda t: sample(t, active=_daily(t)))
    expected = _daily(NOW)
    ev = history.baseline_deviation(pts, NOW, current, 7, 900, 3, 25)
    assert ev.fired is fires
    if current is not None:
        assert ev.band_low <= expected <= ev.band_high and ev.samples > 7 * 5


def test_baseline_deviation_silent_inside_the_band_and_unknown_without_days():
    pts = _days(lambda t: sample(t, active=_daily(t)))
    ev = history.baseline_deviation(pts, NOW, _daily(NOW), 7, 900, 3, 25)
    assert ev.fired is False and ev.value == 0
    short = [p for p in pts if p.t > NOW - 2 * DAY]
    assert history.baseline_deviation(short, NOW, 5000, 7, 900, 3, 25).fired is None


@pytest.mark.parametrize("growth_per_day, capacity, fires", [(500, 10_000, True), (10, 10_000, False),
                                                             (-50, 10_000, False), (500, 0, None)])
def test_days_to_capacity(growth_per_day, capacity, fires):
    pts = _days(lambda t: sample(t, active=int(2000 + growth_per_day * (t - (NOW - 8 * DAY)) / DAY)))
    ev = history.capacity_forecast(pts, NOW, 7, capacity, 30)
    assert ev.fired is fires, ev
    if fires:
        assert ev.growth_per_day == pytest.approx(500, rel=0.01) and 7.9 < ev.value < 8.1  # (10,000 - 6,000) / 500


def test_history_rules_are_rows_of_the_rule_table():
    assert set(history.trends([], [], NOW, CFG, None)) == set(history.TREND_TYPES)
    assert {r.input for r in health.RULES if r.type in history.TREND_TYPES} == set(history.TREND_TYPES)
    assert set(history.TREND_TYPES) <= set(health.HealthInputs.__dataclass_fields__)
    th = health.HealthThresholds.from_config(CFG)
    base = dict(active_connections=10, redis_connection_counters=10, error_rate=0.0, cleanup_task_running=True,
                periodic_cleanup_enabled=True, stale=0, very_old=0)
    quiet = health.evaluate(health.HealthInputs(**base), th)
    assert quiet.overall_health == "healthy"
    loud = health.evaluate(health.HealthInputs(**base, cleanup_duration_sustained=150.0, error_rate_trend=12.0,
                                               baseline_deviation=60.0, days_to_capacity=5.0), th)
    assert {w.type for w in loud.warnings} == {"cleanup_duration_sustained", "error_rate_trend", "baseline_deviation",
                                               "days_to_capacity"}
    rows = {r.type: r for r in health.rule_rows(th)}
    assert rows["cleanup_duration_sustained"].threshold == CFG.ALERT_CLEANUP_DURATION_MS
    assert rows["days_to_capacity"].config_field == "WARN_DAYS_TO_CAPACITY"


async def test_monitoring_publishes_the_trend_warning_with_its_evidence(make_manager, clock):
    m = await make_manager(HISTORY_ENABLED=False)
    tiers = history.tiers_from_config(m.config)
    start = clock()
    for i in range(40):  # 400 s of cleanups taking 180-200 ms
        await m.store.history_append(sample(start + 10 * i, active=0, last_ms=180.0 + i % 3 * 10), tiers, "w")
    clock.now = start + 395
    await m.refresh_trends()
    snap = await m.monitoring_snapshot()
    assert "cleanup_duration_sustained" in {w.type for w in snap.health_indicators.warnings}
    ev = {e.type: e for e in snap.performance_trends}["cleanup_duration_sustained"]
    assert ev.value == 180.0 and ev.window_end - ev.window_start == 300 and ev.samples >= 29
    assert {e.type: e for e in snap.performance_trends}["days_to_capacity"].value is None  # unknown, not 0
    json.dumps(snap.model_dump(mode="json"))
    clock.advance(3 * history.TREND_REFRESH_SECONDS + 1)  # verdicts too old to stand for now: unknown
    snap = await m.monitoring_snapshot()
    assert snap.performance_trends == [] and not snap.health_indicators.warnings


async def test_repeated_reads_fetch_only_new_rows_and_match_a_cold_read(make_manager, clock, store_kind):
    a = await make_manager(worker_id="w", HISTORY_ENABLED=False)
    cold = await make_manager(worker_id="cold", observer=True)
    for i in range(40):
        clock.advance(10)
        await a.flush_touches()
        assert await a.record_history()
        if i in (10, 25):
            await a.history(600, 10)  # warm the cache part way
    clock.advance(1)
    warm_series = await a.history(600, 10)
    cold_series = await cold.history(600, 10)  # a reader with nothing cached
    assert warm_series.model_dump() == cold_series.model_dump()
    assert sum(warm_series.samples) == 40 and warm_series.last["active"][-1] == 0
    # ranges alternating, a pause longer than the overlap, late samples: always what a cold read sees
    for advance, ranges in ((10, (200, 600, 300)), (500, (300, 600)), (10, (600, 200, 1200))):
        for _ in range(int(advance // 10)):
            clock.advance(10)
            await a.flush_touches()
            await a.record_history()
        for r in ranges:
            warm = await a.history(r, 10)
            fresh = await make_manager(worker_id=f"cold-{r}-{clock()}", observer=True)
            assert warm.model_dump() == (await fresh.history(r, 10)).model_dump(), (advance, r)


async def test_per_worker_counts_have_their_own_key_trimmed_with_the_raw_tier(store):
    """history_append: the raw member holds no per-worker counts; they go, once a minute, to
    their own key, kept as long as the raw tier (both stores, the same script rules)."""
    base = 120_000.0
    for i in range(18):  # 180 s at 10 s: per-worker counts at 0, 60, 120 s
        assert await store.history_append(sample(base + 10 * i, active=i, workers={"w-a": i, "w-b": 1}), TIERS, "w")
    members = await store.history_members(TIERS[0], 0, 1e12)
    assert len(members) == 11  # the raw tier keeps 100 s (70 .. 170)
    assert {json.loads("[" + m + "]")[history.ROW_WORKERS] for m in members} == {None}
    per_worker = await store.history_workers(0, 1e12)
    assert per_worker == [HistorySample(t=base + 120, workers={"w-a": 12, "w-b": 1}).workers_member()]  # 0, 60 s: trimmed
    assert history.decode_workers(per_worker) == ([base + 120], [{"w-a": 12, "w-b": 1}])
    assert await store.history_workers(base, base + 110) == []
    # a sample listing no worker stores nothing (unknown); later appends still trim
    for i in range(18, 30):
        assert await store.history_append(sample(base + 10 * i, active=i), TIERS, "w")
    assert await store.history_workers(0, 1e12) == []


def test_decode_workers_skips_malformed_members():
    good = [HistorySample(t=1000 + 60 * i, workers={"w": i}).workers_member() for i in range(3)]
    assert all(good) and HistorySample(t=1, workers={}).workers_member() is None
    assert history.decode_workers(good) == ([1000.0, 1060.0, 1120.0], [{"w": 0}, {"w": 1}, {"w": 2}])
    assert history.decode_workers([]) == ([], [])
    bad = ['"1030",{"w":1}', '1040,{"w":"x"}', "nul", '1050,{"w":1},3', "1060", 'Infinity,{"w":1}', '1070,[1]']
    times, counts = history.decode_workers([good[0], *bad, good[2]])
    assert (times, counts) == ([1000.0, 1120.0], [{"w": 0}, {"w": 2}])


def test_attach_workers_keeps_inline_counts_and_drops_counts_without_their_sample():
    samples = [_full(2000 + 10 * i, i, workers=i == 0) for i in range(6)]
    cols, _ = history.decode_columns([s.to_member(i == 0) for i, s in enumerate(samples)])
    got = history.attach_workers(cols, [1990.0, 2000.0, 2030.0, 2035.0, 2100.0],
                                 [{"x": 9}, {"x": 1}, {"x": 3}, {"x": 4}, {"x": 5}])
    assert got.workers == [{"web-1-100-aa": 60, "web-2-200-bb": 40}, None, None, {"x": 3}, None, None]
    assert got.t is cols.t and got.last is cols.last  # the other columns are shared, not copied
    assert history.without_workers(cols).workers is None


async def test_series_reads_per_worker_counts_of_old_rows_and_of_their_own_key(make_manager, clock, store_kind):
    """A deployed fleet's 24 h of rows carry their per-worker counts inline; new samples keep
    them in their own key: one series shows both, warm (the reader's cache, reads with and
    without per-worker counts alternating) or cold."""
    a = await make_manager(worker_id="reader", HISTORY_ENABLED=False)
    tiers = history.tiers_from_config(a.config)
    base = math.floor(clock() / 60) * 60 - 1200

    def s(i: int) -> HistorySample:
        return sample(base + 10 * i, active=i, runs=i, errors=0, workers={"w-a": i, f"w-{i // 30}": 1})

    for i in range(60):  # the deployed fleet's rows: a JSON array, per-worker counts inline once a minute
        await _put_raw(a.store, tiers[0], base + 10 * i, s(i).to_json(history.with_workers(base + 10 * i, 10)))
    clock.now = base + 600
    assert (await a.history(600, 10, workers=True)).workers is not None  # the cache holds old rows, inline counts
    for i in range(60, 120):
        assert await a.store.history_append(s(i), tiers, "w")
        clock.now = base + 10 * i + 1
        if i in (70, 95):
            await a.history(1200, 10, workers=i == 95)
        if i == 80:
            await a.history(300, 10, workers=True)
    clock.now = base + 1200
    want = {w: [i if w == "w-a" else 1 if w == f"w-{i // 30}" else None for i in range(0, 120, 6)]
            for w in ("w-a", "w-0", "w-1", "w-2", "w-3")}
    for reader in (a, await make_manager(worker_id="cold", observer=True)):
        ser = await reader.history(1200, 10, workers=True)
        got = {w: [v for v, n in zip(col, ser.samples, strict=True) if n and v is not None] for w, col in ser.workers.items()}
        assert got == {w: [v for v in col if v is not None] for w, col in want.items()}
        assert sum(v is not None for v in ser.workers["w-a"]) == 20 and ser.last["active"][:120] == list(range(120))
        assert (await reader.history(1200, 10)).workers is None


def _cols(samples: list[HistorySample]) -> history.Columns:
    cols, bad = history.decode_columns([s.to_json() for s in samples])
    assert bad == []
    return cols


def test_column_cache_reads_only_new_rows_on_a_repeated_range():
    """The manager's call: a range start aligned down to the step lies a little before
    now - retention; a repeated read must still be incremental."""
    cache = history.ColumnCache()
    rows = _cols([sample(1000 + 10 * i, active=i) for i in range(100)])
    end = 1995.0
    start = math.floor((end - 990) / 10) * 10  # 1000, below keep_from = end - 990 = 1005
    assert cache.read_from(start, 30) == start
    got, bad = cache.update(start, start, rows, [1500.0], end - 990)
    assert got.t == rows.t and bad == 1
    # again within the same step (the same aligned start), then a step later
    assert cache.read_from(start, 30) == rows.t[-1] - 30
    end += 10
    start2 = math.floor((end - 990) / 10) * 10
    assert start2 == 1010
    since = cache.read_from(start2, 30)
    assert since == rows.t[-1] - 30  # only the newest rows are read again
    newer = _cols([sample(t, active=int(t)) for t in (1960.0, 1970.0, 1980.0, 1990.0, 2000.0)])
    got, bad = cache.update(start2, since, newer, [1975.0], end - 990)
    assert got.t == [1010 + 10 * i for i in range(100)]
    assert got.last[0][-1] == 2000 and bad == 2  # the malformed point found before is still counted
    got, bad = cache.update(1600, 1600, _cols([]), [], end - 990)  # read whole from later on: the cache restarts
    assert got.t == [] and bad == 0 and cache.start == 1600


async def test_redis_going_away_writes_nothing_and_reads_fail_cleanly(clock, namespace):
    """A real redis-server stopped under a writer: the recorder writes nothing (a gap, not
    zeros) and does not raise, the history read raises StoreUnavailable (the endpoint's
    503), both within the store timeout; when Redis is back, recording resumes."""
    import shutil

    from core.manager import ConnectionManager
    from core.store.base import StoreUnavailable
    from tests.redis_server import RedisServer

    server = RedisServer().start()
    m = None
    try:
        clock.now = math.floor(time.time())
        cfg = load_config(HISTORY_ENABLED=False, PERIODIC_CLEANUP_ENABLED=False, REDIS_TIMEOUT_SECONDS=0.5)
        m = ConnectionManager(RedisStore(server.url, namespace, timeout=0.5), cfg, clock=clock, worker_id="w")
        await m.start()
        for _ in range(5):
            clock.advance(10)
            await m.flush_touches()
            assert await m.record_history()
        assert sum((await m.history(600, 10)).samples) == 5
        server.stop()
        t0 = time.monotonic()
        clock.advance(10)
        assert await m.record_history() is False
        with pytest.raises(StoreUnavailable):
            await m.history(600, 10)
        assert time.monotonic() - t0 < 10
        server.start()  # no persistence: it comes back empty
        deadline = time.monotonic() + 15
        while True:
            clock.advance(10)
            await m.flush_touches()
            if await m.record_history():
                break
            assert time.monotonic() < deadline, "recording did not resume"
            await asyncio.sleep(0.1)
        s = await m.history(600, 10)
        # the store lost its data: the first sample after it says the registry is rebuilding
        # (its count unknown, never a partial one as current); once settled, it counts again
        assert s.last["active"][-1] is None and s.level[-1] == "unhealthy"
        assert any(a.type == "registry_rebuilding" for a in s.alerts)
        deadline = time.monotonic() + 15
        while True:
            clock.advance(10)
            await m.flush_touches()
            assert await m.record_history()
            s = await m.history(600, 10)
            if s.last["active"][-1] == 0:
                break
            assert time.monotonic() < deadline, "the registry never settled"
    finally:
        if m is not None:  # also when an assertion failed: its Redis connections must not leak
            await m.stop(close_streams=False)
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)


# -- per-worker counts in the series (both stores) -----------------------------------------------
async def test_series_carries_per_worker_counts_unknown_between_samples(make_manager, clock):
    m = await make_manager(worker_id="reader", HISTORY_ENABLED=False)
    tiers = history.tiers_from_config(m.config)
    base = math.floor(clock() / 60) * 60 - 600
    for i in range(60):  # 600 s at 10 s; per-worker counts are stored once a minute (i % 6 == 0)
        workers = {"w-a": i, "w-b": 2 * i} if i < 30 else {"w-a": i}
        assert await m.store.history_append(sample(base + 10 * i, active=3 * i, workers=workers), tiers, "w")
    clock.now = base + 600
    assert (await m.history(600, 10)).workers is None  # not asked for: not read
    s = await m.history(600, 10, workers=True)
    assert set(s.workers) == {"w-a", "w-b"} and s.workers_omitted == 0
    by_t = dict(zip(s.times, range(len(s.times)), strict=True))
    for i in range(60):
        k = by_t[base + 10 * i]
        if i % 6:
            assert s.workers["w-a"][k] is None and s.workers["w-b"][k] is None  # not sampled: unknown, never 0
        else:
            assert s.workers["w-a"][k] == i
            assert s.workers["w-b"][k] == (2 * i if i < 30 else None)  # not listed then: unknown
    assert s.workers["w-a"][-1] is None  # the newest bucket holds no sample
    per_minute = await m.history(600, 60, workers=True)  # each 60 s bucket: its per-worker sample
    assert [v for v in per_minute.workers["w-a"] if v is not None] == list(range(0, 60, 6))
    week = await m.history(7 * DAY, workers=True)  # answered by the rollup tier, which keeps no per-worker counts
    assert week.tier_step == tiers[1].step and week.workers is None
    cols, _ = history.decode_columns(await m.store.history_members(tiers[0], base, base + 600))
    assert cols.workers is not None and set(cols.workers) == {None}  # the raw members hold none: their own key
    cols = history.attach_workers(cols, *history.decode_workers(await m.store.history_workers(base, base + 600)))
    one = history.series_columns(cols, s.start, s.end, 10, 10, max_workers=1)
    assert list(one.workers) == ["w-a"] and one.workers_omitted == 1  # the largest at its peak (54 > 48)


async def test_series_json_is_the_models_json(make_manager, clock):
    m = await make_manager(worker_id="reader", HISTORY_ENABLED=False)
    tiers = history.tiers_from_config(m.config)
    for i in range(30):
        lv = "degraded" if 10 <= i < 20 else "healthy"
        await m.store.history_append(sample(clock() - 300 + 10 * i, active=i, last_ms=1.5 * i, level=lv,
                                            warnings=["stale_connection_accumulation"] if lv == "degraded" else [],
                                            workers={"w": i}), tiers, "w")
    for range_s, step, workers in ((300, 10, True), (300, 30, True), (300, 10, False), (7 * DAY, None, True)):
        s = await m.history(range_s, step, workers=workers)
        assert json.loads(history.series_json(s)) == json.loads(s.model_dump_json())
        assert history.HistorySeries.model_validate_json(history.series_json(s)) == s


async def test_bad_points_count_the_whole_range_on_repeated_reads(redis_url, namespace, clock):
    from core.manager import ConnectionManager

    cfg = load_config(HISTORY_ENABLED=False, PERIODIC_CLEANUP_ENABLED=False)
    m = ConnectionManager(RedisStore(redis_url, namespace), cfg, clock=clock, worker_id="w")
    await m.start()
    try:
        tiers = history.tiers_from_config(cfg)
        t0 = clock()
        for i in range(10):
            await m.store.history_append(sample(t0 + 10 * i, active=i), tiers, "w")
        await m.store.client.zadd(m.store.keys.history(tiers[0].name), {"not json": t0 + 15, "[1,2]": t0 + 25})
        clock.now = t0 + 100
        first = await m.history(600, 10)
        assert first.bad_points == 2 and sum(first.samples) == 10
        await m.store.history_append(sample(t0 + 100, active=10), tiers, "w")
        clock.now = t0 + 101
        again = await m.history(600, 10)  # only new rows fetched: the two found before still count
        assert again.bad_points == 2 and sum(again.samples) == 11
        assert all(v is not None for v, n in zip(again.last["active"], again.samples, strict=True) if n)
    finally:
        await m.stop(close_streams=False)


# -- trend verdicts: computed once per period for the fleet, read by everyone else ---------------
async def test_trends_are_computed_once_per_period_and_shared(make_manager, clock, store_kind):
    if store_kind == "redis-cluster":
        pytest.skip("the memory store and one real redis-server cover it")
    a = await make_manager(worker_id="worker-a", HISTORY_ENABLED=False)
    b = await make_manager(worker_id="worker-b", HISTORY_ENABLED=False)
    watcher = await make_manager(worker_id="observer", observer=True)
    tiers = history.tiers_from_config(a.config)
    period = history.TREND_REFRESH_SECONDS
    start = math.floor(clock() / period) * period
    for i in range(75):  # 750 s of cleanups taking 180-200 ms: the sustained-duration rule fires
        await a.store.history_append(sample(start + 10 * i, active=0, last_ms=180.0 + i % 3 * 10), tiers, "w")
    for p in range(4):
        clock.now = start + 540 + p * period + 0.5
        first, second = (a, b) if p % 2 == 0 else (b, a)
        got = [await first.refresh_trends(), await second.refresh_trends(), await watcher.refresh_trends()]
        assert a.trend_computations + b.trend_computations == p + 1, "one computation per period for the fleet"
        assert watcher.trend_computations == 0
        dumped = [{k: v.model_dump() for k, v in g.items()} for g in got]
        assert dumped[0] == dumped[1] == dumped[2] and dumped[0]["cleanup_duration_sustained"]["fired"] is True
        for m in (a, b, watcher):
            snap = await m.monitoring_snapshot()
            assert "cleanup_duration_sustained" in {w.type for w in snap.health_indicators.warnings}
        clock.advance(period / 2)  # within the period: nobody computes again
        assert not b.recorder.trends_due(clock())
    assert a.trend_computations == 2 and b.trend_computations == 2  # the lease winner alternated
    # nobody computes any more: the stored verdicts grow old and are dropped (unknown, not "fine")
    clock.advance(3 * period + 1)
    assert await watcher.refresh_trends() == {}
    snap = await watcher.monitoring_snapshot()
    assert snap.performance_trends == [] and not snap.health_indicators.warnings
    # a worker whose period's lease another holds, before the winner stored anything: unknown
    assert await b.store.history_trends_claim(int(clock() // period), "someone-else", 2 * period)
    assert await b.refresh_trends() == {} and b.trend_computations == 2


def test_stored_trends_that_are_malformed_or_old_read_as_unknown():
    ev = history.trends([], [], NOW, CFG, None)
    body = history.trends_to_json(ev, NOW, "w")
    assert history.trends_from_json(body, NOW + 10, 180) == (ev, NOW)
    assert history.trends_from_json(body, NOW + 181, 180) is None
    for bad in (None, "", "not json", '{"at": "x", "verdicts": []}', '{"at": 1}', '{"at": 1, "verdicts": [{"x": 1}]}'):
        assert history.trends_from_json(bad, NOW, 180) is None


# -- the stored raw member: the flat format, and rows written before it --------------------------
def _full(t: float, i: int, workers: bool = True) -> HistorySample:
    return HistorySample(t=t, active=100 + i, counter=100 + i, stale=None if i % 4 == 0 else i, active_recent=90,
                         long_lived=3, very_old=1, runs=i, cleaned=2 * i, errors=i // 3, last_ms=12.5 + i,
                         avg_ms=None if i % 5 == 0 else 11.25, level=history.LEVELS[i % 3] if i % 7 else None,
                         alerts=["connection_mismatch", "cleanup_errors"] if i % 3 == 1 else [],
                         warnings=["stale_connection_accumulation"] if i % 2 else [],
                         workers={"web-1-100-aa": 60 + i, "web-2-200-bb": 40} if workers else {})


def test_flat_member_holds_every_value_and_decodes_like_the_old_row():
    samples = [_full(1000 + 10 * i, i, workers=i % 6 == 0) for i in range(24)]
    members = [s.to_member(i % 6 == 0) for i, s in enumerate(samples)]
    assert not members[1].startswith("[") and len(json.loads("[" + members[1] + "]")) == history.ROW_WIDTH
    assert json.loads("[" + members[1] + "]")[history.ROW_ALERTS] == "connection_mismatch,cleanup_errors"
    assert json.loads("[" + members[1] + "]")[history.ROW_WORKERS] is None
    old = [s.to_json(i % 6 == 0) for i, s in enumerate(samples)]
    assert history._flat_columns(members) is not None and history._flat_columns(old) is None  # the fast path
    flat, bad = history.decode_columns(members)
    assert bad == []
    for mixed in (old, [m if i % 2 else o for i, (m, o) in enumerate(zip(members, old, strict=True))]):
        other, bad = history.decode_columns(mixed)  # written before the flat format, alone or interleaved
        assert bad == [] and other == flat
    assert flat.last[history.INDEX["stale"] - 1][0] is None and flat.last[history.INDEX["avg_ms"] - 1][1] == 11.25
    assert flat.alerts[1] == ("connection_mismatch", "cleanup_errors") and flat.warnings[0] == ()
    assert flat.workers is not None and flat.workers[0] == {"web-1-100-aa": 60, "web-2-200-bb": 40}
    assert flat.workers[1] is None
    assert [history.LEVELS[c] if c is not None else None for c in flat.level] == [s.level for s in samples]
    # the Point reads (trends) see the same values from either format
    new_pts, bad_new = history.parse_points(members)
    old_pts, bad_old = history.parse_points(old)
    assert bad_new == bad_old == 0 and new_pts == old_pts
    s = history.series_columns(flat, 1000, 1230, 10, 10)
    assert [(a.type, a.start) for a in s.alerts][:2] == [("cleanup_errors", 1010), ("connection_mismatch", 1010)]


def test_flat_members_of_the_wrong_shape_are_counted_and_the_rest_read():
    good = [_full(1000 + 10 * i, i).to_member(True) for i in range(8)]
    values = json.loads("[" + good[2] + "]")
    short = json.dumps(values[:-1])[1:-1]  # one value fewer: would shift every later column
    long = json.dumps([*values, 7])[1:-1]
    text_t = json.dumps(["1020", *values[1:]])[1:-1]
    odd = [*values]
    odd[1], odd[2], odd[history.ROW_LEVEL] = "many", True, 9  # not numbers / not a level: unknown, not malformed
    odd[history.ROW_WORKERS] = {"w": "x"}
    members = [good[0], short, good[1], long, text_t, json.dumps(odd)[1:-1], "", "nul", good[3]]
    cols, bad = history.decode_columns(members)
    assert bad == [1, 3, 4, 6, 7]
    assert cols.t == [1000.0, 1010.0, 1020.0, 1030.0]
    assert cols.last[0] == [100, 101, None, 103] and cols.last[1] == [100, 101, None, 103]
    assert cols.level[2] is None and cols.workers is not None and cols.workers[2] is None
    assert history.parse_points(members)[1] == 5
    # only the odd values: still the fast path, read as unknown
    fast = history._flat_columns([good[0], json.dumps(odd)[1:-1]])
    assert fast is not None and fast.last[0] == [100, None] and fast.level[1] is None and fast.workers == [
        {"web-1-100-aa": 60, "web-2-200-bb": 40}, None]


async def _put_raw(store, tier: Tier, t: float, body: str) -> None:
    """A raw member written as it is (an old fleet's row, or garbage)."""
    from core.store.memory import MemoryStore

    if isinstance(store, MemoryStore):
        store._put(tier.name, t, body, tier.retention)
        return
    s = store.shards[0] if hasattr(store, "shards") else store  # the sharded store keeps history on shard 0
    await s.client.zadd(s.keys.history(tier.name), {body: t})


async def test_rows_written_before_the_flat_format_stay_readable(store):
    samples = [_full(40_000 + 10 * i, i) for i in range(9)]
    ww = [history.with_workers(s.t, TIERS[0].step) for s in samples]  # what history_append stores
    for s in samples[:5]:  # the deployed fleet's rows
        await _put_raw(store, TIERS[0], s.t, s.to_json(history.with_workers(s.t, TIERS[0].step)))
    for s in samples[5:]:
        assert await store.history_append(s, TIERS, "w")
    members = await store.history_members(TIERS[0], 0, 1e12)
    assert [m.startswith("[") for m in members] == [True] * 5 + [False] * 4
    cols, bad = history.decode_columns(members)
    assert cols.workers is not None and cols.workers[8] is None  # a new row's counts: in their own key
    cols = history.attach_workers(cols, *history.decode_workers(await store.history_workers(0, 1e12)))
    want, _ = history.decode_columns([s.to_member(w) for s, w in zip(samples, ww, strict=True)])  # all inline
    assert bad == [] and cols == want and sum(w is not None for w in cols.workers or []) == sum(ww) > 0
    raw, bad = await store.history_range(TIERS[0], 0, 1e12)
    assert bad == 0 and [p.last["active"] for p in raw] == [100 + i for i in range(9)]
    assert tuple(raw[1].alerts) == tuple(raw[7].alerts) == ("connection_mismatch", "cleanup_errors")


async def test_the_rollup_folds_flat_members_like_merge(store):
    """The Lua fold reads the flat member (the types split again) exactly as ``merge``."""
    samples = [_full(60_000 + 10 * i, i, workers=i % 6 == 0) for i in range(6)]
    agg = history.new_rollup(60_000)
    for i, s in enumerate(samples):
        assert await store.history_append(s, TIERS, "w")
        history.merge(agg, s.to_row(i % 6 == 0))
    (point,), bad = await store.history_range(TIERS[1], 0, 1e12)
    (want,), _ = history.parse_points([json.dumps(agg)])
    assert bad == 0 and (point.n, point.last, point.mn, point.mx, point.level) == (
        want.n, want.last, want.mn, want.mx, want.level)
    assert sorted(point.alerts) == sorted(want.alerts) == ["cleanup_errors", "connection_mismatch"]
    assert point.warnings == want.warnings == ("stale_connection_accumulation",)
