"""Blast radius (core.blast): the matching rules, on the memory store and on Redis (plain and sharded)."""

from __future__ import annotations

import asyncio

import pytest

from core.blast import cuts_from_records, summarize
from core.models import ConnectionRecord
from core.reconnects import client_key
from core.store.memory import MemoryStore
from tests.core.conftest import redis_store

T0 = 1_700_000_000.0
WINDOW = 10.0
KEEP = 60.0


@pytest.fixture(params=["memory", "redis", "redis-sharded"])
async def bstore(request, namespace):
    s = MemoryStore() if request.param == "memory" else redis_store(request.param, request, namespace)
    await s.start()
    try:
        yield s
    finally:
        await s.close()


def rec(cid: str, addr: str, ua: str, channel: str = "news", age: float = 30.0) -> ConnectionRecord:
    return ConnectionRecord(connection_id=cid, worker_id="w-dead", host="h", pid=1, channel=channel,
                            client_address=addr, user_agent=ua, connected_at=T0 - age, last_activity=T0)


CUT = [rec("a", "10.0.0.1:5001", "ua-a"), rec("b", "10.0.0.2:5002", "ua-b"), rec("c", "10.0.0.3:5003", "ua-c"),
       rec("d", "10.0.0.4:5004", "ua-d", age=12.5)]


def key(addr: str, ua: str) -> str:
    return client_key(addr, ua)


# (what the clients did, seconds after the cut) -> (back, median, not back)
CASES = {
    "back once, then again: counts once, the first time": (
        [(key("10.0.0.1:6000", "ua-a"), 1.0), (key("10.0.0.1:6001", "ua-a"), 3.0)], 1, 1.0, {"ua-b", "ua-c", "ua-d"}),
    "back after the window: not back": ([(key("10.0.0.2:6000", "ua-b"), WINDOW + 2)], 0, None, {"ua-a", "ua-b", "ua-c", "ua-d"}),
    "another user agent: another client": ([(key("10.0.0.3:6000", "ua-other"), 2.0)], 0, None,
                                           {"ua-a", "ua-b", "ua-c", "ua-d"}),
    "a client that was never cut: nothing": ([(key("10.9.9.9:1", "ua-x"), 1.0)], 0, None, {"ua-a", "ua-b", "ua-c", "ua-d"}),
    "connected before the cut: not a comeback": ([(key("10.0.0.4:6000", "ua-d"), -1.0)], 0, None,
                                                 {"ua-a", "ua-b", "ua-c", "ua-d"}),
    "all back": ([(key("10.0.0.1:1", "ua-a"), 1.0), (key("10.0.0.2:1", "ua-b"), 2.0), (key("10.0.0.3:1", "ua-c"), 4.0),
                  (key("10.0.0.4:1", "ua-d"), 9.5)], 4, 3.0, set()),
}


@pytest.mark.parametrize("early", [False, True], ids=["noted-after-the-event", "noted-before-the-event"])
@pytest.mark.parametrize("case", list(CASES))
async def test_matching_rules(bstore, case, early):
    """The same rules whether a comeback reaches the store before the event is recorded (a
    death is reaped after its clients came back) or after."""
    arrivals, back, median, not_back = CASES[case]
    arrivals = [(k, T0 + d) for k, d in arrivals]
    cuts = cuts_from_records(CUT)
    if early:
        for a in arrivals:  # each at its own flush
            await bstore.note_arrivals([a], KEEP, a[1])
        await bstore.put_blast("e1", T0, WINDOW, len(cuts), cuts, KEEP)
    else:
        await bstore.put_blast("e1", T0, WINDOW, len(cuts), cuts, KEEP)
        for a in arrivals:
            await bstore.note_arrivals([a], KEEP, a[1])
    got = (await bstore.get_blasts(["e1", "unknown"]))
    assert set(got) == {"e1"}
    b = summarize(got["e1"], T0 + WINDOW + 5)
    assert (b.cut, b.back, b.median_back_seconds, b.open) == (4, back, median, False)
    assert {c.user_agent for c in b.not_back_clients} == not_back
    assert b.not_back == len(not_back)
    if "ua-d" in not_back:
        d = next(c for c in b.not_back_clients if c.user_agent == "ua-d")
        assert (d.channel, d.age_seconds) == ("news", 12.5)


# one browser: five EventSources share its address and user agent, i.e. one client key
BROWSER = [rec(f"s{i}", f"10.0.0.7:{7000 + i}", "Chrome/1", channel=f"ch{i}", age=50.0 - i) for i in range(5)]


