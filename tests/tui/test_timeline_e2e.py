"""The postmortem timeline of a scripted incident (issue 27), end to end: real worker
processes (``uvicorn core.demo:fleet_app``) on a real redis-server of the test's own, real
SSE clients on raw sockets, and, one after the other, a cleanup an operator asks for
(through the API; it removes three clients that vanished), a disconnect through the API,
a worker killed with SIGKILL (its fleet-mate on this host reaps it within a flush) and a
pause of Redis (SIGSTOP). Then ``sse-dash --url … --timeline`` as a process of its own, and
``t`` in the dashboard in a real terminal (tmux): each happening is a row with the right
time (UTC and the operator's zone), count, duration and the numbers before and after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from tests.service.conftest import close_clients, open_clients, wait_for
from tests.tui.test_terminal_e2e import SSE_DASH, Tmux, cli, until

TOKEN = "tok-timeline"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ENV = dict(HISTORY_INTERVAL_SECONDS=2, WORKER_HEARTBEAT_TTL_SECONDS=3, PERIODIC_CLEANUP_ENABLED="false",
           MONITORING_TOKEN=TOKEN, DEMO_GHOSTS=1, REDIS_TIMEOUT_SECONDS=0.5)
BERLIN = ZoneInfo("Europe/Berlin")
SLACK = 3.0  # seconds: an event is stamped by the worker that did it, within a flush or two of what caused it


def rows_of(md: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split(" | ")]
            for line in md.splitlines() if line.startswith("| ") and not line.startswith("| #")]


def hms(t: float, tz=UTC) -> str:
    return datetime.fromtimestamp(t, tz).strftime("%H:%M:%S")


def at_between(cell: str, lo: float, hi: float) -> bool:
    """The row's start time (``HH:MM:SS`` or ``HH:MM:SS–HH:MM:SS``) lies in [lo, hi] (UTC)."""
    first = cell.split("–")[0][-8:]  # (a range over two dates carries the date: MM-DD HH:MM:SS)
    return any(hms(t) == first for t in range(int(lo), int(hi) + 1))


def count_of(cell: str, none_back: bool = True) -> str:
    """The count cell without its blast radius ("3 removed; 0 back within 10 s, 3 not back");
    ``none_back``: the clients cut never come back, so a blast part must say 0 back."""
    count, _, blast = cell.partition("; ")
    assert not blast or not none_back or blast.startswith("0 back"), cell
    return count


def active_of(cell: str) -> int:
    assert cell[0].isdigit(), cell
    return int(cell.split()[0])


async def history_active(http: httpx.AsyncClient, base: str, after: float = 0.0) -> int | None:
    """The connections in the newest complete bucket of the history that began at ``after``
    or later (None: none known)."""
    h = (await http.get(base + "/monitoring/history", params={"range": "5m", "step": "2s"})).json()
    known = [v for t, v, c in zip(h["times"], h["last"]["active"], h["coverage"], strict=True)
             if c == "ok" and v is not None and t + h["step"] <= h["end"] and t >= after]
    return known[-1] if known else None


async def sampled(http: httpx.AsyncClient, base: str, n: int, what: str, timeout: float = 30,
                  after: float = 0.0) -> None:
    """Wait until the history's newest complete bucket (from ``after`` on) holds ``n``
    connections (the timeline's "before" of what comes next reads a bucket that ended
    before it; its "after", one that began after)."""
    async def ok() -> bool:
        return await history_active(http, base, after) == n
    await wait_for(ok, timeout, what, interval=0.3)


