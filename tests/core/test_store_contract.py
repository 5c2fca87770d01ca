"""One contract suite, run against the memory store and a real redis-server."""

from __future__ import annotations

import asyncio

import pytest

from core.models import ConnectionRecord, Touch, WorkerHeartbeat
from core.store.base import AgeQuery, StateStore

T0 = 1_700_000_000.0


def rec(cid: str, *, worker: str = "w1", connected: float = T0, activity: float | None = None, channel: str = "c") -> ConnectionRecord:
    return ConnectionRecord(connection_id=cid, worker_id=worker, host="h", pid=1, channel=channel,
                            client_address="127.0.0.1:5", user_agent="ua", connected_at=connected,
                            last_activity=connected if activity is None else activity)


def q(now: float, stale: float = 300, edges: tuple[float, ...] = ()) -> AgeQuery:
    return AgeQuery(now=now, stale_threshold=stale, long_lived=3600, very_old=21600, edges=edges)


async def test_store_satisfies_protocol(store):
    assert isinstance(store, StateStore)


async def test_register_counts_once_and_unregister_once(store):
    assert await store.register(rec("a")) is True
    assert await store.register(rec("a")) is False  # same id again: replaced, not counted twice
    census = await store.census(q(T0))
    assert (census.ages.total, census.counter) == (1, 1)
    assert await store.unregister("a") is True
    assert await store.unregister("a") is False
    census = await store.census(q(T0))
    assert (census.ages.total, census.counter) == (0, 0)


async def test_unregister_unknown_never_makes_counter_negative(store):
    for _ in range(3):
        assert await store.unregister("ghost") is False
    assert (await store.census(q(T0))).counter == 0


async def test_age_classes_at_their_boundaries(store):
    now = T0 + 30_000
    await store.register_many([
        rec("fresh", connected=now - 10, activity=now - 10),
        rec("at_stale_edge", connected=now - 300, activity=now - 300),       # idle exactly 300 s: not stale
        rec("stale", connected=now - 301, activity=now - 301),
        rec("long", connected=now - 3601, activity=now - 1),
        rec("at_hour", connected=now - 3600, activity=now - 1),                # exactly 1 h: not long-lived
        rec("very_old", connected=now - 21601, activity=now - 1),
    ])
    census = await store.census(q(now))
    assert census.ages.total == 6
    assert census.ages.stale == 1
    assert census.ages.active == 5
    assert census.ages.long_lived == 2  # long, very_old
    assert census.ages.very_old == 1


async def test_age_histogram_counts_per_edge(store):
    now = T0 + 100_000
    ages = [5, 59, 61, 299, 301, 4000, 30000, 90000]
    await store.register_many([rec(f"c{i}", connected=now - a, activity=now) for i, a in enumerate(ages)])
    census = await store.census(q(now, edges=(0, 60, 300, 3600, 86400)))
    assert census.older_than == [8, 6, 4, 3, 1]


async def test_touch_updates_activity_and_counters_and_reports_unknown(store):
    await store.register(rec("a", connected=T0, activity=T0))
    missing = await store.touch_many({"a": Touch(at=T0 + 400, events=3, bytes=120), "gone": Touch(at=T0 + 400, events=1)})
    assert missing == ["gone"]  # unknown ids are reported for touches that carry counts
    assert (await store.census(q(T0 + 500))).ages.stale == 0  # touched at +400, idle 100 s
    _p = await store.list_connections("all", q(T0 + 500), 10, 0)
    total, rows = _p.total, _p.records
    assert total == 1
    assert (rows[0].last_activity, rows[0].events_sent, rows[0].bytes_sent) == (T0 + 400, 3, 120)
    # an older touch arriving late never moves activity backwards
    await store.touch_many({"a": Touch(at=T0 + 100, events=1)})
    _p = await store.list_connections("all", q(T0 + 500), 10, 0)
    _, rows = _p.total, _p.records
    assert rows[0].last_activity == T0 + 400 and rows[0].events_sent == 4