# (connects of the browser's key, seconds after the cut; how they reach the store) -> back, median
MULTI = {
    "five cut, two back: two": ([1.0, 3.0], "one-flush", 2, 2.0),
    "five cut, two back, each at its own flush: two": ([1.0, 3.0], "own-flushes", 2, 2.0),
    "five cut, eight back: five (no more than cut), the earliest": ([0.5, 1, 2, 3, 4, 5, 6, 7], "one-flush", 5, 2.0),
    "five cut, eight back over flushes: five, the earliest": ([7, 6, 5, 4, 3, 2, 1, 0.5], "own-flushes", 5, 2.0),
    "five cut, two back at the same moment: two": ([2.0, 2.0], "one-flush", 2, 2.0),
    "five cut, one back within the window and two after: one": ([1.0, WINDOW + 1, WINDOW + 2], "one-flush", 1, 1.0),
}


@pytest.mark.parametrize("early", [False, True], ids=["noted-after-the-event", "noted-before-the-event"])
@pytest.mark.parametrize("case", list(MULTI))
async def test_several_cuts_of_one_client_key_match_one_connect_each(bstore, case, early):
    """A multiset: each connect within the window matches one cut of its key (the k-th connect
    the k-th cut, oldest stream first); the others of the key are not back; more connects
    than cuts count no more than the cuts."""
    ds, how, back, median = MULTI[case]
    k = key("10.0.0.7", "Chrome/1")
    arrivals = [(k, T0 + d) for d in ds]
    batches = [arrivals] if how == "one-flush" else [[a] for a in arrivals]
    cuts = cuts_from_records(BROWSER + CUT[:1])
    assert len({c.client for c in cuts[:5]}) == 1

    async def note() -> None:
        for b in batches:
            await bstore.note_arrivals(b, KEEP, max(t for _, t in b))
    if early:
        await note()
        await bstore.put_blast("e1", T0, WINDOW, len(cuts), cuts, KEEP)
        if not isinstance(bstore, MemoryStore):
            await note()  # the same flushes sent again (a retry after a store error): each connect once
    else:
        await bstore.put_blast("e1", T0, WINDOW, len(cuts), cuts, KEEP)
        await note()
    b = summarize((await bstore.get_blasts(["e1"]))["e1"], T0 + WINDOW + 5)
    assert (b.cut, b.back, b.not_back, b.median_back_seconds) == (6, back, 6 - back, median), b
    # the oldest streams are the ones back; the rest of the browser's, and ua-a, are not
    not_back = {c.channel for c in b.not_back_clients if c.user_agent == "Chrome/1"}
    assert not_back == {f"ch{i}" for i in range(back, 5)}
    assert "ua-a" in {c.user_agent for c in b.not_back_clients}
    assert b.summary == f"6 streams cut; {back} back within 10 s, median {median:g} s; {6 - back} not back"


def test_summary_counts_no_more_comebacks_than_cuts():
    from core.store.base import BlastRead
    cuts = cuts_from_records(BROWSER)
    k = cuts[0].client
    read = BlastRead(cut_at=T0, window=WINDOW, cut_total=5, cuts=tuple(cuts),
                     back={k: (0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, WINDOW + 1)})
    b = summarize(read, T0 + 60)
    assert (b.cut, b.back, b.not_back, b.median_back_seconds) == (5, 5, 0, 2.0)
    read = BlastRead(cut_at=T0, window=WINDOW, cut_total=5, cuts=tuple(cuts), back={k: (3.0, WINDOW + 1)})
    b = summarize(read, T0 + 60)
    assert (b.cut, b.back, b.not_back, b.median_back_seconds) == (5, 1, 4, 3.0)
    assert [c.channel for c in b.not_back_clients] == ["ch1", "ch2", "ch3", "ch4"]


