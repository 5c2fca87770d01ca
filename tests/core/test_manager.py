"""The manager over both stores: registration, cleanup, logs, the monitoring response."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from pathlib import Path

import pytest

from core.config import load_config
from core.manager import ConnectionManager
from core.models import MonitoringStats
from core.registry import counts_interval
from core.store.redis import RedisStore

GUIDE = Path(__file__).resolve().parents[2].parent / "shared" / "spec" / "sse_monitoring_guide.md"
# the guide's "Complete Monitoring Response", kept in the project (the tests never need ../shared)
GUIDE_EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "guide_monitoring_response.json"


def guide_example() -> dict:
    return json.loads(GUIDE_EXAMPLE.read_text())


def test_kept_guide_example_matches_the_guide_when_it_is_beside_us():
    if not GUIDE.exists():
        pytest.skip("the guide is not beside this checkout; the copy in tests/data is what the tests use")
    block = GUIDE.read_text().split("### Complete Monitoring Response", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    assert json.loads(block) == guide_example()


def key_tree(d) -> dict:
    return {k: key_tree(v) if isinstance(v, dict) else None for k, v in d.items()}


async def test_monitoring_response_has_every_guide_key_at_same_nesting(make_manager):
    m = await make_manager()
    data = await m.get_detailed_monitoring_stats()
    guide = guide_example()
    ours, theirs = key_tree(data), key_tree(guide)

    def contains(a, b, path=""):
        for k, v in b.items():
            assert k in a, f"missing key {path}{k}"
            if v is not None:
                contains(a[k], v, f"{path}{k}.")
    contains(ours, theirs)
    assert data["service_name"] == "sse_connection_manager"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["timestamp"])
    # the guide's example validates with our model (the dashboard relies on this)
    MonitoringStats.model_validate(guide)


async def test_register_touch_unregister_counts(make_manager):
    m = await make_manager()
    recs = [await m.register(channel="news", client_address="10.0.0.1:5", user_agent="curl") for _ in range(3)]
    s = await m.get_detailed_monitoring_stats()
    assert s["connection_stats"]["active_connections"] == 3
    assert s["connection_stats"]["redis_connection_counters"] == 3
    m.touch(recs[0].connection_id, events=2, bytes_sent=64)
    await m.flush_touches()
    _p = await m.list_connections("all", 10, 0)
    _, rows = _p.total, _p.connections
    by_id = {r.connection_id: r for r in rows}
    assert by_id[recs[0].connection_id].events_sent == 2 and by_id[recs[0].connection_id].bytes_sent == 64
    assert await m.unregister(recs[1].connection_id) is True
    s = await m.get_detailed_monitoring_stats()
    assert (s["connection_stats"]["active_connections"], s["connection_stats"]["redis_connection_counters"]) == (2, 2)


async def test_cleanup_removes_only_stale_and_closes_local_streams(make_manager, clock):
    m = await make_manager(CLEANUP_BATCH_SIZE=4)
    closed: list[str] = []
    stale = []
    for i in range(9):
        r = await m.register(on_close=lambda i=i: closed.append(f"s{i}"))
        stale.append(r.connection_id)
    clock.advance(200)
    live = await m.register()
    clock.advance(150)  # stale ones idle 350 s > 300; live idle 150 s
    m.touch(live.connection_id)
    await m.flush_touches()
    removed = await m.cleanup_stale_connections()
    assert removed == 9
    assert sorted(closed) == sorted(f"s{i}" for i in range(9))
    assert m.local_connection_ids() == [live.connection_id]
    stats = await m.state_manager.get_cleanup_statistics()
    assert stats["total_cleanups"] == 1 and stats["total_connections_cleaned"] == 9 and stats["error_rate"] == 0.0
    s = await m.get_detailed_monitoring_stats()
    assert s["connection_stats"]["redis_connection_counters"] == 1
    assert s["cleanup_stats"]["stale"] == 0


async def test_cleanup_batch_size_override_and_failed_close(make_manager, clock):
    m = await make_manager()

    def broken():
        raise RuntimeError("socket already gone")

    await m.register(on_close=broken)
    await m.register()
    clock.advance(301)
    result = await m.run_cleanup(batch_size=1)
    assert (result.cleaned, result.failed) == (1, 1)
    assert result.batches == 3  # 1 + 1 + the empty one that ends the loop
    stats = await m.state_manager.get_cleanup_statistics()
    assert stats["failed_connections"] == 1 and stats["connection_failure_rate"] == 50.0
    with pytest.raises(ValueError):
        await m.run_cleanup(batch_size=0)


async def test_settings_replaced_at_run_time_reach_every_part(make_manager, clock):
    """An observer follows the fleet's published settings by replacing ``manager.config``
    (core.fleet): the cleanup, the snapshot's configuration view, the cadences and the
    history's tiers all judge by the new ones from then on."""
    m = await make_manager(CLEANUP_BATCH_SIZE=10)
    for _ in range(5):
        await m.register()
    await m.history(7 * 86400.0)  # the default rollup tier keeps 14 days
    clock.advance(120)
    m.config = load_config(PERIODIC_CLEANUP_ENABLED=False, CLEANUP_BATCH_SIZE=2, STALE_CONNECTION_THRESHOLD_SECONDS=60,
                           HISTORY_ROLLUP_RETENTION_SECONDS=2 * 86400.0, NOT_READING_SECONDS=20)
    result = await m.run_cleanup()
    assert (result.cleaned, result.batches) == (5, 3)  # stale at 60 s, in batches of 2 (before: nothing stale)
    view = (await m.monitoring_snapshot()).configuration
    assert (view.cleanup_batch_size, view.stale_threshold_seconds, view.activity_resolution_seconds) == (2, 60, 6.0)
    assert view.not_reading_seconds == 20  # the dashboard judges a send queue's read by it (sse_tui.model.Thresholds)
    assert m.activity_resolution == 6.0 and m.counts_interval == counts_interval(m.config, m.registry.registry_size)
    with pytest.raises(ValueError, match="exceeds"):
        await m.history(7 * 86400.0)  # the rollup tier now keeps 2 days


