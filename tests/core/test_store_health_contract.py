"""The store's own health, on every store kind: the registry's epoch, the fleet's hysteresis
clock, grouped events and history marks, dead-worker marks, counters reseeded after a loss,
and when each worker's per-connection counts were taken."""

from __future__ import annotations

import dataclasses

import pytest

from core.models import CleanupCounters, FleetEvent, Touch, WorkerHeartbeat
from tests.core.test_store_contract import T0, q, rec


def hb(wid: str = "w1", at: float = T0, **kw) -> WorkerHeartbeat:
    return WorkerHeartbeat(worker_id=wid, host="h", pid=1, connections=0, heartbeat_at=at, started_at=T0, **kw)


async def test_the_first_flush_creates_the_epoch_and_a_known_one_is_kept(store):
    first = await store.flush({}, hb(), 15)
    assert first.epoch is not None and first.epoch.id and not first.lost
    again = await store.flush({}, hb(epoch=first.epoch.id), 15)
    assert again.epoch is not None and again.epoch.id == first.epoch.id and not again.lost
    read = await store.fleet_read(q(T0))
    assert read.epoch is not None and read.epoch.id == first.epoch.id and read.epoch.rebuild_since is None


async def test_a_worker_that_knew_another_epoch_learns_the_store_lost_its_data(store):
    await store.flush({}, hb(), 15)
    res = await store.flush({}, hb("w2", epoch="an-epoch-this-store-never-had"), 15)
    assert res.lost
    assert res.epoch is not None and res.epoch.rebuild_since is not None


async def test_the_flush_lists_every_worker_and_says_settings_are_missing(store):
    r1 = await store.flush({}, hb("w1", T0), 15)
    assert r1.config_published is False
    await store.publish_config({"X": "1"})
    r2 = await store.flush({}, hb("w2", T0 + 1), 15)
    assert r2.config_published is True
    assert dict(r2.peers) == {"w1": T0, "w2": T0 + 1}


async def test_a_settle_mark_lasts_until_marked_settled(store):
    await store.flush({}, hb(), 15)
    res = await store.flush({}, hb(), 15, settle=True)
    assert res.epoch is not None and res.epoch.settle_since is not None
    assert not await store.mark_settled(res.epoch.settle_since - 10)  # an older mark is not this one
    assert await store.mark_settled(res.epoch.settle_since)
    read = await store.fleet_read(q(T0))
    assert read.epoch is not None and read.epoch.settle_since is None


async def test_hold_conditions_keeps_the_first_time_until_cleared(store):
    assert await store.hold_conditions(T0, ["connection_mismatch"], []) == {"connection_mismatch": T0}
    assert await store.hold_conditions(T0 + 5, ["connection_mismatch", "worker_dead"], []) == {
        "connection_mismatch": T0, "worker_dead": T0 + 5}
    assert await store.hold_conditions(T0 + 6, ["worker_dead"], ["connection_mismatch"]) == {"worker_dead": T0 + 5}
    assert await store.hold_conditions(T0 + 7, ["connection_mismatch"], []) == {"connection_mismatch": T0 + 7}


async def test_routine_cleanups_in_a_row_are_one_event_and_notable_ones_stay(store):
    reap = FleetEvent(at=T0, type="reap", message="reaped dead worker w9", count=5, worker_id="w9")
    await store.add_event(reap)
    for i in range(30):
        await store.add_event(FleetEvent(at=T0 + 10 + i, type="cleanup", message="cleanup removed 2", count=2),
                              group=True)
    read = await store.fleet_read(q(T0 + 100))
    assert [e.type for e in read.events] == ["cleanup", "reap"]
    group = read.events[0]
    assert (group.count, group.runs, group.first_at, group.at) == (60, 30, T0 + 10, T0 + 39)
    marks = await store.history_marks(T0 - 1, T0 + 100)
    assert [(m.type, m.count) for m in marks] == [("reap", 5), ("cleanup", 60)]
    assert await store.history_marks(T0 + 50, T0 + 100) == []
    assert [m.type for m in await store.history_marks(T0 + 20, T0 + 25)] == ["cleanup"]  # a group spans its runs