async def test_one_batch_and_two_events(bstore):
    """Connects of one flush matched against every open event; a client in both is back in both."""
    cuts1 = cuts_from_records(CUT[:2])
    cuts2 = cuts_from_records(CUT[1:3])
    await bstore.put_blast("e1", T0, WINDOW, 2, cuts1, KEEP)
    await bstore.put_blast("e2", T0 + 1, WINDOW, 2, cuts2, KEEP)
    n = await bstore.note_arrivals([(key("10.0.0.2:9", "ua-b"), T0 + 2), (key("10.0.0.2:9", "ua-b"), T0 + 2.5)],
                                   KEEP, T0 + 3)
    assert n == 2
    got = await bstore.get_blasts(["e1", "e2"])
    assert dict(got["e1"].back) == {key("10.0.0.2", "ua-b"): (2.0,)}  # one cut of ua-b: the first connect
    assert dict(got["e2"].back) == {key("10.0.0.2", "ua-b"): (1.0,)}
    open_ = summarize(got["e1"], T0 + 3)
    assert open_.open and open_.summary == "2 streams cut; 1 back within 10 s, median 2 s; 1 not back yet"


def test_summary_text():
    from core.store.base import BlastRead
    cuts = cuts_from_records(CUT)
    read = BlastRead(cut_at=T0, window=WINDOW, cut_total=63, cuts=tuple(cuts),
                     back={cuts[0].client: (2.1,), cuts[1].client: (1.0,)})
    b = summarize(read, T0 + 60)
    assert b.summary == "63 streams cut; 2 back within 10 s, median 1.6 s; 2 not back; 59 not followed (unknown)"
    assert (b.cut, b.back, b.not_back, b.listed) == (63, 2, 2, 4)


# -- through the manager: a death, a disconnect and a cleanup record who they cut -------------

def _event(stats: dict, type_: str) -> dict:
    return next(e for e in stats["recent_events"] if e["type"] == type_)


@pytest.mark.parametrize("store_kind", ["memory", "redis", "redis-sharded"])
async def test_a_death_a_disconnect_and_a_cleanup_follow_who_they_cut(make_manager, clock, store_kind):
    cfg = dict(WORKER_HEARTBEAT_TTL_SECONDS=10, BLAST_WINDOW_SECONDS=30, STALE_CONNECTION_THRESHOLD_SECONDS=120)
    dead = await make_manager(worker_id="dead", **cfg)
    for i in range(3):
        await dead.register(channel="prices", client_address=f"10.1.0.{i}:4000", user_agent=f"ua-{i}")
    survivor = await make_manager(worker_id="survivor", **cfg)
    clock.advance(11)
    await survivor.flush_touches()
    await survivor.run_cleanup()  # reaps the dead worker: its 3 streams read before
    # ua-0 comes back (twice), ua-1 with another user agent, ua-2 not at all
    clock.advance(2)
    await survivor.register(client_address="10.1.0.0:5000", user_agent="ua-0", resumed=True)
    await survivor.register(client_address="10.1.0.0:5001", user_agent="ua-0")
    await survivor.register(client_address="10.1.0.1:5000", user_agent="ua-1 (updated)")
    await survivor.connects.send()
    e = _event(await survivor.get_detailed_monitoring_stats(), "death")
    b = e["blast"]
    assert (b["cut"], b["back"], b["not_back"], b["open"]) == (3, 1, 2, True), b
    assert b["median_back_seconds"] == 13.0  # from the dead worker's last heartbeat
    assert {c["user_agent"] for c in b["not_back_clients"]} == {"ua-1", "ua-2"}
    assert all(c["channel"] == "prices" for c in b["not_back_clients"])

    # an operator disconnects one stream; its client is back 1.5 s later
    victim = await survivor.register(client_address="10.2.0.1:1", user_agent="kiosk")
    await survivor.connects.send()
    await survivor.disconnect(victim.connection_id)
    clock.advance(1.5)
    await survivor.register(client_address="10.2.0.1:2", user_agent="kiosk")
    await survivor.connects.send()
    b = _event(await survivor.get_detailed_monitoring_stats(), "disconnect")["blast"]
    assert (b["cut"], b["back"], b["median_back_seconds"]) == (1, 1, 1.5), b

    # a cleanup removes the idle ones: 4 on the survivor; nobody comes back within the window
    clock.advance(200)
    await survivor.flush_touches(counters=False)
    res = await survivor.run_cleanup()
    assert res.cleaned == 4
    clock.advance(31)
    stats = await survivor.get_detailed_monitoring_stats()
    b = _event(stats, "operator")["blast"]
    assert (b["cut"], b["back"], b["not_back"], b["open"]) == (4, 0, 4, False), b
    assert b["summary"] == "4 streams cut; 0 back within 30 s; 4 not back"
    assert _event(stats, "death")["blast"]["open"] is False