async def test_four_managers_cleaning_same_stale_set_remove_each_exactly_once(make_manager, clock):
    # a heartbeat TTL longer than the jump of the clock: every worker stays alive (only the
    # owner's streams go idle), as they would with real time passing and flushes between
    owner = await make_manager(worker_id="owner", WORKER_HEARTBEAT_TTL_SECONDS=5000)
    ids = [(await owner.register()).connection_id for _ in range(300)]
    cleaners = [await make_manager(worker_id=f"cleaner{i}", CLEANUP_BATCH_SIZE=7, WORKER_HEARTBEAT_TTL_SECONDS=5000)
                for i in range(4)]
    clock.advance(1000)
    await owner.flush_touches()  # the owner's heartbeat fresh: it is alive (only its streams are idle)
    for c in cleaners:  # and the cleaners' own
        await c.flush_touches()
    results = await asyncio.gather(*[c.run_cleanup() for c in cleaners])
    assert sum(r.cleaned for r in results) == 300
    s = await cleaners[0].get_detailed_monitoring_stats()
    assert s["connection_stats"]["redis_connection_counters"] == 0
    assert s["cleanup_stats"]["total_connections_cleaned"] == 300
    assert s["cleanup_stats"]["total_cleanups"] == 4
    # the owner learns on its next flush that its streams were removed elsewhere
    await owner.flush_touches()
    assert set(ids).isdisjoint(owner.local_connection_ids())


async def test_dead_worker_is_reaped_and_mismatch_clears(make_manager, clock):
    dead = await make_manager(worker_id="dead", WORKER_HEARTBEAT_TTL_SECONDS=10)
    for _ in range(15):
        await dead.register()
    survivor = await make_manager(worker_id="survivor", WORKER_HEARTBEAT_TTL_SECONDS=10)
    for _ in range(2):
        await survivor.register()
    # the dead worker stops heartbeating (we simply never flush it again); time passes
    clock.advance(11)
    s = await survivor.get_detailed_monitoring_stats()
    assert s["connection_stats"]["active_connections"] == 2
    assert s["connection_stats"]["redis_connection_counters"] == 17
    # dead and not yet reaped: an alert at once (no hold), naming it and what it held
    (alert,) = s["health_indicators"]["alerts"]
    assert alert["type"] == "worker_dead" and "dead" in alert["message"] and "15 connection" in alert["message"]
    assert {w["worker_id"]: w["state"] for w in s["workers"]} == {"dead": "dead", "survivor": "alive"}
    # the survivor's next flush reaps it (not the next cleanup interval)
    await survivor.flush_touches()
    deadline = asyncio.get_running_loop().time() + 10
    while not ((s := await survivor.get_detailed_monitoring_stats())["connection_stats"]["redis_connection_counters"] == 2
               and any(e["type"] == "death" for e in s["recent_events"])):  # the event follows the reap
        assert asyncio.get_running_loop().time() < deadline, s["connection_stats"]
        await asyncio.sleep(0.01)
    assert s["health_indicators"]["alerts"] == []
    assert [w["worker_id"] for w in s["workers"]] == ["survivor"]
    (death,) = [e for e in s["recent_events"] if e["type"] == "death"]
    assert death["count"] == 15 and death["worker_id"] == "dead"
    dead.registry.local.clear()  # it "crashed": nothing of it to unregister at teardown


