"""Blast radius (issue 27): kill -9 of a worker with 60 streams; 45 of its clients come back
to the surviving worker (as EventSource does, some with ``Last-Event-ID``), 15 do not. The
death event on ``/monitoring`` names 60 cut, 45 back (within one flush of the last one's
return), their median time, and the 15 not back by user agent.

Real worker processes (``uvicorn core.demo:fleet_app``) on a real redis-server, real clients
on raw sockets, each with a user agent of its own (one client key each: same address).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from typing import Any

import httpx

from .conftest import wait_for
from .test_truth import DEFAULTS

CUT, BACK = 60, 45


class Client:
    """One SSE client on ``port``; once its stream ends, it comes back (if ``comes_back``)
    0.1-2 s later to ``back_port``, with Last-Event-ID when it saw an id."""

    def __init__(self, i: int, port: int, back_port: int, comes_back: bool) -> None:
        self.ua = f"blast-client-{i}"
        self.port, self.back_port, self.comes_back = port, back_port, comes_back
        self.last_id: str | None = None
        self.live = asyncio.Event()
        self.back_at: float | None = None  # monotonic: its stream on the surviving worker started
        self.task = asyncio.create_task(self.run())

    async def _stream(self, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        resume = f"Last-Event-ID: {self.last_id}\r\n" if self.last_id else ""
        writer.write(f"GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nUser-Agent: {self.ua}\r\n"
                     f"{resume}\r\n".encode())
        try:
            buf = b""
            while chunk := await reader.read(65536):
                if not self.live.is_set():
                    self.live.set()
                    if port == self.back_port:
                        self.back_at = time.monotonic()
                buf = (buf + chunk)[-4096:]
                for line in buf.split(b"\n"):
                    if line.startswith(b"id: "):
                        self.last_id = line[4:].strip().decode()
        except OSError:
            pass
        finally:
            writer.close()
            self.live.clear()

    async def run(self) -> None:
        await self._stream(self.port)
        if self.comes_back:
            await asyncio.sleep(random.uniform(0.1, 2.0))
            await self._stream(self.back_port)


def _death(snap: dict[str, Any] | None) -> dict[str, Any] | None:
    if snap is None:
        return None
    return next((e for e in snap["recent_events"] if e["type"] == "death" and e.get("blast")), None)


async def test_kill_9_the_event_names_who_was_cut_and_who_came_back(redis_url, namespace, workers):
    env = {**DEFAULTS, "BLAST_WINDOW_SECONDS": 10}
    victim, survivor = workers(redis_url, namespace, **env), workers(redis_url, namespace, **env)
    await victim.wait_ready()
    await survivor.wait_ready()
    clients = [Client(i, victim.port, survivor.port, i < BACK) for i in range(CUT)]
    async with httpx.AsyncClient(timeout=5) as http:
        async def snap() -> dict[str, Any] | None:
            with contextlib.suppress(httpx.HTTPError):
                r = await http.get(survivor.base_url + "/monitoring")
                return r.json() if r.status_code == 200 else None
            return None

        try:
            await asyncio.wait_for(asyncio.gather(*(c.live.wait() for c in clients)), 30)

            async def all_in() -> dict[str, Any] | None:
                s = await snap()
                return s if s and s["connection_stats"]["active_connections"] == CUT else None
            await wait_for(all_in, 20, "60 streams registered")

            victim.signal(signal.SIGKILL)
            killed = time.monotonic()
            await asyncio.to_thread(victim.proc.wait, 10)

            async def all_back() -> bool:
                return all(c.back_at is not None for c in clients[:BACK])
            await wait_for(all_back, 30, "45 clients back on the surviving worker")
            last_back = max(c.back_at or 0.0 for c in clients[:BACK])

            seen_back: list[int] = []

            async def counted() -> dict[str, Any] | None:
                e = _death(await snap())
                if e is not None:
                    seen_back.append(e["blast"]["back"])
                return e if e is not None and e["blast"]["back"] == BACK else None
            event = await wait_for(counted, 30, "the death event counts 45 back")
            lag = time.monotonic() - last_back
            assert max(seen_back) <= BACK, seen_back  # never more than came back

            async def closed() -> dict[str, Any] | None:
                e = _death(await snap())
                return e if e is not None and not e["blast"]["open"] else None
            event = await wait_for(closed, 30, "the window over")
            b = event["blast"]
            print(f"\nkill -9 of a worker with {CUT} streams: {b['summary']}; the event showed all {BACK} back "
                  f"{lag:.2f}s after the last one's stream started (flush {DEFAULTS['TOUCH_FLUSH_INTERVAL_SECONDS']}s); "
                  f"event at {event['at']:.1f}, killed {time.monotonic() - killed:.1f}s ago")
            assert (b["cut"], b["back"], b["not_back"], b["listed"]) == (CUT, BACK, CUT - BACK, CUT)
            assert event["count"] == CUT
            assert {c["user_agent"] for c in b["not_back_clients"]} == {c.ua for c in clients[BACK:]}
            assert all(c["channel"] == "default" and c["age_seconds"] >= 0 for c in b["not_back_clients"])
            assert b["median_back_seconds"] is not None and 0.1 <= b["median_back_seconds"] <= 10, b
            assert b["summary"].startswith(f"{CUT} streams cut; {BACK} back within 10 s, median "), b["summary"]
            assert b["summary"].endswith(f"; {CUT - BACK} not back"), b["summary"]
            # within one flush of the last comeback (+1.5 s: the snapshot cache and a busy machine)
            assert lag <= DEFAULTS["TOUCH_FLUSH_INTERVAL_SECONDS"] + 1.5, lag
        finally:
            for c in clients:
                c.task.cancel()
            await asyncio.gather(*(c.task for c in clients), return_exceptions=True)
