"""The connection detail shows the stream's send queue (issue 27's queue watch, core.queues):
the bytes the kernel holds for the client and their growth, whether the client reads
(``✖ NOT READING`` and since when), and when the queue was read; unknown is ``? unknown``
(never 0) and a read older than the not-reading time in force on the server (its
``configuration.not_reading_seconds``) is marked old; a server that does not publish that
time leaves the read's age unjudged (``current? unknown``), never judged by the default.

Every record reaches the dialog the way the dashboard gets it: ``HttpSource.connection``
over a real socket, parsing ``GET /monitoring/connections/{id}`` (core.asgi's shape); the
thresholds come from the same source's ``/monitoring`` (``Snapshot.thresholds``). The last
tests read the configuration a real served app publishes and a real frozen client's queue
from a real server and a real redis-server."""

from __future__ import annotations

import time

import pytest
from textual.content import Content
from textual.widgets import DataTable
from tui_helpers import FixedClock, wait_until

from core.config import load_config
from core.models import ConnectionRecord
from sse_tui.model import Thresholds
from sse_tui.samples import NOT_READING_SECONDS, T0, sample_connections
from sse_tui.sources import HttpSource
from sse_tui.widgets.dialogs import ConnectionDetail
from sse_tui.widgets.dialogs.detail import connection_lines, stamp
from tests.service.conftest import serve, wait_for
from tests.service.sse_compat import fresh_sse_starlette_state  # noqa: F401 - autouse fixture
from tests.service.test_frozen_clients import _socket_table_works, frozen_client, steady_route
from tests.tui.test_app_keys import build, first_poll, text_of

QUEUE_LABELS = ("send queue", "client reads", "queue read at")
SAMPLES = {r.connection_id[:6]: r for r in sample_connections()}  # c-0004: stuck, c-0006: behind, c-0009: unknown


def variant(base: str, cid: str, **fields: object) -> ConnectionRecord:
    """A sample record with other queue fields, as the server's model would carry them."""
    return SAMPLES[base].model_copy(update={"connection_id": cid, **fields})


RECORDS = [
    *SAMPLES.values(),
    variant("c-0003", "c-early", queued_bytes=9_000, queue_growth_bytes=-3_000, not_reading_seconds=2.0,
            not_reading=False),
    variant("c-0004", "c-oldread", queue_at=T0 - 7.0),
    variant("c-0004", "c-noread", queue_at=None),
    variant("c-0003", "c-nogrowth", queue_growth_bytes=None, not_reading=None),
]


async def fetched(fake_service, cid: str) -> tuple[ConnectionRecord, Thresholds]:
    """The record and the thresholds through the dashboard's own path: HttpSource over a
    real socket (``/monitoring``'s configuration, then the connection)."""
    fake_service.records = RECORDS
    src = HttpSource(fake_service.monitoring_url)
    try:
        th = (await src.fetch()).thresholds
        rec = await src.connection(cid)
    finally:
        await src.aclose()
    assert rec is not None, cid
    return rec, th


async def body_of(fake_service, cid: str) -> Content:
    rec, th = await fetched(fake_service, cid)
    return connection_lines(rec, T0, th)


def with_not_reading(fake_service, seconds: float | None) -> None:
    """The served ``configuration`` with another ``not_reading_seconds`` (None: left out, as a
    server from before it was published sends it)."""
    cfg = dict(fake_service.payload["configuration"])
    if seconds is None:
        cfg.pop("not_reading_seconds")
    else:
        cfg["not_reading_seconds"] = seconds
    fake_service.payload = {**fake_service.payload, "configuration": cfg}


def queue_rows(body: Content | str) -> dict[str, str]:
    text = body.plain if isinstance(body, Content) else body
    rows = {ln[:14].strip(): ln[14:] for ln in text.splitlines()}
    assert all(k in rows for k in QUEUE_LABELS), text
    return {k: rows[k] for k in QUEUE_LABELS}


def style_of(body: Content, words: str) -> str:
    start = body.plain.index(words)
    return " ".join(str(s.style) for s in body.spans if s.start <= start < s.end)