async def test_periodic_cleanup_task_runs_and_logs(make_manager, clock, caplog):
    caplog.set_level(logging.INFO, logger="sse")
    m = await make_manager(PERIODIC_CLEANUP_ENABLED=True, CLEANUP_INTERVAL_SECONDS=0.05, STALE_CONNECTION_THRESHOLD_SECONDS=300)
    assert m.cleanup_task_running
    await m.register()
    clock.advance(400)
    deadline = asyncio.get_running_loop().time() + 10
    while not any(r.getMessage().startswith("Periodic cleanup cycle: cleaned=1 connections") for r in caplog.records):
        assert asyncio.get_running_loop().time() < deadline, "no periodic cleanup log line"
        await asyncio.sleep(0.01)
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("SSE cleanup completed: cleaned=1,"))
    assert re.fullmatch(
        r"SSE cleanup completed: cleaned=1, failed=0, total_before=1, total_after=0, duration_ms=\d+\.\d\d, "
        r"efficiency=100\.0%, batch_size=10, threshold_seconds=300, stale_connections=1, active_connections=0, "
        r"long_lived_connections=0", line)
    periodic = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("Periodic cleanup cycle"))
    assert re.fullmatch(r"Periodic cleanup cycle: cleaned=1 connections, cycle_duration_ms=\d+\.\d\d, "
                        r"total_cleanups=\d+, total_cleaned=1, error_rate=0\.0%", periodic)
    s = await m.get_detailed_monitoring_stats()
    assert s["connection_stats"]["cleanup_task_running"] is True
    assert s["health_indicators"]["overall_health"] == "healthy"
    await m.stop_periodic_cleanup()
    s = await m.get_detailed_monitoring_stats()
    assert s["connection_stats"]["cleanup_task_running"] is False
    assert [a["type"] for a in s["health_indicators"]["alerts"]] == ["cleanup_not_running"]


async def test_startup_logs_validation(make_manager, caplog):
    caplog.set_level(logging.INFO, logger="sse")
    await make_manager()
    assert "SSE configuration validated successfully: cleanup_interval=60s, batch_size=10, stale_threshold=300s, ping_interval=15s" in caplog.messages
    caplog.clear()
    m = await make_manager(CLEANUP_INTERVAL_SECONDS=5, CLEANUP_BATCH_SIZE=500)
    warn = [r for r in caplog.records if r.getMessage().startswith("SSE configuration validation warnings: ")]
    assert len(warn) == 1 and warn[0].levelno == logging.WARNING
    assert "cleanup interval too short" in warn[0].getMessage() and "batch size too large" in warn[0].getMessage()
    s = await m.get_detailed_monitoring_stats()
    assert len(s["configuration"]["validation_warnings"]) == 2


async def test_age_analysis_in_monitoring(make_manager, clock):
    m = await make_manager()
    for _ in range(3):
        await m.register()
    clock.advance(3601)
    for _ in range(2):
        await m.register()
    clock.advance(6 * 3600)
    fresh = await m.register()
    m.touch(fresh.connection_id)
    s = await m.get_detailed_monitoring_stats()
    c = s["cleanup_stats"]
    assert (c["stale"], c["active"], c["long_lived"], c["very_old"]) == (5, 1, 5, 3)
    assert sum(b["count"] for b in s["age_histogram"]) == 6