async def test_touch_many_mixes_shared_time_groups_and_counted_touches(store):
    # a flush of stream totals sends many activity-only touches at one time (one group on
    # the wire, chunked past 400 ids), plus touches with their own time or with counts
    ids = [f"g{i:04d}" for i in range(900)]
    await store.register_many([rec(c, connected=T0, activity=T0) for c in ids + ["own", "counted"]])
    touches = {c: Touch(at=T0 + 50) for c in ids}
    touches["unknown-in-group"] = Touch(at=T0 + 50)
    touches["own"] = Touch(at=T0 + 70)
    touches["counted"] = Touch(at=T0 + 60, events=2, bytes=30)
    touches["unknown-counted"] = Touch(at=T0 + 60, events=1, bytes=1)
    # activity-only touches of unknown ids are dropped (ZADD XX), only counted ones are reported
    assert sorted(await store.touch_many(touches)) == ["unknown-counted"]
    _p = await store.list_connections("all", q(T0 + 100), 1000, 0)
    total, rows = _p.total, _p.records
    by_id = {r.connection_id: r for r in rows}
    assert total == 902
    assert {by_id[c].last_activity for c in ids} == {T0 + 50}
    assert by_id["own"].last_activity == T0 + 70 and by_id["own"].events_sent == 0
    assert (by_id["counted"].last_activity, by_id["counted"].events_sent, by_id["counted"].bytes_sent) == (T0 + 60, 2, 30)


async def test_touch_does_not_resurrect_removed_connection(store):
    await store.register(rec("a"))
    await store.unregister("a")
    assert await store.touch_many({"a": Touch(at=T0 + 5)}) == []
    assert await store.touch_many({"a": Touch(at=T0 + 6, events=2, bytes=9)}) == ["a"]
    assert (await store.census(q(T0))).ages.total == 0
    assert (await store.list_connections("all", q(T0), 10, 0)).records == []


async def test_remove_stale_in_batches_oldest_first(store):
    await store.register_many([rec(f"s{i:02d}", activity=T0 + i, worker="w1" if i % 2 else "w2") for i in range(25)]
                              + [rec("live", activity=T0 + 1000)])
    count, mine = await store.remove_stale(cutoff=T0 + 500, limit=10, worker_id="w1")
    assert count == 10
    assert mine == [f"s{i:02d}" for i in range(1, 10, 2)]  # oldest first, only w1's are returned
    assert await store.missing([f"s{i:02d}" for i in range(11)]) == [f"s{i:02d}" for i in range(10)]
    second = await store.remove_stale(cutoff=T0 + 500, limit=10, worker_id="w2")
    third = await store.remove_stale(cutoff=T0 + 500, limit=10)
    assert second[0] == 10 and third == (5, [])
    assert await store.remove_stale(cutoff=T0 + 500, limit=10) == (0, [])
    census = await store.census(q(T0 + 500))
    assert (census.ages.total, census.counter) == (1, 1)
    assert await store.missing(["live", "s00"]) == ["s00"]


async def test_concurrent_removals_count_each_connection_once(store):
    await store.register_many([rec(f"c{i}", activity=T0) for i in range(200)])
    results = await asyncio.gather(*[store.remove_stale(T0 + 1, 7, "w1") for _ in range(40)],
                                   *[store.unregister(f"c{i}") for i in range(0, 200, 3)])
    removed = [cid for _, r in results[:40] for cid in r] + [f"c{i}" for i, ok in zip(range(0, 200, 3), results[40:], strict=False) if ok]
    assert len(removed) == len(set(removed))
    assert sum(n for n, _ in results[:40]) + sum(1 for ok in results[40:] if ok) == len(removed)
    left = await store.census(q(T0))
    assert left.ages.total + len(removed) == 200
    assert left.counter == left.ages.total


async def test_list_connections_pages_each_state_oldest_first(store):
    now = T0 + 50_000
    await store.register_many([rec(f"st{i}", connected=now - 1000 - i, activity=now - 400 - i) for i in range(5)]
                              + [rec(f"ac{i}", connected=now - 100 - i, activity=now - i) for i in range(3)]
                              + [rec("old", connected=now - 22000, activity=now)])
    _p = await store.list_connections("stale", q(now), 2, 0)
    total, page = _p.total, _p.records
    assert total == 5 and [r.connection_id for r in page] == ["st4", "st3"]
    _p = await store.list_connections("stale", q(now), 2, 4)
    total, page = _p.total, _p.records
    assert [r.connection_id for r in page] == ["st0"]
    _p = await store.list_connections("active", q(now), 10, 0)
    total, page = _p.total, _p.records
    assert total == 4 and page[0].connection_id == "ac2"
    _p = await store.list_connections("very_old", q(now), 10, 0)
    total, page = _p.total, _p.records
    assert total == 1 and page[0].connection_id == "old"
    _p = await store.list_connections("all", q(now), 3, 0)
    total, page = _p.total, _p.records
    assert total == 9 and page[0].connection_id == "old"
    with pytest.raises(ValueError):
        await store.list_connections("bogus", q(now), 3, 0)


