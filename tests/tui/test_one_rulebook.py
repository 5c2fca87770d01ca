"""One rulebook: a connection exactly on an age boundary is classed the same everywhere.

Connections whose idle time or age is the stale / long-lived / very-old threshold exactly,
and a quarter second either side, are written to a real Redis (and, in a second run, to the
server's in-memory store); then they are classed by

* the server: ``GET /monitoring/connections?state=...`` on a real uvicorn (the dashboard's
  ``HttpSource``), and its ``/monitoring`` counts (what the cleanup dialog shows as "stale
  connections now");
* the Redis source (``RedisSource``: core.fleet.FleetReader over the same keys);
* a replay of a recording of that page (``ReplaySource``: filtered in memory);
* the connection detail dialog's state line, and the connections table's STALE mark
  (:func:`sse_tui.model.age_classes`);

and every one must give :func:`core.classify.classes`' answer, which is strict: idle (or
open) exactly as long as the threshold is not in the class. The server and the Redis source
run on a fixed clock, so "now" is the same exact moment for all of them.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from core import classify
from core.config import load_config
from core.demo import build_demo_app, serve_app, stop_server
from core.manager import ConnectionManager
from core.models import ConnectionRecord
from core.provider import make_store
from core.streaming import close_tracked_streams
from sse_tui.model import ConnectionQuery, Thresholds, age_classes
from sse_tui.recording import Recorder, ReplaySource
from sse_tui.sources import HttpSource, RedisSource
from sse_tui.widgets.dialogs import connection_lines

EPS = 0.25  # exact in binary: NOW - threshold ± EPS is computed without rounding
CLASSED = ("stale", "active", "long_lived", "very_old")
WORDS = ("STALE", "VERY OLD", "LONG-LIVED", "ACTIVE")


def boundary_records(now: float, stale: float, long_lived: float, very_old: float) -> list[ConnectionRecord]:
    out = []
    for name, d in (("minus", -EPS), ("exact", 0.0), ("plus", EPS)):
        for kind, connected, active in (
            ("stale", now - stale + d - 10.0, now - stale + d),  # idle == the stale threshold (+/- EPS)
            ("long", now - long_lived + d, now),  # open == long_lived (+/- EPS), active now
            ("old", now - very_old + d, now),  # open == very_old (+/- EPS)
        ):
            out.append(ConnectionRecord(connection_id=f"{kind}-{name}", worker_id="boundary-worker", host="h", pid=1,
                                        connected_at=connected, last_activity=active))
    return out


def words_expected(classes: frozenset[str]) -> set[str]:
    words = {"STALE"} if "stale" in classes else set()
    if "very_old" in classes:
        words.add("VERY OLD")
    elif "long_lived" in classes:
        words.add("LONG-LIVED")
    return words or {"ACTIVE"}


async def classes_by_listing(list_page) -> dict[str, frozenset[str]]:  # type: ignore[no-untyped-def]
    """connection id -> the states whose listing holds it."""
    found: dict[str, set[str]] = {}
    for state in CLASSED:
        page = await list_page(ConnectionQuery(state=state, limit=100))
        assert page.total == len(page.connections), (state, page.total)
        for r in page.connections:
            found.setdefault(r.connection_id, set()).add(state)
    return {k: frozenset(v) for k, v in found.items()}


@pytest.mark.parametrize("store", ["redis", "memory"])
async def test_a_connection_on_a_boundary_is_classed_alike_everywhere(store: str, redis_url: str, namespace: str,
                                                                       tmp_path: Path) -> None:
    """``memory``: the server on the in-memory store (its own indexes); the Redis source is
    then not asked (it reads Redis only)."""
    now = float(int(time.time()))  # a whole second: the fixed moment every reader asks at
    where = dict(REDIS_URL=redis_url, REDIS_NAMESPACE=namespace) if store == "redis" else {}
    cfg = load_config(**where, PERIODIC_CLEANUP_ENABLED=False, MONITORING_CONNECTIONS_PUBLIC=True, LOG_LEVEL="WARNING")
    stale, long_lived, very_old = (cfg.STALE_CONNECTION_THRESHOLD_SECONDS, cfg.LONG_LIVED_SECONDS,
                                   cfg.VERY_OLD_SECONDS)
    records = boundary_records(now, stale, long_lived, very_old)
    cut = classify.cut(now, stale, long_lived, very_old)
    oracle = {r.connection_id: classify.classes(r.connected_at, r.last_activity, cut) for r in records}
    # the rule is strict: exactly on a threshold is not in its class
    assert [oracle[f"stale-{n}"] >= {"stale"} for n in ("minus", "exact", "plus")] == [True, False, False]
    assert [oracle[f"long-{n}"] >= {"long_lived"} for n in ("minus", "exact", "plus")] == [True, False, False]
    assert [oracle[f"old-{n}"] >= {"very_old"} for n in ("minus", "exact", "plus")] == [True, False, False]

    manager = ConnectionManager(make_store(cfg), cfg, clock=lambda: now)
    await manager.start()
    writer = make_store(cfg) if store == "redis" else manager.store  # the memory store lives in the server
    if writer is not manager.store:
        await writer.start()
    server, task, port = await serve_app(build_demo_app(manager), "127.0.0.1", 0)
    http = HttpSource(f"http://127.0.0.1:{port}/monitoring")
    redis = RedisSource(redis_url, namespace, clock=lambda: now)
    try:
        for r in records:
            assert await writer.register(r)

        # the server, through the dashboard's HTTP source
        assert await classes_by_listing(http.list_connections) == oracle
        snapshot = await http.fetch()
        counts = snapshot.stats.cleanup_stats  # what the cleanup dialog says ("stale connections now")
        want = {c: sum(c in k for k in oracle.values()) for c in ("stale", "long_lived", "very_old")}
        assert {c: getattr(counts, c) for c in want} == want

        # the Redis source (FleetReader on the same keys, the same moment)
        if store == "redis":
            assert await classes_by_listing(redis.list_connections) == oracle
            counts = (await redis.fetch()).stats.cleanup_stats
            assert {c: getattr(counts, c) for c in want} == want

        # a replay of a recording of the whole list (classed again, in memory)
        page = await http.list_connections(ConnectionQuery(state="all", limit=100))
        assert page.now == now and page.total == len(records)
        path = tmp_path / "boundaries.jsonl"
        rec = Recorder(path)
        rec.write(dataclasses.replace(snapshot, page=page), now)
        rec.close()
        replay = ReplaySource(path)
        await replay.fetch()

        async def replay_page(query: ConnectionQuery):  # type: ignore[no-untyped-def]
            return replay.page_for(query)

        assert await classes_by_listing(replay_page) == oracle

        # the detail dialog's state line and the table's STALE mark, from the listed records
        th = Thresholds.from_config(snapshot.stats.configuration)
        for r in page.connections:
            assert age_classes(r, page.now, th) == oracle[r.connection_id]
            state_line = next(ln for ln in connection_lines(r, page.now, th).plain.splitlines()
                              if ln.startswith("state"))
            shown = {w for w in WORDS if w in state_line}
            assert shown == words_expected(oracle[r.connection_id]), (r.connection_id, state_line)
    finally:
        await http.aclose()
        await redis.aclose()
        if writer is not manager.store:
            await writer.close()
        await close_tracked_streams(manager)
        await stop_server(server, task)
        await manager.stop()