async def test_store_losing_everything_between_flushes_resyncs_instead_of_closing(make_manager, store_kind, clock):
    """Regression: a Redis restarted between two flushes (no failed call in between) must
    not make the worker close its live streams as 'removed elsewhere'."""
    m = await make_manager()
    closed: list[str] = []
    recs = [await m.register(on_close=lambda: closed.append("x")) for _ in range(3)]
    await m.flush_touches()
    # simulate total data loss in the store (what a restarted Redis without persistence does)
    if store_kind == "memory":
        m.store.__init__()
    else:
        await m.store.client.flushall()
    for r in recs:
        m.touch(r.connection_id)
    await m.flush_touches()
    assert closed == []
    s = await m.get_detailed_monitoring_stats()
    # re-registered, but until every live worker has (a window for the others to flush),
    # the registry says it is rebuilding instead of calling a partial count current
    assert s["registry"]["state"] == "rebuilding" and s["connection_stats"]["redis_connection_counters"] is None
    clock.advance(m.config.worker_late_seconds + m.config.TOUCH_FLUSH_INTERVAL_SECONDS)
    await m.flush_touches()
    await m.flush_touches()
    s = await m.get_detailed_monitoring_stats()
    assert s["registry"]["state"] == "settled", s["registry"]
    assert s["connection_stats"]["redis_connection_counters"] == 3


async def test_periodic_flush_holds_counts_but_sends_activity(make_manager, clock):
    m = await make_manager()
    r = await m.register()
    clock.advance(100)
    m.touch(r.connection_id, events=1, bytes_sent=10)
    await m.flush_touches(counters=False)
    _p = await m.list_connections("all", 10, 0)
    _, rows = _p.total, _p.connections
    assert rows[0].last_activity == clock() and rows[0].events_sent == 0
    await m.flush_touches()
    _p = await m.list_connections("all", 10, 0)
    _, rows = _p.total, _p.connections
    assert (rows[0].events_sent, rows[0].bytes_sent) == (1, 10)


class Totals:
    """A stream's running totals, as TrackedEventSourceResponse keeps them."""

    def __init__(self) -> None:
        self.events_sent = 0
        self.bytes_sent = 0

    @property
    def progress(self) -> int:
        return self.bytes_sent


async def test_activity_source_is_read_at_each_flush(make_manager, clock):
    m = await make_manager()
    src, quiet = Totals(), Totals()
    r = await m.register(activity=src)
    q = await m.register(activity=quiet)
    start = clock()
    clock.advance(100)
    src.events_sent, src.bytes_sent = 3, 90  # three events, no manager call
    await m.flush_touches(counters=False)
    _p = await m.list_connections("all", 10, 0)
    _, rows = _p.total, _p.connections
    by_id = {x.connection_id: x for x in rows}
    assert by_id[r.connection_id].last_activity == clock()  # active at the flush that saw it
    # this worker serves it: listed with its counts as of now; the store's record waits for a counts flush
    assert (by_id[r.connection_id].events_sent, by_id[r.connection_id].counts_at) == (3, clock())
    stored = await m.store.get_connection(r.connection_id)
    assert stored is not None and stored.events_sent == 0
    assert by_id[q.connection_id].last_activity == start  # sent nothing: not touched
    clock.advance(100)
    src.bytes_sent += 20  # a ping: activity, not an event
    await m.flush_touches()
    await m.flush_touches()  # nothing new: counted once
    _p = await m.list_connections("all", 10, 0)
    _, rows = _p.total, _p.connections
    got = {x.connection_id: x for x in rows}[r.connection_id]
    assert (got.last_activity, got.events_sent, got.bytes_sent) == (clock(), 3, 110)


async def test_activity_counts_survive_a_failed_flush(outage_redis):
    server, m = outage_redis
    src = Totals()
    r = await m.register(activity=src)
    src.events_sent, src.bytes_sent = 5, 50
    server.stop()
    await m.flush_touches()  # fails: the totals read from the stream stay with the manager
    assert not m.store_ok and m.store_status.state == "unreachable"
    src.events_sent, src.bytes_sent = 6, 60
    server.start()  # same port, empty data: the flush re-registers, then counts
    await m.flush_touches()
    _p = await m.list_connections("all", 10, 0)
    _, rows = _p.total, _p.connections
    assert [(x.connection_id, x.events_sent, x.bytes_sent) for x in rows] == [(r.connection_id, 6, 60)]