@pytest.mark.parametrize("store_kind", ["memory", "redis", "redis-sharded"])
async def test_a_death_is_cut_no_earlier_than_the_newest_stream_the_worker_accepted(make_manager, clock, store_kind):
    """Registrations reach the store between heartbeats: a worker killed right after a burst
    of connects has a last heartbeat from before some of them. Those streams' own connects
    are not comebacks (a kill -9 test counted 54 back of 45 once): the cut is no earlier than
    the newest stream the dead worker accepted (it was alive then)."""
    cfg = dict(WORKER_HEARTBEAT_TTL_SECONDS=10, BLAST_WINDOW_SECONDS=30)
    dead = await make_manager(worker_id="dead", **cfg)
    await dead.register(client_address="10.5.0.1:1", user_agent="early")
    await dead.flush_touches()  # its last heartbeat, at t
    hb = next(w.heartbeat_at for w in await dead.store.workers() if w.worker_id == "dead")
    clock.advance(3)  # a burst after it: registered (and their connects noted), no heartbeat since
    for i in range(3):
        await dead.register(client_address=f"10.5.1.{i}:1", user_agent=f"late-{i}")
    await dead.connects.send()
    newest = max(r.connected_at for r in await dead.store.worker_records("dead", 100))
    assert newest >= hb + 3
    survivor = await make_manager(worker_id="survivor", **cfg)
    clock.advance(11)
    await survivor.flush_touches()
    await survivor.run_cleanup()  # reaps it
    clock.advance(1)
    await survivor.register(client_address="10.5.1.0:2", user_agent="late-0")  # one comes back, 12 s on
    await survivor.connects.send()
    b = _event(await survivor.get_detailed_monitoring_stats(), "death")["blast"]
    assert (b["cut"], b["back"], b["not_back"]) == (4, 1, 3), b  # before: 3 back (the burst's own connects)
    assert b["cut_at"] == pytest.approx(newest)
    assert b["median_back_seconds"] == 12.0


# -- a reap writes its event before it forgets the worker -------------------------------------