async def test_events_not_counted_stay_unknown_through_counts_and_sort_last(store):
    """A stream whose worker does not count events (SSE_COUNT_EVENTS off) is stored with
    events_sent null: bytes added by later flushes never turn it into a number, it reads
    back null with its reason (unknown, never 0), and an events sort puts it after every count."""
    from core.models import EVENTS_NOT_COUNTED
    uncounted = rec("u").model_copy(update={"events_sent": None})
    await store.register_many([uncounted, rec("zero"), rec("two")])
    await store.touch_many({"u": Touch(at=T0 + 10, events=0, bytes=500), "two": Touch(at=T0 + 10, events=2, bytes=9)})
    page = await store.list_connections("all", q(T0 + 20), 10, 0, sort="events", order="desc")
    by_id = {r.connection_id: r for r in page.records}
    assert (by_id["u"].events_sent, by_id["u"].bytes_sent, by_id["u"].last_activity) == (None, 500, T0 + 10)
    assert by_id["u"].events_sent_reason == EVENTS_NOT_COUNTED and by_id["zero"].events_sent_reason is None
    assert (by_id["zero"].events_sent, by_id["two"].events_sent) == (0, 2)
    assert [r.connection_id for r in page.records] == ["two", "zero", "u"]
    dumped = by_id["u"].model_dump(mode="json")
    assert dumped["events_sent"] is None and dumped["events_sent_reason"] == EVENTS_NOT_COUNTED


async def test_record_fields_round_trip(store):
    r = rec("x", channel="prices")
    await store.register(r)
    _p = await store.list_connections("all", q(T0), 10, 0)
    _, rows = _p.total, _p.records
    assert rows == [r]


async def test_reap_dead_worker_removes_only_its_connections(store):
    await store.register_many([rec(f"d{i}", worker="dead") for i in range(23)] + [rec(f"l{i}", worker="live") for i in range(4)])
    removed_all = 0
    while True:
        removed, left = await store.reap_worker("dead", 10)
        removed_all += removed
        if left == 0:
            break
    assert removed_all == 23
    assert await store.missing([f"d{i}" for i in range(23)] + ["l0"]) == [f"d{i}" for i in range(23)]
    census = await store.census(q(T0))
    assert (census.ages.total, census.counter) == (4, 4)


async def test_reconcile_counter_from_ground_truth(store):
    await store.register_many([rec(f"c{i}") for i in range(5)])
    assert await store.reconcile_counter() == (5, 5)


async def test_cleanup_counters_accumulate(store):
    await store.record_cleanup(cleaned=5, failed=1, duration_ms=12.5, error=False)
    await store.record_cleanup(cleaned=0, failed=0, duration_ms=3.0, error=True)
    c = await store.cleanup_counters()
    assert (c.total_cleanups, c.total_connections_cleaned, c.failed_connections, c.cleanup_errors) == (2, 5, 1, 1)
    assert c.last_cleanup_duration_ms == 3.0 and c.total_duration_ms == pytest.approx(15.5)
    assert c.consecutive_errors == 1
    assert sum(c.duration_buckets.values()) == 2 and c.duration_buckets[0.005] == 1 and c.duration_buckets[0.025] == 1


async def test_heartbeats_and_forget(store):
    await store.register_many([rec(f"c{i}", worker="w1") for i in range(3)])
    # the heartbeat claims 7, the registry holds 3: workers() reports what the registry holds
    await store.heartbeat(WorkerHeartbeat("w1", "h", 1, 7, T0, T0 - 5, True), ttl=30)
    await store.heartbeat(WorkerHeartbeat("w2", "h", 2, 0, T0 + 1, T0, False), ttl=30)
    workers = await store.workers()
    assert [(w.worker_id, w.connections, w.cleanup_running) for w in workers] == [("w1", 3, True), ("w2", 0, False)]
    await store.forget_worker("w1")
    assert [w.worker_id for w in await store.workers()] == ["w2"]