async def test_a_client_that_stopped_reading(fake_service) -> None:
    rec, th = await fetched(fake_service, SAMPLES["c-0004"].connection_id)
    assert (rec.queued_bytes, rec.queue_growth_bytes, rec.not_reading_seconds, rec.not_reading) == (47_104, 0, 398.0, True)
    body = connection_lines(rec, T0, th)
    q = queue_rows(body)
    assert q["send queue"] == "47,104 B (46.0 kB)  +0 B since the read before"
    assert q["client reads"] == f"✖ NOT READING for 6m 38s  (since {stamp(rec.queue_at - 398.0)})"  # type: ignore[operator]
    assert q["queue read at"] == f"{stamp(T0 - 0.4)}  (0s before this view: current)"
    assert "$error" in style_of(body, "✖ NOT READING")


async def test_a_client_falling_behind_and_one_keeping_up(fake_service) -> None:
    behind = queue_rows(await body_of(fake_service, SAMPLES["c-0006"].connection_id))
    assert behind["send queue"] == "212,992 B (208.0 kB)  +64.0 kB since the read before"
    assert behind["client reads"].startswith("✖ NOT READING for 7s  (since ")
    in_flight = queue_rows(await body_of(fake_service, SAMPLES["c-0003"].connection_id))
    assert in_flight["send queue"] == "1,460 B (1.4 kB)  +1.4 kB since the read before"
    assert in_flight["client reads"] == "yes  (it takes what it is sent)"
    empty = queue_rows(await body_of(fake_service, SAMPLES["c-0001"].connection_id))
    assert empty["send queue"] == "0 B  (nothing waiting for the client)"  # known empty: 0 is a measurement here


async def test_not_flagged_yet_and_a_shrinking_queue(fake_service) -> None:
    body = await body_of(fake_service, "c-early")
    q = queue_rows(body)
    assert q["send queue"] == "9,000 B (8.8 kB)  -2.9 kB since the read before"
    assert q["client reads"] == f"▲ not reading for 2s  (since {stamp(T0 - 2.4)}; not flagged yet)"
    assert "$warning" in style_of(body, "▲ not reading") and "NOT READING" not in body.plain


async def test_unknown_is_unknown_never_zero(fake_service) -> None:
    rec, th = await fetched(fake_service, SAMPLES["c-0009"].connection_id)
    assert rec.queued_bytes is None and rec.not_reading is None and rec.queue_at is None
    q = queue_rows(connection_lines(rec, T0, th))
    assert q["send queue"].startswith("? unknown  (not Linux, behind a proxy")
    assert q["client reads"].startswith("? unknown")
    assert q["queue read at"] == "-"
    assert not any(v.startswith("0") or " 0 B" in v for v in q.values()), q
    # a known queue whose growth, judgement or read time the server did not send: each one "?"/unknown
    q = queue_rows(await body_of(fake_service, "c-nogrowth"))
    assert q["send queue"] == "1,460 B (1.4 kB)  (growth since the read before: ?)"
    assert q["client reads"].startswith("? unknown")
    q = queue_rows(await body_of(fake_service, "c-noread"))
    assert q["queue read at"].startswith("unknown (the server does not say when it was read)")
    assert q["client reads"].endswith("(since ?)")  # no read time: no "since" either


async def test_an_old_read_says_it_is_old(fake_service) -> None:
    rec, th = await fetched(fake_service, "c-oldread")
    assert th.not_reading_seconds == NOT_READING_SECONDS == 5.0  # what the sample server publishes
    body = connection_lines(rec, T0, th)
    assert queue_rows(body)["queue read at"] == f"{stamp(T0 - 7)}  (7s old: read then, not now)"
    assert "$warning" in style_of(body, "7s old")
    # within the not-reading time it is current (a worker reads its sockets more often than that)
    fresh = rec.model_copy(update={"queue_at": T0 - (NOT_READING_SECONDS - 1)})
    assert "current" in queue_rows(connection_lines(fresh, T0, th))["queue read at"]


async def test_the_read_is_judged_by_the_servers_own_not_reading_time(fake_service) -> None:
    """Old against the time in force on the server, never against the default (5 s): with
    SSE_NOT_READING_SECONDS=30 a read 7 s old is the current one; with 2 s, 3 s is old."""
    with_not_reading(fake_service, 30.0)
    rec, th = await fetched(fake_service, "c-oldread")
    assert th.not_reading_seconds == 30.0
    assert queue_rows(connection_lines(rec, T0, th))["queue read at"] == f"{stamp(T0 - 7)}  (7s before this view: current)"
    with_not_reading(fake_service, 2.0)
    rec, th = await fetched(fake_service, "c-oldread")
    three = rec.model_copy(update={"queue_at": T0 - 3})
    assert queue_rows(connection_lines(three, T0, th))["queue read at"] == f"{stamp(T0 - 3)}  (3s old: read then, not now)"