async def test_the_timeline_of_a_cleanup_a_disconnect_a_kill_and_a_redis_pause(own_redis, namespace, workers,
                                                                                tmp_path) -> None:
    mate = workers(own_redis.url, namespace, **ENV)
    victim = workers(own_redis.url, namespace, **ENV)
    await asyncio.gather(mate.wait_ready(), victim.wait_ready())
    clients = await open_clients("127.0.0.1", mate.port, 5) + await open_clients("127.0.0.1", victim.port, 4)
    base = mate.base_url
    ghosts: list[asyncio.Task[httpx.Response]] = []
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            await sampled(http, base, 9, "9 streams in the history")

            # 1. three clients vanish without closing; an operator's cleanup removes them
            slow = httpx.AsyncClient(timeout=60)
            ghosts = [asyncio.create_task(slow.get(base + "/demo/vanish", params={"i": str(i)})) for i in range(3)]
            await sampled(http, base, 12, "the 3 vanished clients in the history")
            async def three_stale() -> bool:  # (a cleanup removes only what is stale)
                page = (await http.get(base + "/monitoring/connections", params={"state": "stale"})).json()
                return page["total"] == 3
            await wait_for(three_stale, 20, "the 3 vanished clients stale", interval=0.3)
            t_cleanup = time.time()
            r = await http.post(base + "/monitoring/cleanup", headers=AUTH, json={})
            assert r.status_code == 200 and r.json()["cleaned"] == 3, r.text
            t_cleanup_done = time.time()
            answers = await asyncio.gather(*ghosts)
            assert all(a.json()["removed"] for a in answers)
            await slow.aclose()
            # a whole bucket that began after the cleanup (its "after" is read from the first such
            # bucket; under load the next event could otherwise land in it)
            await sampled(http, base, 9, "9 again after the cleanup", after=t_cleanup_done + 0.5)

            # 2. an operator disconnects one of the mate's streams through the API
            page = (await http.get(base + "/monitoring/connections", params={"limit": 50})).json()
            mine = next(c for c in page["connections"] if c["worker_id"].endswith(f":{mate.proc.pid}")
                        or str(mate.proc.pid) in c["worker_id"])
            t_disconnect = time.time()
            r = await http.delete(f"{base}/monitoring/connections/{mine['connection_id']}", headers=AUTH)
            assert r.status_code == 200 and r.json()["removed"], r.text
            await sampled(http, base, 8, "8 after the disconnect", after=t_disconnect + 0.5)

            # 3. kill -9 the victim (4 streams): its fleet-mate on this host reaps it
            t_kill = time.time()
            victim.signal(signal.SIGKILL)
            await sampled(http, base, 4, "4 after the death", after=time.time() + 0.5)
            t_reaped = time.time()

            # 4. Redis hangs for 6 s
            t_pause = time.time()
            own_redis.pause()
            try:
                await asyncio.sleep(6)
            finally:
                own_redis.resume()
            t_resume = time.time()

            async def outage_marked() -> bool:
                h = (await http.get(base + "/monitoring/history", params={"range": "5m", "step": "2s"})).json()
                return any(m["type"] == "outage" for m in h["marks"])
            await wait_for(outage_marked, 30, "the outage marked in the history", interval=0.3)
            await sampled(http, base, 4, "4 known again after the outage", after=t_resume + 2)  # (its end: a flush later)

        # the timeline, as an operator writes it: a process of its own, Berlin beside UTC
        out = tmp_path / "incident.md"
        res = await cli("--url", base + "/monitoring", "--timeline", "5m", "--step", "2s", "--tz", "Europe/Berlin",
                        "--output", str(out))
        assert res.returncode == 0, res.stderr
        assert oct(out.stat().st_mode & 0o777) == "0o600"
        md = out.read_text()
        print("\n" + md)
        assert "| # | UTC | Europe/Berlin | what | count | duration | before | after |" in md
        rows = rows_of(md)

        def row(what: str) -> list[str]:
            found = [r for r in rows if what in r[3]]
            assert len(found) == 1, (what, found)
            return found[0]

        cleanup = row("cleanup on request (operator)")
        assert count_of(cleanup[4]) == "3 removed" and at_between(cleanup[1], t_cleanup - 1, t_cleanup_done + 1), cleanup
        assert active_of(cleanup[-2]) == 12 and active_of(cleanup[-1]) == 9, cleanup

        disconnect = row("disconnect (operator)")
        assert count_of(disconnect[4]) == "1 closed" and at_between(disconnect[1], t_disconnect - 1, t_disconnect + SLACK)
        assert mine["connection_id"][:40] in disconnect[3].replace("\\", "")
        assert active_of(disconnect[-2]) == 9 and active_of(disconnect[-1]) == 8, disconnect

        death = row("worker death")
        assert count_of(death[4], none_back=False) == "4 cut" and at_between(death[1], t_kill - 1, t_reaped + 1), (death, t_kill, t_reaped)
        assert str(victim.proc.pid) in death[3]
        assert active_of(death[-2]) == 8 and active_of(death[-1]) == 4, death

        outage = row("store outage")
        start, _, end = outage[1].partition("–")
        assert at_between(start, t_pause - SLACK, t_pause + SLACK), (outage, t_pause)
        assert at_between(end, t_resume - SLACK, t_resume + SLACK), (outage, t_resume)
        seconds = float(outage[5].rstrip("s"))  # a span under a minute reads "6.2s" / "12s"
        assert abs(seconds - (t_resume - t_pause)) <= 2 * SLACK, (outage, t_resume - t_pause)
        assert active_of(outage[-2]) == 4 and active_of(outage[-1]) == 4, outage
        assert any("`state_store_unavailable`" in r[3] for r in rows), rows

        for r in (cleanup, disconnect, death, outage):  # the operator's zone: Berlin is UTC+1 in winter, +2 in summer
            utc = datetime.strptime(r[1].split("–")[0][-8:], "%H:%M:%S")
            local = datetime.strptime(r[2].split("–")[0][-8:], "%H:%M:%S")
            offset = datetime.fromtimestamp(t_kill, BERLIN).utcoffset()
            assert offset is not None and (local - utc).total_seconds() % 86400 == offset.total_seconds() % 86400, r
        starts = [r for r in rows if r[3] in (cleanup[3], disconnect[3], death[3], outage[3])]
        assert starts == [cleanup, disconnect, death, outage]  # in the order they happened
        assert "1 store outage" in md and "1 worker death (4 streams cut)" in md and "1 disconnect (1 closed)" in md
        assert TOKEN not in md

        # the same timeline straight from the store (sse-dash --redis: FleetReader.history)
        res = await cli("--redis", own_redis.url, "--namespace", namespace, "--timeline", "5m", "--step", "2s",
                        "--tz", "Europe/Berlin")
        assert res.returncode == 0, res.stderr
        again = rows_of(res.stdout)
        for r in (cleanup, disconnect, death, outage):
            assert [x[1:] for x in again if x[3] == r[3]] == [r[1:]], (r, again)
    finally:
        for g in ghosts:
            g.cancel()
        await close_clients(clients)