async def test_marks_older_than_the_kept_time_go(store):
    await store.add_event(FleetEvent(at=T0, type="disconnect", message="d", count=1))
    await store.add_event(FleetEvent(at=T0 + 100, type="death", message="worker died", count=3), marks_since=T0 + 50)
    assert [m.type for m in await store.history_marks(T0 - 1000, T0 + 1000)] == ["death"]


async def test_a_dead_mark_is_on_the_workers_heartbeat(store):
    await store.flush({}, hb("w1"), 15)
    assert await store.mark_dead("w1", "process 1 gone (seen by w2)", 15)
    assert not await store.mark_dead("nobody", "gone", 15)
    (w,) = await store.workers()
    assert w.dead_reason == "process 1 gone (seen by w2)"


async def test_reseeding_raises_counters_and_never_lowers_them(store):
    await store.record_cleanup(3, 0, 12.0, False, T0)
    before = await store.cleanup_counters()
    await store.reseed_counters(CleanupCounters(total_cleanups=50, total_connections_cleaned=1, cleanup_errors=4,
                                                failed_connections=2, total_duration_ms=500.0,
                                                duration_buckets={0.025: 40}))
    c = await store.cleanup_counters()
    assert (c.total_cleanups, c.total_connections_cleaned, c.cleanup_errors, c.failed_connections) == (50, 3, 4, 2)
    assert c.total_duration_ms == 500.0
    assert c.duration_buckets[0.025] == 40 and sum(c.duration_buckets.values()) >= sum(before.duration_buckets.values())


async def test_records_say_when_their_counts_were_taken(store):
    await store.register_many([rec("a", worker="w1"), rec("b", worker="w1")])
    (r,) = (await store.list_connections("all", q(T0 + 1), 1, 0, query="a")).records
    assert r.counts_at is None  # no counts written by its worker yet: as of when is unknown
    await store.flush({"a": Touch(T0 + 5, 3, 300)}, hb("w1", T0 + 5, counts_at=T0 + 5), 15)
    rows = {r.connection_id: r for r in (await store.list_connections("all", q(T0 + 6), 10, 0)).records}
    assert (rows["a"].events_sent, rows["a"].counts_at) == (3, T0 + 5)
    assert (rows["b"].events_sent, rows["b"].counts_at) == (0, T0 + 5)  # unchanged since: still exact as of then
    got = await store.get_connection("a")
    assert got is not None and got.counts_at == T0 + 5


@pytest.mark.parametrize("kind", ["redis", "redis-sharded"])
async def test_a_lost_worker_code_entry_is_put_back_by_the_next_flush(kind, request, namespace):
    from tests.core.conftest import redis_store
    store = redis_store(kind, request, namespace)
    await store.start()
    try:
        await store.register_many([rec(f"c{i}", worker="w1") for i in range(20)])
        first = await store.flush({}, hb("w1"), 15)
        assert first.held == 20
        client = store.client
        keys = [k.worker_codes for k in getattr(store, "shard_keys", None) or [store.keys]] \
            if not hasattr(store, "shards") else [s.keys.worker_codes for s in store.shards]
        for key in keys:
            await client.delete(key)
        assert {w.worker_id: w.connections for w in await store.workers()} == {"w1": 0}
        again = await store.flush({}, hb("w1"), 15)
        assert again.held == 20
        assert {w.worker_id: w.connections for w in await store.workers()} == {"w1": 20}
    finally:
        await store.close()


async def test_diagnose_names_a_key_of_the_wrong_type(redis_url, namespace):
    from core.store.redis import RedisStore
    store = RedisStore(redis_url, namespace)
    await store.start()
    try:
        assert await store.diagnose() == []
        await store.client.set(store.keys.events, "not a list")
        await store.client.lpush(store.keys.cleanup, "not a hash")
        assert sorted(await store.diagnose()) == sorted([
            f"{store.keys.events} is a string, expected a list", f"{store.keys.cleanup} is a list, expected a hash"])
    finally:
        await store.close()


def test_heartbeat_fields_round_trip_as_dataclass():
    h = hb(epoch="e", synced_at=T0, hostkey="k", counts_at=T0)
    assert dataclasses.replace(h, dead_reason="x").dead_reason == "x"