async def test_stop_unregisters_everything_the_worker_holds(make_manager, store_kind):
    m = await make_manager(worker_id="leaving")
    other = await make_manager(worker_id="staying")
    for _ in range(2500):  # more than one reap batch
        await m.register()
    await other.register()
    await m.stop()
    s = await other.get_detailed_monitoring_stats()
    assert s["connection_stats"]["redis_connection_counters"] == 1
    assert [w["worker_id"] for w in s["workers"]] == ["staying"]


async def test_progress_not_bytes_decides_activity(make_manager, clock):
    """A stream whose bytes were queued but not taken by the client (progress unchanged)
    is not active; the flush hook runs before progress is read."""
    m = await make_manager(ACTIVITY_RESOLUTION_SECONDS=0)
    frozen = {"on": True}

    class Frozen(Totals):
        @property
        def progress(self) -> int:
            return 0 if frozen["on"] else self.bytes_sent

    fz = Frozen()
    calls = []
    m.add_flush_hook(lambda: calls.append(1))
    await m.register(activity=fz)
    t0 = clock()
    clock.advance(5)
    fz.events_sent, fz.bytes_sent = 4, 400  # handed to the server, never taken
    await m.flush_touches()
    assert calls == [1]
    got = (await m.list_connections("all")).connections[0]
    assert got.last_activity == t0 and (got.events_sent, got.bytes_sent) == (4, 400)
    frozen["on"] = False
    clock.advance(1)
    await m.flush_touches()
    got = (await m.list_connections("all")).connections[0]
    assert got.last_activity == clock()


async def test_activity_is_rewritten_only_past_the_declared_resolution(make_manager, clock):
    """A stream sending every second rewrites its stored activity once per resolution, the
    stored idle time never lags more than resolution + one flush, and cleanup never takes
    it for stale."""
    m = await make_manager(STALE_CONNECTION_THRESHOLD_SECONDS=60, ACTIVITY_RESOLUTION_SECONDS=6,
                           TOUCH_FLUSH_INTERVAL_SECONDS=1)
    assert m.activity_resolution == 6
    src = Totals()
    await m.register(activity=src)
    stored_times = set()
    for _ in range(120):  # two minutes of a stream that sends every second
        clock.advance(1)
        src.events_sent += 1
        src.bytes_sent += 10
        await m.flush_touches(counters=False)
        rec = (await m.list_connections("all")).connections[0]
        stored_times.add(rec.last_activity)
        assert clock() - rec.last_activity <= 6 + 1
        assert await m.cleanup_stale_connections() == 0
    assert 120 / 7 <= len(stored_times) <= 120 / 6 + 1  # about one write per resolution, not one per second
    page = await m.list_connections("all")
    assert page.activity_resolution_seconds == 6
    assert (await m.monitoring_snapshot()).configuration.activity_resolution_seconds == 6


def test_activity_resolution_defaults_to_a_tenth_of_the_threshold_and_is_bounded():
    from core.config import ConfigError, load_config
    from core.manager import ConnectionManager
    from core.store.memory import MemoryStore
    m = ConnectionManager(MemoryStore(), load_config(STALE_CONNECTION_THRESHOLD_SECONDS=300))
    assert m.activity_resolution == 30
    with pytest.raises(ConfigError, match="SSE_ACTIVITY_RESOLUTION_SECONDS"):
        load_config(STALE_CONNECTION_THRESHOLD_SECONDS=60, ACTIVITY_RESOLUTION_SECONDS=30)