class _NotesForget(MemoryStore):
    """The memory store, noting the events of a worker already written when it is forgotten."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[tuple[str, str, int]] = []
        self.at_forget: dict[str, list[tuple[str, int]]] = {}

    async def add_event(self, event, *, group=False, marks_since=None) -> None:
        self.written.append((event.worker_id, event.type, event.count))
        await super().add_event(event, group=group, marks_since=marks_since)

    async def forget_worker(self, worker_id: str) -> bool:
        self.at_forget[worker_id] = [(t, n) for w, t, n in self.written if w == worker_id]
        return await super().forget_worker(worker_id)


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_a_reap_writes_its_event_before_it_forgets_the_worker(make_manager, clock, store_kind):
    """No snapshot may show a worker gone with no event for it: the death (a cleanup run's
    reap, or the fleet watch's) and an operator's reap are written, with their blast radius,
    before the worker leaves the list."""
    store = _NotesForget()
    cfg = dict(WORKER_HEARTBEAT_TTL_SECONDS=10, BLAST_WINDOW_SECONDS=30)
    dead = await make_manager(worker_id="dead", store=store, **cfg)
    for i in range(3):
        await dead.register(client_address=f"10.3.0.{i}:1", user_agent="ua")
    kept = await make_manager(worker_id="kept", store=store, **cfg)
    await kept.register()
    survivor = await make_manager(worker_id="survivor", store=store, **cfg)
    clock.advance(11)
    await survivor.flush_touches()
    await survivor.run_cleanup()  # reaps the dead worker (and the silent 'kept': 1 stream)
    assert store.at_forget["dead"] == [("death", 3)], store.at_forget
    assert store.at_forget["kept"] == [("death", 1)], store.at_forget
    deaths = {e["worker_id"]: e for e in (await survivor.get_detailed_monitoring_stats())["recent_events"]
              if e["type"] == "death"}
    assert (deaths["dead"]["blast"]["cut"], deaths["kept"]["blast"]["cut"]) == (3, 1)
    other = await make_manager(worker_id="other", store=store, **cfg)
    await other.register()
    await other.flush_touches()
    await survivor.cleaner.reap_worker_now("other", force=True)
    assert store.at_forget["other"] == [("reap", 1)], store.at_forget


async def _dead_with_four_and_two_reapers(make_manager, clock):
    """Worker "dead" with 4 streams, its heartbeat expired; two live workers "a" and "b"."""
    cfg = dict(WORKER_HEARTBEAT_TTL_SECONDS=10, BLAST_WINDOW_SECONDS=30)
    dead = await make_manager(worker_id="dead", **cfg)
    for _ in range(4):
        await dead.register()
    a, b = await make_manager(worker_id="a", **cfg), await make_manager(worker_id="b", **cfg)
    clock.advance(11)
    return a, b


@pytest.mark.parametrize("store_kind", ["redis", "redis-sharded"])
async def test_two_reapers_at_once_write_one_death(make_manager, clock, store_kind):
    """Both find the worker dead at the same moment: the lease lets one reap, and only the one
    that forgets it writes the event."""
    a, b = await _dead_with_four_and_two_reapers(make_manager, clock)
    got = await asyncio.gather(a.cleaner.reap_dead("dead", "test"), b.cleaner.reap_dead("dead", "test"))
    assert sorted(got) == [0, 4]
    deaths = [e for e in (await a.get_detailed_monitoring_stats())["recent_events"] if e["type"] == "death"]
    assert [(e["worker_id"], e["count"]) for e in deaths] == [("dead", 4)]
    assert "dead" not in {w.worker_id for w in await a.store.workers()}


@pytest.mark.parametrize("store_kind", ["redis", "redis-sharded"])
async def test_a_reaper_whose_lease_ran_out_before_it_forgot_leaves_one_death(make_manager, clock, store_kind,
                                                                              redis_url, namespace):
    """The reaping lease (PX 30 s) runs out while its holder is held up between the death
    event and forgetting the worker (a Redis pause of more than 30 s does that): the next
    reaper finds the worker still listed and its streams gone. The fleet recorded that death
    once: it writes no second one ("... died: 0 stream(s) cut"), and still forgets it."""
    import redis.asyncio as aioredis

    a, b = await _dead_with_four_and_two_reapers(make_manager, clock)
    held, release = asyncio.Event(), asyncio.Event()
    forget = a.cleaner.store.forget_worker

    async def held_up(worker_id: str) -> bool:  # a's forget waits until the test lets it go
        held.set()
        await release.wait()
        return await forget(worker_id)

    a.cleaner.store.forget_worker = held_up  # type: ignore[method-assign]
    first = asyncio.create_task(a.cleaner.reap_dead("dead", "test"))
    try:
        await asyncio.wait_for(held.wait(), 10)
        raw = aioredis.Redis.from_url(redis_url)
        try:  # the lease runs out (its PX), as after a long pause
            leases = [k async for k in raw.scan_iter(match=f"*{namespace}*reaping*")]
            assert leases
            await raw.delete(*leases)
        finally:
            await raw.aclose()
        assert await asyncio.wait_for(b.cleaner.reap_dead("dead", "test"), 10) == 0
    finally:
        release.set()
        a.cleaner.store.forget_worker = forget  # type: ignore[method-assign]
    assert await asyncio.wait_for(first, 10) == 4
    deaths = [e for e in (await a.get_detailed_monitoring_stats())["recent_events"] if e["type"] == "death"]
    assert [(e["worker_id"], e["count"]) for e in deaths] == [("dead", 4)]
    assert "dead" not in {w.worker_id for w in await a.store.workers()}


@pytest.mark.parametrize("store_kind", ["memory", "redis"])
async def test_a_worker_reaped_on_request_that_came_back_is_announced_again_when_it_dies(make_manager, clock,
                                                                                        store_kind):
    """An operator's reap of a live worker is on the record; the worker heartbeats again and
    re-registers; when it later dies, that death is announced too (the record is read from
    its last heartbeat on, not for all time)."""
    cfg = dict(WORKER_HEARTBEAT_TTL_SECONDS=10, BLAST_WINDOW_SECONDS=30)
    back = await make_manager(worker_id="back", **cfg)
    await back.register()
    survivor = await make_manager(worker_id="survivor", **cfg)
    await back.flush_touches()
    await survivor.cleaner.reap_worker_now("back", force=True)
    clock.advance(1)
    await back.flush_touches()  # its heartbeat was gone: it comes back, its stream re-registered
    assert "back" in {w.worker_id for w in await survivor.store.workers()}
    clock.advance(11)
    await survivor.flush_touches()
    await survivor.run_cleanup()
    events = [(e["type"], e["worker_id"]) for e in (await survivor.get_detailed_monitoring_stats())["recent_events"]
              if e["type"] in ("reap", "death")]
    assert events.count(("reap", "back")) == 1 and events.count(("death", "back")) == 1, events
    assert "back" not in {w.worker_id for w in await survivor.store.workers()}