async def test_a_server_that_does_not_publish_it_leaves_the_read_unjudged(fake_service) -> None:
    """An older server (no ``not_reading_seconds`` in its configuration): the read's age is
    shown, whether it is current is unknown; neither "current" nor "old" is guessed."""
    with_not_reading(fake_service, None)
    for cid, age in (("c-oldread", 7), (SAMPLES["c-0004"].connection_id, 0)):
        rec, th = await fetched(fake_service, cid)
        assert th.not_reading_seconds is None and th.queue_current_within is None
        body = connection_lines(rec, T0, th)
        read_at = queue_rows(body)["queue read at"]
        assert read_at == f"{stamp(rec.queue_at)}  ({age}s ago: current? unknown)", read_at  # type: ignore[arg-type]
        assert "$warning" in style_of(body, "current? unknown") and "not now" not in read_at


async def test_the_dialog_shows_the_queue_and_refreshes_it(fake_service, clock: FixedClock) -> None:
    """The App's own path: the connections tab from HttpSource, the stuck stream's detail
    opened, then a poll brings the stream reading again and a newer read."""
    fake_service.records = list(sample_connections())
    source = HttpSource(fake_service.monitoring_url)
    app, _ = build(source, clock)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await first_poll(pilot, app)
            await pilot.press("2")
            table = app.query_one("#conn-table", DataTable)
            await wait_until(pilot, lambda: table.row_count == 12, what="connections")
            stuck = SAMPLES["c-0004"].connection_id
            app.open_detail(stuck)
            await wait_until(pilot, lambda: isinstance(app.screen, ConnectionDetail), what="detail")
            q = queue_rows(text_of(app.screen, "#detail-body"))
            assert q["send queue"].startswith("47,104 B") and q["client reads"].startswith("✖ NOT READING for 6m 38s")
            fake_service.records = [r.model_copy(update={"queued_bytes": 0, "queue_growth_bytes": -47_104,
                                                         "not_reading_seconds": None, "not_reading": False,
                                                         "queue_at": T0 + 1.5}) if r.connection_id == stuck else r
                                    for r in fake_service.records]
            app.action_refresh_now()  # the next poll (what "r" does)
            await wait_until(pilot, lambda: "client reads  yes" in text_of(app.screen, "#detail-body"), what="the refreshed detail")
            q = queue_rows(text_of(app.screen, "#detail-body"))
            assert q["send queue"] == "0 B  -46.0 kB since the read before"
            assert q["client reads"] == "yes  (it takes what it is sent)"
            assert q["queue read at"] == f"{stamp(T0 + 1.5)}  (0s before this view: current)"  # the view is at least as new
            assert stamp(T0 + 1.5) in text_of(app.screen, "#detail-asof")
    finally:
        await source.aclose()


async def test_the_dialog_follows_the_servers_setting(fake_service, clock: FixedClock) -> None:
    """The App's own path: the detail judges the read by the not-reading time the last poll
    brought (30 s here: a read 7 s old is current), and by none once the server stops
    publishing it; the configuration tab shows the same."""
    fake_service.records = RECORDS
    with_not_reading(fake_service, 30.0)
    source = HttpSource(fake_service.monitoring_url)
    app, _ = build(source, clock)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await first_poll(pilot, app)
            await pilot.press("4")
            await wait_until(pilot, lambda: "not reading after" in text_of(app, "#config-panel"), what="the configuration tab")
            assert f"{'not reading after':<25}30s" in text_of(app, "#config-panel")
            await pilot.press("2")
            app.open_detail("c-oldread")
            await wait_until(pilot, lambda: isinstance(app.screen, ConnectionDetail), what="detail")
            assert queue_rows(text_of(app.screen, "#detail-body"))["queue read at"] == \
                f"{stamp(T0 - 7)}  (7s before this view: current)"
            with_not_reading(fake_service, None)  # the same server, now answering as an older one
            app.action_refresh_now()
            await wait_until(pilot, lambda: "current?" in text_of(app.screen, "#detail-body"), what="the refreshed detail")
            assert queue_rows(text_of(app.screen, "#detail-body"))["queue read at"] == \
                f"{stamp(T0 - 7)}  (7s ago: current? unknown)"
            await pilot.press("escape")
            await wait_until(pilot, lambda: not isinstance(app.screen, ConnectionDetail), what="the detail closed")
            await pilot.press("4")
            await wait_until(pilot, lambda: "? (not published)" in text_of(app, "#config-panel"), what="the configuration tab")
    finally:
        await source.aclose()