async def test_per_connection_counts_go_out_once_per_counts_interval(make_manager, clock):
    """Events/bytes are written at a cadence that follows the registry's size: every flush
    for a small fleet, stretched only as far as COUNTS_WRITES_PER_SECOND needs (never past
    the stale threshold); published beside the activity resolution, and every record says
    when its counts were taken."""
    m = await make_manager(STALE_CONNECTION_THRESHOLD_SECONDS=300, TOUCH_FLUSH_INTERVAL_SECONDS=1.0,
                           COUNTS_WRITES_PER_SECOND=10)
    r = await m.register()
    await m.flush_touches(counters=False)
    assert m.counts_interval == 1.0  # one connection: every flush
    m.touch(r.connection_id, events=3, bytes_sent=300)
    assert m.counts_due()
    await m.flush_touches(counters=m.counts_due())
    stored = await m.store.get_connection(r.connection_id)
    assert stored is not None and (stored.events_sent, stored.counts_at) == (3, clock())
    for _ in range(49):
        await m.register()
    await m.flush_touches(counters=False)
    assert m.counts_interval == 5.0  # 50 registered at 10 writes a second
    m.touch(r.connection_id, events=2, bytes_sent=200)
    clock.advance(4)
    assert not m.counts_due()
    await m.flush_touches(counters=m.counts_due())
    stored = await m.store.get_connection(r.connection_id)
    assert stored is not None and stored.events_sent == 3 and stored.counts_at == clock() - 4  # held back: says when
    clock.advance(1)
    assert m.counts_due()
    await m.flush_touches(counters=m.counts_due())
    stored = await m.store.get_connection(r.connection_id)
    assert stored is not None and (stored.events_sent, stored.counts_at) == (5, clock())
    snap = await m.get_detailed_monitoring_stats()
    assert snap["configuration"]["counts_interval_seconds"] == 5.0


def test_the_counts_cadence_stretches_with_the_registry_and_stops_at_the_stale_threshold():
    from core.registry import counts_interval
    cfg = load_config(STALE_CONNECTION_THRESHOLD_SECONDS=300, TOUCH_FLUSH_INTERVAL_SECONDS=1.0)
    assert counts_interval(cfg, 0) == counts_interval(cfg, 10_000) == 1.0  # budget 10,000 writes a second
    assert counts_interval(cfg, 250_000) == 25.0
    assert counts_interval(cfg, 3_000_000) == counts_interval(cfg, 10**9) == 300.0
    fast = load_config(STALE_CONNECTION_THRESHOLD_SECONDS=3, TOUCH_FLUSH_INTERVAL_SECONDS=0.2)
    assert counts_interval(fast, 1) == 0.2


async def test_stopping_a_loop_whose_task_lost_the_cancel_still_ends_it():
    """Regression: on Python 3.11 asyncio.wait_for (redis-py's socket calls) loses a cancel
    that arrives as the awaited call completes; the task ran on and stop() waited for ever."""
    from core.loops import BackgroundLoop

    swallowed = asyncio.Event()

    async def body() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            swallowed.set()  # what the lost cancel looks like from outside: it just goes on
        await asyncio.Event().wait()

    loop = BackgroundLoop("stubborn", body)
    loop.start()
    await asyncio.sleep(0)
    await asyncio.wait_for(loop.stop(), 10)
    assert swallowed.is_set() and not loop.running()


async def test_a_start_cut_short_after_the_store_answered_is_no_outage(redis_url, namespace, clock, caplog):
    """On a busy machine start()'s bound (0.5 s) can run out after the first flush landed,
    while the fleet watch after it still reads: the store answered, so it is up and nothing
    needs a resync (it was called "did not answer at start": the registry resynced, a
    cleanup then was skipped, and the store's recovery put a false outage in the history)."""
    m = ConnectionManager(RedisStore(redis_url, namespace), load_config(PERIODIC_CLEANUP_ENABLED=False), clock=clock)
    after_flush = m.registry.on_flushed
    busy = asyncio.Event()  # never set: the watch's reads outlast the bound

    async def slow_watch(res) -> None:
        await busy.wait()

    m.registry.on_flushed = slow_watch
    try:
        await m.start()
        m.registry.on_flushed = after_flush
        assert m.store_status.state == "up" and not m.registry.resyncing
        assert not any("unavailable" in r.getMessage() for r in caplog.records)
        assert (await m.run_cleanup()).skipped is None
    finally:
        m.registry.on_flushed = after_flush
        await m.stop()


async def test_a_stream_the_fleet_removed_counts_its_client_back_as_a_reconnect(make_manager):
    """The reconnect meter hears of a stream removed by the fleet (here an operator's
    disconnect) through the registry's removal hook, not a closure kept per stream: the
    same client connecting again is a reconnect; its stream was closed by its on_removed."""
    m = await make_manager()
    closed: list[str] = []

    class Stream:
        events_sent: int | None = None
        bytes_sent = 0
        progress = 0

        def on_removed(self) -> None:
            closed.append("closed")

    rec = await m.register(channel="c", client_address="198.51.100.7:5000", user_agent="ua", activity=Stream())
    assert await m.connects.send() == 0  # a first connect
    result = await m.disconnect(rec.connection_id)
    assert result.removed and result.closed_locally
    assert closed == ["closed"]
    await m.register(channel="c", client_address="198.51.100.7:5001", user_agent="ua")  # another port: same client
    assert await m.connects.send() == 1