async def test_redis_record_layout_stays_consistent_and_compact(redis_url, namespace):
    """The packed, bucketed records (core/keys.py, _prelude.lua) through a whole life:
    registrations that split buckets, counted touches, re-registration by another worker,
    stale removal, reaping, sync and forgetting. At each step the registry agrees with
    itself (every sorted-set member has a record naming a known worker; ``held`` per worker
    and ``rec:meta`` n match the records), every bucket stays listpack-encoded, and every key
    in the namespace is one that core/keys.py names."""
    import re

    import redis.asyncio as aioredis

    from core.keys import Keys
    from core.store.redis import RedisStore

    k = Keys(namespace)
    store = RedisStore(redis_url, namespace)
    await store.start()
    r = aioredis.Redis.from_url(redis_url, decode_responses=True)
    names = [k.activity, k.connected, k.counter, k.record_meta, k.user_agents, k.user_agent_index,
             k.user_agent_seq, k.worker_codes, k.worker_info, k.worker_seq, k.held, k.workers,
             k.cleanup, k.cleanup_runs, k.events]
    patterns = [re.escape(k.record_bucket(0))[:-1] + r"\d+", re.escape(k.worker_list("")) + r"[0-9a-z]+",
                re.escape(k.worker("")) + ".+", re.escape(k.reaping("")) + ".+"]

    async def check() -> dict[str, int]:
        keys = [x async for x in r.scan_iter(match=k.prefix + "*")]
        stray = [x for x in keys if x not in names and not any(re.fullmatch(p, x) for p in patterns)]
        assert not stray, stray
        buckets = [x for x in keys if re.fullmatch(patterns[0], x)]
        records: dict[str, str] = {}
        for b in buckets:
            assert await r.object("encoding", b) == "listpack", b
            records.update(await r.hgetall(b))
        ids = set(await r.zrange(k.activity, 0, -1))
        assert ids == set(await r.zrange(k.connected, 0, -1)) == set(records)
        assert int(await r.hget(k.record_meta, "n") or 0) == len(records)
        info = await r.hgetall(k.worker_info)
        held: dict[str, int] = {}
        for v in records.values():
            code = v.split("\x1f", 1)[0]
            assert code in info
            held[code] = held.get(code, 0) + 1
        assert {c: int(n) for c, n in (await r.hgetall(k.held)).items() if int(n)} == held
        assert int(await r.get(k.counter) or 0) == len(ids)
        return held

    try:
        a = [rec(f"a{i:04d}", worker="wa", connected=T0 + i, activity=T0 + i) for i in range(300)]
        b = [rec(f"b{i:04d}", worker="wb", connected=T0 + i, activity=T0 + 2000) for i in range(200)]
        assert await store.register_many(a + b) == 500
        assert len(await r.keys(k.prefix + "rec:[0-9]*")) > 5  # the buckets split as they filled
        assert sorted((await check()).values()) == [200, 300]
        await store.touch_many({"a0001": Touch(at=T0 + 3000, events=5, bytes=640)})
        got = await store.get_connection("a0001")
        assert got is not None and (got.events_sent, got.bytes_sent, got.worker_id, got.host) == (5, 640, "wa", "h")
        assert await store.register(rec("a0002", worker="wb", activity=T0 + 2000)) is False  # moved to wb
        assert sorted((await check()).values()) == [201, 299]
        removed, mine = await store.remove_stale(T0 + 100, 1000, "wa")
        assert removed == 98 and len(mine) == 98  # a0000..a0099 but a0001 (touched) and a0002 (re-registered)
        await check()
        assert await store.reap_worker("wa", 10_000, "reaper") == (201, 0)
        assert await store.sync_worker("wb", [f"b{i:04d}" for i in range(150)] + ["new"]) == (51, ["new"])
        assert sorted((await check()).values()) == [150]
        assert await store.forget_worker("wa") is False  # never heartbeated: nothing to forget there
        assert await r.hget(k.worker_codes, "wa") is None  # but its code went with its last record
        assert await store.unregister_many([f"b{i:04d}" for i in range(150)]) == 150
        assert await check() == {}
    finally:
        await r.aclose()
        await store.close()