async def test_a_served_app_publishes_its_not_reading_time(redis_url, namespace) -> None:
    """A real uvicorn and redis-server with SSE_NOT_READING_SECONDS=12 (not the default):
    ``/monitoring`` says 12 under ``configuration``, and the dashboard's source reads it."""
    cfg = load_config(REDIS_URL=redis_url, REDIS_NAMESPACE=namespace, LOG_LEVEL="WARNING", NOT_READING_SECONDS=12.0,
                      PERIODIC_CLEANUP_ENABLED=False)
    assert cfg.NOT_READING_SECONDS != load_config().NOT_READING_SECONDS
    async with serve(cfg) as s:
        assert (await s.monitoring())["configuration"]["not_reading_seconds"] == 12.0
        src = HttpSource(f"http://127.0.0.1:{s.port}/monitoring")
        try:
            snap = await src.fetch()
        finally:
            await src.aclose()
        assert snap.stats.configuration.not_reading_seconds == 12.0
        assert snap.thresholds.queue_current_within == 12.0


@pytest.mark.skipif(not _socket_table_works(), reason="needs Linux sock_diag (the socket table)")
async def test_a_real_frozen_client_in_the_detail(redis_url, namespace, clock: FixedClock) -> None:
    """A real uvicorn and redis-server, a client that never reads: the dialog opened from the
    dashboard (HttpSource) shows the queue the server measured, flagged NOT READING, and
    judges its read by the server's not-reading time (3 s here, not the default 5 s)."""
    cfg = load_config(REDIS_URL=redis_url, REDIS_NAMESPACE=namespace, LOG_LEVEL="WARNING", NOT_READING_SECONDS=3.0,
                      MONITORING_CONNECTIONS_PUBLIC=True, PERIODIC_CLEANUP_ENABLED=False)
    holder: dict = {}
    async with serve(cfg, [steady_route(lambda: holder["m"])]) as s:
        holder["m"] = s.manager
        frozen = await frozen_client(s.host, s.port, "/steady")
        src = HttpSource(f"http://127.0.0.1:{s.port}/monitoring")
        try:
            port = frozen.getsockname()[1]

            async def flagged() -> str | None:
                r = await s.http.get("/monitoring/connections", params={"sort": "queued", "limit": 10})
                c = next((c for c in r.json()["connections"] if c["client_address"].endswith(f":{port}")), None)
                return c["connection_id"] if c is not None and c["not_reading"] else None
            cid = await wait_for(flagged, 20, "the frozen client flagged not reading", interval=0.2)

            clock.now = time.time()
            app, _ = build(src, clock)
            async with app.run_test(size=(120, 40)) as pilot:
                await first_poll(pilot, app, timeout=15)
                app.open_detail(cid)
                await wait_until(pilot, lambda: isinstance(app.screen, ConnectionDetail), timeout=15, what="detail")
                assert app.screen.thresholds.not_reading_seconds == 3.0  # the server's, from its /monitoring
                rec: ConnectionRecord = app.screen.record  # what HttpSource parsed from the server's answer
                assert rec.connection_id == cid and rec.not_reading is True
                assert rec.queued_bytes is not None and rec.queued_bytes > 0 and rec.queue_at is not None
                assert rec.not_reading_seconds is not None and rec.not_reading_seconds >= cfg.NOT_READING_SECONDS
                q = queue_rows(text_of(app.screen, "#detail-body"))
                assert q["send queue"].startswith(f"{rec.queued_bytes:,} B"), q
                assert q["client reads"].startswith("✖ NOT READING for "), q
                assert f"since {stamp(rec.queue_at - rec.not_reading_seconds)}" in q["client reads"], q
                age = int(app.screen.now - rec.queue_at)  # the view's server clock: at least the read's time
                assert age >= 0 and q["queue read at"].startswith(stamp(rec.queue_at)), q
                assert q["queue read at"].endswith("current)" if age <= cfg.NOT_READING_SECONDS else "not now)"), q
        finally:
            await src.aclose()
            frozen.close()