async def test_a_stream_whose_removal_is_queued_is_no_phantom_to_a_sync(make_manager, caplog):
    """A mass disconnect: streams end while a sync runs (their removals queued, not sent yet).
    They are not phantoms (the queued removals take them): no warning, none counted; a
    record the worker really does not hold still is one."""
    m = await make_manager(worker_id="w-sync", writer=True)
    recs = [await m.register(channel="c") for _ in range(5)]
    await m.flush_touches()
    caplog.set_level(logging.WARNING, logger="sse")
    # the ends first (each queues its removal and wakes the writer), the sync before the writer runs
    await asyncio.gather(*(m.unregister(r.connection_id) for r in recs[:3]), m.registry.resync())
    assert m.registry.last_sync == (0, 0)
    assert not [r for r in caplog.records if "phantom" in r.getMessage()]
    page = await m.list_connections("all", 10, 0)
    assert sorted(r.connection_id for r in page.connections) == sorted(r.connection_id for r in recs[3:])
    # a true phantom: in the store under this worker, held by nobody
    ghost = recs[3].model_copy(update={"connection_id": "ghost-1"})
    await m.store.register_many([ghost])
    await m.registry.resync()
    assert m.registry.last_sync == (1, 0)
    assert "ghost-1" not in {r.connection_id for r in (await m.list_connections("all", 10, 0)).connections}


async def test_the_history_keeps_no_connect_rate_for_an_interval_the_fleet_had_not_counted_whole(make_manager, clock):
    """A fleet sample taken before the fleet counted a whole history interval (plus one flush,
    for counts still on their way) stores no connect rate: the history reads None there,
    unknown, never the 0 of an interval nobody counted; the first whole interval stores one."""
    m = await make_manager(worker_id="w-hist", HISTORY_INTERVAL_SECONDS=10.0, TOUCH_FLUSH_INTERVAL_SECONDS=1.0)
    started = clock()
    clock.advance(10.5)  # a whole interval, but not the flush after it
    assert await m.recorder.record() is True
    assert await m.store.history_connects(started - 60, clock() + 60) == []
    clock.advance(10.0)
    assert await m.recorder.record() is True
    rates = await m.store.history_connects(started - 60, clock() + 60)
    assert [(t, c, r) for t, c, r in rates] == [(clock(), 0.0, 0.0)]  # counted whole: a true 0


async def test_the_rollup_tier_keeps_each_steps_highest_connect_rate(make_manager, clock):
    """The history's long views (the rollup tier, e.g. 7 days) show connects per second too:
    each rollup step the highest rate the fleet recorded in it, not unknown."""
    m = await make_manager(worker_id="w-roll", HISTORY_INTERVAL_SECONDS=10.0, TOUCH_FLUSH_INTERVAL_SECONDS=1.0,
                           HISTORY_ROLLUP_SECONDS=300.0)
    clock.advance(20.5)  # the fleet has counted whole intervals from here on
    for _ in range(30):
        await m.register()
    await m.connects.send()  # (what the flush hook sends in a task of its own)
    clock.advance(11.0)
    assert await m.recorder.record() is True
    clock.advance(10.0)  # a quieter interval in the same step: the step keeps the highest
    assert await m.recorder.record() is True
    raw = await m.store.history_connects(0, clock() + 60)
    assert len(raw) == 2 and raw[0][1] > 0 and raw[1][1] < raw[0][1], raw
    step = math.floor(clock() / 300.0) * 300.0
    assert math.floor(raw[0][0] / 300.0) * 300.0 == step  # both samples in one step: its point is their highest
    assert await m.store.history_connects(0, clock() + 60, rollup=True) == [(step, raw[0][1], 0.0)]
    series = await m.recorder.history(3 * 86400.0)  # beyond the raw tier's day: the rollup tier answers
    assert series.step >= 300.0
    shown = [v for v in series.max["connects"] if v is not None]
    assert shown and max(shown) == raw[0][1]