async def test_t_in_the_dashboard_writes_the_timeline_in_a_real_terminal(redis_url, namespace, workers,
                                                                        tmp_path) -> None:
    """``t`` in a real terminal (tmux, 100x30): the notification names the file, the file
    holds the disconnect made through the API, in UTC and in the zone of $TZ."""
    worker = workers(redis_url, namespace, **ENV)
    await worker.wait_ready()
    clients = await open_clients("127.0.0.1", worker.port, 2)
    term = None
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            page = (await http.get(worker.base_url + "/monitoring/connections")).json()
            cid = page["connections"][0]["connection_id"]
            r = await http.delete(f"{worker.base_url}/monitoring/connections/{cid}", headers=AUTH)
            assert r.status_code == 200 and r.json()["removed"], r.text
        command = " ".join(SSE_DASH + ["--url", worker.base_url + "/monitoring", "--interval", "0.5"])
        term = Tmux(["sh", "-c", f"cd {tmp_path} && TZ=Asia/Tokyo exec {command}"], size=(100, 30))
        await until(lambda: "updated" in term.screen(), 60, "the dashboard on screen")
        term.keys("t")
        screen = await until(lambda: "written to" in (s := term.screen().replace("\n", " ")) and s, 30,
                             "the notification naming the file")
        files = await until(lambda: sorted(Path(tmp_path).glob("sse-dash-timeline-*.md")), 10, "the file")
        md = files[0].read_text()
        assert "timeline of the last 1h" in screen
        assert oct(os.stat(files[0]).st_mode & 0o777) == "0o600"
        assert "| # | UTC | Asia/Tokyo | what |" in md, md
        [disconnect] = [r for r in rows_of(md) if "disconnect (operator)" in r[3]]
        assert count_of(disconnect[4]) == "1 closed" and cid[:40] in disconnect[3].replace("\\", "")
        utc = datetime.strptime(disconnect[1][-8:], "%H:%M:%S")
        tokyo = datetime.strptime(disconnect[2][-8:], "%H:%M:%S")
        assert (tokyo - utc).total_seconds() % 86400 == 9 * 3600
        assert term.alive() and "Traceback" not in term.screen()
    finally:
        if term is not None:
            term.kill_session()
        with contextlib.suppress(Exception):
            await close_clients(clients)
