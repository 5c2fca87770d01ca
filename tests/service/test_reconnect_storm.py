"""The reconnect-storm meter (issue 27): a worker restarted under its streams sends its
clients back at once; the fleet counts connects per second and the share that are
reconnects, ``/monitoring`` shows it (``connect_rate``) with the ``reconnect_storm``
warning, which clears once the storm is over, ``sse-dash --once`` names it, and the
history keeps the rates.

Real worker processes (``uvicorn core.demo:fleet_app``) on a real redis-server, real
clients on raw sockets that behave like ``EventSource``: when their stream ends they
come back after a short random delay, to a live worker, with ``Last-Event-ID``.
``SSE_STORM_CLIENTS`` sets how many (default 400; the issue's figure is 1,000).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time

import httpx

from core.reconnects import client_key, connect_rate

from .conftest import wait_for
from .test_truth import sse_dash_once

CLIENTS = int(os.environ.get("SSE_STORM_CLIENTS", "400"))
ENV = dict(HISTORY_INTERVAL_SECONDS=2, WARN_RECONNECTS_PER_SECOND=10, CONNECT_RATE_WINDOW_SECONDS=10,
           PERIODIC_CLEANUP_ENABLED="false", WORKER_HEARTBEAT_TTL_SECONDS=5)


class Browser:
    """One EventSource-like client: reads its stream, remembers the last event id, and when
    the stream ends comes back (0.1-1.5 s later) to the first live port with Last-Event-ID."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.last_id: str | None = None
        self.connects = 0
        self.live = asyncio.Event()
        self.task = asyncio.create_task(self.run())

    async def run(self) -> None:
        i = 0
        while True:
            port = self.ports[i % len(self.ports)]
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                i += 1
                await asyncio.sleep(random.uniform(0.1, 0.5))
                continue
            resume = f"Last-Event-ID: {self.last_id}\r\n" if self.last_id else ""
            writer.write(f"GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nUser-Agent: storm\r\n"
                         f"{resume}\r\n".encode())
            self.connects += 1
            try:
                buf = b""
                while chunk := await reader.read(65536):
                    self.live.set()
                    buf = (buf + chunk)[-4096:]
                    for line in buf.split(b"\n"):
                        if line.startswith(b"id: "):
                            self.last_id = line[4:].strip().decode()
            except OSError:
                pass
            finally:
                writer.close()
                self.live.clear()
            i += 1
            await asyncio.sleep(random.uniform(0.1, 1.5))


def test_client_key_ignores_the_port() -> None:
    assert client_key("10.0.0.7:51234", "Mozilla/5.0") == client_key("10.0.0.7:40001", "Mozilla/5.0")
    assert client_key("10.0.0.7:51234", "Mozilla/5.0") != client_key("10.0.0.8:51234", "Mozilla/5.0")
    assert client_key("10.0.0.7:51234", "curl/8") != client_key("10.0.0.7:51234", "Mozilla/5.0")


def test_connect_rate_leaves_the_current_second_out() -> None:
    counts = [(99, 50, 50), (100, 10, 2), (105, 10, 8), (110, 7, 7)]
    r = connect_rate(counts, 110.4, 10)
    assert (r.connects, r.reconnects, r.per_second, r.reconnects_per_second, r.reconnect_share_percent) == \
        (20, 10, 2.0, 1.0, 50.0)
    assert connect_rate([], 110.0, 10).reconnect_share_percent is None  # no connect: no share (not 0 %)


async def test_a_worker_restart_is_a_reconnect_storm_that_fires_and_clears(redis_url, namespace, workers) -> None:
    victim = workers(redis_url, namespace, **ENV)
    mate = workers(redis_url, namespace, **ENV)
    await asyncio.gather(victim.wait_ready(), mate.wait_ready())
    browsers: list[Browser] = []
    try:
        for _ in range(0, CLIENTS, 100):  # in waves, so the listen backlog never overflows
            wave = [Browser([victim.port, mate.port]) for _ in range(min(100, CLIENTS - len(browsers)))]
            browsers += wave
            await asyncio.wait_for(asyncio.gather(*(b.live.wait() for b in wave)), 60)
        async with httpx.AsyncClient(timeout=10) as http:
            async def monitoring() -> dict:
                return (await http.get(mate.base_url + "/monitoring")).json()

            # the rate is unknown (null, "warming up") until the fleet counted a whole window, and
            # that window ends a flush before now: a known 0 is never read before the connects
            # were written (they may be older than the first window: not every run sees them)
            async def known() -> dict | None:
                s = await monitoring()
                return s if s["connect_rate"] is not None else None
            await wait_for(known, 30, "the fleet's connect rate known (a whole window counted)", interval=0.3)

            async def quiet() -> dict | None:
                s = await monitoring()
                return s if s["connect_rate"] and s["connect_rate"]["connects"] == 0 else None
            await wait_for(quiet, 30, "no connects over the window before the restart", interval=0.5)
            await wait_for(lambda: asyncio.sleep(0, all(b.last_id for b in browsers)), 30, "an event id on every stream")

            victim.signal(signal.SIGTERM)  # a restart: uvicorn closes its streams, the clients come back
            t_restart = time.time()

            async def storm() -> dict | None:
                s = await monitoring()
                storms = [w for w in s["health_indicators"]["warnings"] if w["type"] == "reconnect_storm"]
                return s if storms else None
            s = await wait_for(storm, 30, "the reconnect_storm warning", interval=0.3)
            rate = s["connect_rate"]
            print(f"\nstorm: {rate} ({time.time() - t_restart:.1f}s after the restart)")
            assert rate["reconnects_per_second"] > ENV["WARN_RECONNECTS_PER_SECOND"]
            assert rate["reconnect_share_percent"] >= 90, rate  # they resume (Last-Event-ID) or were closed
            res = await asyncio.to_thread(sse_dash_once, "--redis", redis_url, "--namespace", namespace)
            print(f"sse-dash --once: {res.stdout.strip()}")
            assert "Reconnect storm:" in res.stdout, res.stdout

            back = sum(b.connects for b in browsers) - len(browsers)
            assert back >= CLIENTS // 3, back  # the victim's share came back (to the mate)

            async def cleared() -> dict | None:
                s = await monitoring()
                return s if not any(w["type"] == "reconnect_storm" for w in s["health_indicators"]["warnings"]) \
                    and (s["connect_rate"] or {}).get("connects") == 0 else None  # null: unknown this poll
            await wait_for(cleared, 40, "the warning cleared once the storm is over", interval=0.5)

            async def in_history() -> dict | None:
                h = (await http.get(mate.base_url + "/monitoring/history", params={"range": "5m", "step": "2s"})).json()
                peak = max((v for v in h["last"]["reconnects"] if v is not None), default=None)
                return h if peak is not None and peak > ENV["WARN_RECONNECTS_PER_SECOND"] else None
            h = await wait_for(in_history, 20, "the storm's reconnect rate in the history", interval=0.5)
            assert any(a["type"] == "reconnect_storm" for a in h["alerts"]), h["alerts"]
            peak = max(v for v in h["last"]["connects"] if v is not None)
            print(f"history: peak {peak} connects/s")
    finally:
        for b in browsers:
            b.task.cancel()
        for b in browsers:
            with contextlib.suppress(BaseException):
                await b.task

