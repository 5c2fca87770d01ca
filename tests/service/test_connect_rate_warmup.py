"""The connect rate is unknown, not 0, until the fleet has counted a whole window
(core.reconnects.rate_unknown_reason): a worker that just started shows ``connect_rate``
null with ``connect_rate_reason`` "warming up ..." on ``/monitoring`` and in ``sse-dash
--once``, even while it has streams; once a window was counted, the rate is the real
clients' connects. Real worker process (core.demo:fleet_app), real redis-server, real sockets.
"""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from core.reconnects import connect_rate_reason, counting_since, rate_unknown_reason

from .conftest import wait_for
from .test_truth import sse_dash_once

WINDOW = 6
HISTORY_STEP = 2
ENV = dict(CONNECT_RATE_WINDOW_SECONDS=WINDOW, PERIODIC_CLEANUP_ENABLED="false", HISTORY_INTERVAL_SECONDS=HISTORY_STEP)


def test_rate_unknown_reason_at_its_boundaries() -> None:
    assert rate_unknown_reason(None, 100.0, 10) == "no worker counts connects"
    # window [90, 100) of now=100.4: known iff the fleet counted from 90 on
    assert rate_unknown_reason(90.0, 100.4, 10) is None
    assert rate_unknown_reason(90.01, 100.4, 10) is not None  # second 90 only partly watched
    assert rate_unknown_reason(99.5, 100.4, 10) == "warming up: 0 s of 10 s counted"
    assert rate_unknown_reason(96.0, 100.4, 10) == "warming up: 4 s of 10 s counted"
    # a window all but complete reads short of it (9.6 s counted: "9 s", not "10 s of 10 s")
    assert rate_unknown_reason(90.4, 100.4, 10) == "warming up: 9 s of 10 s counted"
    assert rate_unknown_reason(90.01, 100.4, 10) == "warming up: 9 s of 10 s counted"
    assert rate_unknown_reason(90.4, 100.4, 10, settle=0.5) == "warming up: 8 s of 10 s counted"
    # the counts of the last flush interval may be on their way: the window ends earlier
    assert rate_unknown_reason(90.0, 100.4, 10, settle=1.0) is not None
    assert rate_unknown_reason(89.0, 100.4, 10, settle=1.0) is None
    assert counting_since([None, 12.0, 7.5]) == 7.5 and counting_since([None]) is None and counting_since([]) is None


def test_connect_rate_reason_says_why_null() -> None:
    assert connect_rate_reason(None, "warming up: 1 s of 10 s counted", True) == "warming up: 1 s of 10 s counted"
    assert connect_rate_reason(None, None, False) == "state store unavailable"


async def _stream(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nUser-Agent: warmup\r\n\r\n")
    await asyncio.wait_for(reader.read(1), 20)  # the stream is open: the server saw the connect
    return reader, writer


async def test_connect_rate_is_unknown_until_a_window_was_counted(redis_url, namespace, workers) -> None:
    w = workers(redis_url, namespace, **ENV)
    await w.wait_ready()
    streams = []
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            async def monitoring() -> dict:
                return (await http.get(w.base_url + "/monitoring")).json()

            streams += [await _stream(w.port) for _ in range(3)]
            s = await monitoring()
            started = min(x["started_at"] for x in s["workers"])
            assert s["now"] - started < WINDOW, "the machine took a whole window to answer: cannot see the warm-up"
            assert s["connect_rate"] is None, s["connect_rate"]  # 3 streams connected: unknown, never "0/s"
            assert s["connect_rate_reason"].startswith("warming up: "), s["connect_rate_reason"]
            res = await asyncio.to_thread(sse_dash_once, "--redis", redis_url, "--namespace", namespace)
            assert "connects/s: unknown (warming up: " in res.stdout, res.stdout

            # a whole window later the rate is known; once the 3 have left the window it is a true 0
            async def quiet() -> dict | None:
                s = await monitoring()
                return s if s["connect_rate"] is not None and s["connect_rate"]["connects"] == 0 else None
            s = await wait_for(quiet, 60, "a known rate with the warm-up connects out of the window", interval=0.3)
            assert s["connect_rate_reason"] is None

            streams += [await _stream(w.port) for _ in range(4)]

            async def counted() -> dict | None:
                s = await monitoring()
                return s if s["connect_rate"] is not None and s["connect_rate"]["connects"] >= 4 else None
            s = await wait_for(counted, 30, "the 4 new connects counted", interval=0.3)
            rate = s["connect_rate"]
            assert rate["connects"] == 4 and rate["window_seconds"] == WINDOW, rate
            assert rate["per_second"] == round(4 / WINDOW, 2) and rate["reconnects"] == 0, rate
            res = await asyncio.to_thread(sse_dash_once, "--redis", redis_url, "--namespace", namespace)
            assert "connects " in res.stdout and "connects/s: unknown" not in res.stdout, res.stdout

            # the history keeps the 4 connects' rate (the recorder's own warm-up: tests/core)
            async def history() -> dict | None:
                h = (await http.get(w.base_url + "/monitoring/history",
                                    params={"range": "5m", "step": f"{HISTORY_STEP}s"})).json()
                return h if any(v for v in h["last"]["connects"] if v) else None
            await wait_for(history, 30, "the 4 connects' rate in the history", interval=0.5)
    finally:
        for _, writer in streams:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