async def test_redis_big_flushes_go_in_short_calls_and_sync_repairs_held(redis_url, namespace, monkeypatch):
    """A worker with many streams: its touches go in several script calls (each short:
    Redis runs one script at a time), every one applied and every unknown id reported;
    a drifted ``held`` count (bad data) is repaired by the next sync, so a worker does not
    sync at every flush for ever."""
    import redis.asyncio as aioredis

    import core.store.redis as redis_store
    from core.keys import Keys

    monkeypatch.setattr(redis_store, "TOUCHES_PER_CALL", 300)
    store = redis_store.RedisStore(redis_url, namespace)
    await store.start()
    r = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        ids = [f"c{i:05d}" for i in range(1000)]
        await store.register_many([rec(c, worker="big") for c in ids])
        touches = {c: Touch(at=T0 + 50, events=2, bytes=10) for c in ids}
        touches.update({f"gone{i}": Touch(at=T0 + 50, events=1, bytes=1) for i in range(5)})
        hb = WorkerHeartbeat(worker_id="big", host="h", pid=1, connections=1000, heartbeat_at=T0, started_at=T0)
        res = await store.flush(touches, hb, 30)
        assert sorted(res.unknown) == [f"gone{i}" for i in range(5)] and res.held == 1000
        page = await store.list_connections("all", q(T0 + 60), 1000, 0, sort="events")
        assert [x.events_sent for x in page.records] == [2] * 1000
        assert all(x.last_activity == T0 + 50 for x in page.records)
        k = Keys(namespace)
        code = await r.hget(k.worker_codes, "big")
        await r.hset(k.held, code, 999_999)  # drifted
        assert (await store.flush({}, hb, 30)).held == 999_999
        assert await store.sync_worker("big", ids[:990]) == (10, [])
        assert (await store.flush({}, hb, 30)).held == 990
    finally:
        await r.aclose()
        await store.close()


async def test_every_state_page_and_the_channels_class_the_boundaries_as_core_classify_does(store):
    """The exact boundaries (idle / open exactly as long as a threshold: not in the class; a
    microsecond more: in it) give the same class in the census, every state's page and the
    channel summary as core.classify says."""
    from core.classify import classes
    now = T0 + 50_000
    rows = {
        "idle_at": (now - 10, now - 300), "idle_past": (now - 10, now - 300.001),
        "open_hour": (now - 3600, now), "open_past_hour": (now - 3600.001, now),
        "open_6h": (now - 21600, now), "open_past_6h": (now - 21600.001, now),
    }
    await store.register_many([rec(cid, connected=ca, activity=la, channel="b") for cid, (ca, la) in rows.items()])
    query = q(now)
    want = {cid: classes(ca, la, query.cut) for cid, (ca, la) in rows.items()}
    for state in ("stale", "active", "long_lived", "very_old"):
        page = await store.list_connections(state, query, 50, 0)
        got = {r.connection_id for r in page.records}
        assert got == {cid for cid, cl in want.items() if state in cl}, state
        assert page.total == len(got)
    census = await store.census(query)
    assert (census.ages.stale, census.ages.long_lived, census.ages.very_old) == tuple(
        sum(1 for cl in want.values() if s in cl) for s in ("stale", "long_lived", "very_old"))
    rows_, _, _ = await store.channels(query)
    (ch,) = rows_
    assert (ch.channel, ch.connections, ch.stale) == ("b", 6, sum(1 for cl in want.values() if "stale" in cl))


async def test_history_connect_rates_and_their_rollup(store):
    """The raw rates one a sample; the rollup one a step at its start, holding the highest
    rates recorded in the step (connects and reconnects each), older steps trimmed."""
    for t, c, r, step in ((1000.0, 2.0, 0.5, 900.0), (1010.0, 5.5, 0.1, 900.0), (1020.0, 1.0, 3.25, 900.0),
                          (1210.0, 4.0, 0.0, 1200.0)):
        await store.history_connects_append(t, c, r, 0.0, rollup=(step, 0.0))
    assert [x[:2] for x in await store.history_connects(0, 2000)] == [(1000.0, 2.0), (1010.0, 5.5), (1020.0, 1.0),
                                                                     (1210.0, 4.0)]
    assert await store.history_connects(0, 2000, rollup=True) == [(900.0, 5.5, 3.25), (1200.0, 4.0, 0.0)]
    assert await store.history_connects(1000, 2000, rollup=True) == [(1200.0, 4.0, 0.0)]
    # a lower rate later in the step keeps the step's highest; the step before the keep-from goes
    await store.history_connects_append(1220.0, 0.5, 7.0, 0.0, rollup=(1200.0, 1000.0))
    assert await store.history_connects(0, 2000, rollup=True) == [(1200.0, 4.0, 7.0)]
    # without rollup=, nothing of it is written (an older caller)
    await store.history_connects_append(1230.0, 9.0, 9.0, 0.0)
    assert await store.history_connects(0, 2000, rollup=True) == [(1200.0, 4.0, 7.0)]
