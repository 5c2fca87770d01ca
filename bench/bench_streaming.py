"""Tracked streaming vs bare sse-starlette, same uvicorn, same machine.

    python bench/bench_streaming.py                 # 2,000 clients x 10 events/s, 6 rounds of 30 s phases
    python bench/bench_streaming.py --quick         # 300 clients, 5 s per phase
    python bench/bench_streaming.py --clients 1000 --duration 30 --redis-url redis://127.0.0.1:6379/0
    python bench/bench_streaming.py --together --duration 20 --idle 0   # both servers at once on one CPU
    python bench/bench_streaming.py --together --duration 20 --idle 0 --http httptools   # uvicorn[standard]
    python bench/bench_streaming.py --together --duration 20 --idle 0 --compare /bare,/bare   # the A/A check
    python bench/bench_streaming.py --together --duration 20 --idle 0 --compare /bare,/bare --env-other BENCH_GC=freeze

Rounds run the two servers one after the other (alternating the order), or with
``--together`` at the same time on the same CPU, so that a shared machine's changing
speed hits both alike (the round ratios then agree within about 1.5 %; see servers_phase).

Each phase runs a fresh server process (uvicorn, one worker, RedisStore manager) so RSS
deltas are comparable; clients are raw asyncio sockets in this process. Figures:

* delivered events/s (tracked / bare ratio), p50/p99 delivery latency (server yield -> client read)
* server RSS per connection (RSS with N streams - RSS before, / N)
* Redis commands/s per 1,000 idle tracked connections (INFO deltas, baseline subtracted),
  next to what one round trip per ping would cost (1000 / ping interval)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# -- server side ---------------------------------------------------------------------
def make_app(rate: float):
    from sse_starlette.sse import EventSourceResponse
    from starlette.requests import Request
    from starlette.routing import Route

    from core.asgi import create_app
    from core.config import load_config
    from core.manager import ConnectionManager
    from core.provider import make_store
    from core.streaming import tracked_event_source

    cfg = load_config()
    manager = ConnectionManager(make_store(cfg), cfg)
    interval = 1.0 / rate

    async def ticks():
        import random
        await asyncio.sleep(random.random() * interval)  # random phase: no lock-step bursts in either mode
        while True:
            yield {"data": f"{time.time():.6f}"}
            await asyncio.sleep(interval)

    async def idle_gen():
        await asyncio.Event().wait()
        yield {}

    async def bare(request: Request):
        return EventSourceResponse(ticks(), ping=cfg.PING_INTERVAL_SECONDS, send_timeout=cfg.SEND_TIMEOUT_SECONDS)

    async def tracked(request: Request):
        return tracked_event_source(request, ticks(), manager=manager, channel="bench")

    # diagnostic variant (--together --compare /bare,/wrapped and /wrapped,/tracked): the
    # cost of the two ASGI wrappers alone, then of the rest (registration, manager, socket
    # table). BENCH_WRAP=send|receive keeps only one of the two wrappers.
    class Wrapped(EventSourceResponse):
        """Stock plus tracking's two ASGI wrappers (counting send, watched receive), no manager."""

        def __init__(self, *a: Any, **k: Any) -> None:
            super().__init__(*a, **k)
            self.events_sent = self.bytes_sent = 0

        def _send_counted(self, message: dict) -> Any:
            body = message.get("body")
            if body:
                self.bytes_sent += len(body)
                if body[0] != 58:
                    self.events_sent += 1
            return self._send(message)

        async def _receive_watched(self) -> dict:
            return await self._receive()

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            self._send, self._receive = send, receive
            which = os.environ.get("BENCH_WRAP", "both")
            await super().__call__(scope, self._receive_watched if which in ("both", "receive") else receive,
                                   self._send_counted if which in ("both", "send") else send)

    async def wrapped(request: Request):
        return Wrapped(ticks(), ping=cfg.PING_INTERVAL_SECONDS, send_timeout=cfg.SEND_TIMEOUT_SECONDS)

    async def idle(request: Request):
        return tracked_event_source(request, idle_gen(), manager=manager, channel="idle")

    gc_clock = GcClock()

    async def gc_stats(request: Request):
        from starlette.responses import JSONResponse
        return JSONResponse(gc_clock.stats())

    return create_app(manager, routes=[Route("/bare", bare), Route("/tracked", tracked), Route("/idle", idle),
                                       Route("/wrapped", wrapped),
                                       Route("/bench/gc", gc_stats)])


class GcClock:
    """Time the server spends in the cyclic collector, per generation (gc.callbacks).

    A full (generation 2) collection of a server holding 2,000 streams walks ~500,000
    objects and stops the event loop for about half a second, every 6-7 s under this
    load, in either mode. Whether a 10 s window holds one or two of them moved a phase's
    figures by +-5 %: each phase reports how many it held and their time, so the rounds
    can be read (and the phases are long enough to hold several)."""

    def __init__(self) -> None:
        import collections
        import gc
        self.seconds = [0.0, 0.0, 0.0]
        self.count = [0, 0, 0]
        self._start = 0.0
        # --census (env BENCH_GC_CENSUS=1): at every third young (generation 1) collection,
        # count the objects of generations 0 and 1 by type. Those alive then are promoted
        # to the oldest generation, and promotions are what bring the next full collection
        # (costly: it walks them all; diagnostic only, off for the figures)
        self.census: collections.Counter[str] | None = collections.Counter() if os.environ.get("BENCH_GC_CENSUS") else None
        self.census_samples = 0
        self._young = 0
        gc.callbacks.append(self._cb)

    def _cb(self, phase: str, info: dict) -> None:
        if phase == "start":
            if self.census is not None and info["generation"] == 1:
                self._count_young()
            self._start = time.perf_counter()
        else:
            g = info["generation"]
            self.seconds[g] += time.perf_counter() - self._start
            self.count[g] += 1

    def _count_young(self) -> None:
        import gc
        self._young += 1
        if self._young % 3 or self.census is None:
            return
        self.census_samples += 1
        for generation in (0, 1):
            self.census.update(type(o).__qualname__ for o in gc.get_objects(generation=generation))

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"seconds": list(self.seconds), "count": list(self.count)}
        if self.census is not None:
            out["census"] = dict(self.census)
            out["census_samples"] = self.census_samples
        return out


def serve(port: int, rate: float) -> None:
    import gc

    import uvicorn
    app = make_app(rate)
    how = os.environ.get("BENCH_GC", "")
    if how == "off":  # diagnostic: take the cyclic collector out of the comparison
        gc.disable()
    if "threshold=" in how:  # e.g. BENCH_GC=threshold=10000,50,100 (gc.set_threshold)
        gc.set_threshold(*(int(x) for x in how.split("threshold=", 1)[1].split("+")[0].split(",")))
    if "freeze" in how:
        # the advice of docs/benchmarks.md: after start-up (everything imported, the app
        # built), move what exists to the permanent generation, so full collections no
        # longer walk it (uvicorn's own start-up objects follow in the first collections)
        gc.collect()
        gc.freeze()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", backlog=4096,
                timeout_graceful_shutdown=5, http=os.environ.get("BENCH_HTTP", "h11"))


# -- client side ---------------------------------------------------------------------
class Stats:
    def __init__(self) -> None:
        self.events = 0
        self.latencies: list[float] = []
        self.measuring = False


async def client(host: str, port: int, path: str, st: Stats, ready: asyncio.Event | None, stop: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode())
    buf = b""
    try:
        while b"\r\n\r\n" not in buf:
            buf += await reader.read(4096)
        if ready is not None:
            ready.set()
        rest = buf.split(b"\r\n\r\n", 1)[1]
        while not stop.is_set():
            chunk = rest or await reader.read(65536)
            rest = b""
            if not chunk:
                return
            if st.measuring:
                now = time.time()
                n = chunk.count(b"data: ")
                st.events += n
                i = chunk.rfind(b"data: ")
                if i >= 0:  # latency of the newest event in this read
                    with contextlib.suppress(ValueError):
                        st.latencies.append(now - float(chunk[i + 6:chunk.index(b"\r\n", i)]))
    finally:
        writer.close()


async def open_many(host: str, port: int, path: str, n: int, st: Stats, stop: asyncio.Event) -> list[asyncio.Task]:
    tasks = []
    for start in range(0, n, 200):
        readies = []
        for _ in range(min(200, n - start)):
            ev = asyncio.Event()
            readies.append(ev)
            tasks.append(asyncio.create_task(client(host, port, path, st, ev, stop)))
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in readies)), 60)
    return tasks


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# With two CPUs or more the server gets a CPU of its own and this process (the clients)
# and redis-server share another: otherwise the scheduler moves the server and the clients
# between the cores differently from phase to phase, and a phase's figures depend on that
# more than on the code under test. CPUS holds (server CPU, clients' CPU), or None.
CPUS: tuple[int, int] | None = None


def pin_cpus() -> tuple[int, int] | None:
    global CPUS
    avail = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(avail) >= 2:
        CPUS = (avail[0], avail[1])
        os.sched_setaffinity(0, {CPUS[1]})
    return CPUS


def _pinned(pid: int, cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(pid, {cpu})


class ServerProc:
    def __init__(self, rate: float, env: dict[str, str]) -> None:
        self.env = env
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", str(self.port), "--rate", str(rate)],
                                     env={**os.environ, **env}, cwd=str(ROOT))
        _pinned(self.proc.pid, CPUS[0] if CPUS else None)

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                r, w = await asyncio.open_connection("127.0.0.1", self.port)
                w.write(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
                ok = b" 200 " in await r.read(200)
                w.close()
                if ok:
                    return
            await asyncio.sleep(0.1)
        raise RuntimeError("bench server did not start")

    async def gc_stats(self) -> dict[str, Any]:
        import json
        r, w = await asyncio.open_connection("127.0.0.1", self.port)
        w.write(b"GET /bench/gc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = await r.read()
        w.close()
        return json.loads(raw.split(b"\r\n\r\n", 1)[1])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def stream_phase(path: str, n: int, duration: float, rate: float, env: dict[str, str]) -> dict[str, Any]:
    """One server alone, n clients, one measured window."""
    return (await servers_phase((path,), n, duration, rate, env))[0]


def figures(st: Stats, n: int, rate: float, elapsed: float, cpu: float, rss0: int, rss1: int,
            gc0: dict[str, Any], gc1: dict[str, Any], sys_cpu: float = 0.0) -> dict[str, Any]:
    """One server's figures for one measured window (cpu: its CPU seconds in the window;
    sys_cpu: the part of them in the kernel)."""
    lat = sorted(st.latencies) or [float("nan")]
    return {
        "events_per_s": st.events / elapsed,
        "expected_per_s": n * rate,
        "p50_ms": statistics.median(lat) * 1000,
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
        "rss_per_conn_kib": (rss1 - rss0) / n,
        "rss_mib": rss1 / 1024,
        "server_cpu_pct": 100 * cpu / elapsed,
        "us_per_event": cpu / max(st.events, 1) * 1e6,
        "user_us_per_event": (cpu - sys_cpu) / max(st.events, 1) * 1e6,
        "sys_us_per_event": sys_cpu / max(st.events, 1) * 1e6,
        "gc_pct": 100 * (sum(gc1["seconds"]) - sum(gc0["seconds"])) / max(cpu, 1e-9),
        "full_gcs": gc1["count"][2] - gc0["count"][2],
        "gc_counts": [b - a for a, b in zip(gc0["count"], gc1["count"], strict=True)],
        "gc_seconds": [b - a for a, b in zip(gc0["seconds"], gc1["seconds"], strict=True)],
        "census": young_per_collection(gc0, gc1),
    }


async def servers_phase(paths: tuple[str, ...], n: int, duration: float, rate: float,
                        env: dict[str, str]) -> list[dict[str, Any]]:
    """A fresh server per path, each with its own n clients, measured in ONE window.

    With two paths (--together) the bare and the tracked server run AT THE SAME TIME,
    both pinned to the same CPU. Both are saturated, so the scheduler splits that CPU
    between them, and whatever the machine does during the window (a neighbour on the
    host, a frequency change) hits both alike: the ratios of one window compare the code,
    not two moments of a shared machine. Per-event CPU is each server's own CPU time over
    its own delivered events."""
    keys = range(len(paths))  # by position: the same path twice is the A/A check of --together
    envs = env_for(paths, env)
    srvs = {k: ServerProc(rate, envs[k]) for k in keys}
    for srv in srvs.values():
        await srv.wait_ready()
    await asyncio.sleep(1.0)
    rss0 = {k: rss_kib(s.proc.pid) for k, s in srvs.items()}
    sts = {k: Stats() for k in keys}
    stop = asyncio.Event()
    tasks: list[asyncio.Task] = []
    for start in range(0, n, 200):  # open the fleets in step, 200 at a time each
        for k in keys:
            tasks += await open_many("127.0.0.1", srvs[k].port, paths[k], min(200, n - start), sts[k], stop)
    await asyncio.sleep(2.0)  # settle
    gc0 = {k: await s.gc_stats() for k, s in srvs.items()}
    cpu0 = {k: cpu_seconds(s.proc.pid) for k, s in srvs.items()}
    sys0 = {k: cpu_seconds(s.proc.pid, system=True) for k, s in srvs.items()}
    for st in sts.values():
        st.measuring = True
    t0 = time.perf_counter()
    await asyncio.sleep(duration)
    for st in sts.values():
        st.measuring = False
    elapsed = time.perf_counter() - t0
    cpu1 = {k: cpu_seconds(s.proc.pid) for k, s in srvs.items()}
    sys1 = {k: cpu_seconds(s.proc.pid, system=True) for k, s in srvs.items()}
    gc1 = {k: await s.gc_stats() for k, s in srvs.items()}
    rss1 = {k: rss_kib(s.proc.pid) for k, s in srvs.items()}
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for srv in srvs.values():
        srv.stop()
    return [figures(sts[k], n, rate, elapsed, cpu1[k] - cpu0[k], rss0[k], rss1[k], gc0[k], gc1[k],
                    sys1[k] - sys0[k]) for k in keys]


# --env-other KEY=VALUE: environment for the server of the second path of --compare only
# (e.g. BENCH_GC=freeze against the same code without it); set by main_async
ENV_OTHER: dict[str, str] = {}
OTHER_PATH: str | None = None


def env_for(paths: tuple[str, ...], env: dict[str, str]) -> list[dict[str, str]]:
    """Each server's environment: the shared one, plus --env-other for the server of the
    compared path (the second of --compare; the swap moves it with its path). With the
    same path twice (an A/B of an environment), the second position of the round."""
    out = [dict(env) for _ in paths]
    if ENV_OTHER:
        if len(set(paths)) == len(paths):
            for i, p in enumerate(paths):
                if p == OTHER_PATH:
                    out[i].update(ENV_OTHER)
        else:
            out[SWAPPED_OTHER].update(ENV_OTHER)
    return out


SWAPPED_OTHER = 1  # position of the --env-other server when both paths are the same (swapped every round)


def young_per_collection(gc0: dict[str, Any], gc1: dict[str, Any]) -> dict[str, float]:
    """--census: objects of each type alive at a sampled young collection of the window."""
    samples = gc1.get("census_samples", 0) - gc0.get("census_samples", 0)
    if samples <= 0:
        return {}
    before = gc0.get("census", {})
    return {k: (v - before.get(k, 0)) / samples for k, v in gc1.get("census", {}).items()}


def cpu_seconds(pid: int, *, system: bool = False) -> float:
    """utime + stime of a process (from /proc), in seconds (``system``: stime alone, the
    time in the kernel: its socket writes, reads and the socket table's dumps)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[12]) if system else int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def redis_info(url: str) -> dict[str, int]:
    import redis
    r = redis.Redis.from_url(url)
    try:
        info = r.info("all")
    finally:
        r.close()
    out = {"total": int(info["total_commands_processed"])}
    for k, v in info.items():
        if k.startswith("cmdstat_"):
            out[k[8:]] = int(v["calls"])
    return out


async def idle_phase(n: int, window: float, url: str, env: dict[str, str], ping: float) -> dict[str, float]:
    srv = ServerProc(1.0, {**env, "SSE_PING_INTERVAL_SECONDS": str(ping)})
    await srv.wait_ready()
    await asyncio.sleep(1.0)

    async def rate() -> tuple[float, float]:
        a = redis_info(url)
        await asyncio.sleep(window)
        b = redis_info(url)
        total = (b["total"] - a["total"] - 2) / window  # minus our own two INFO calls
        trips = sum(b.get(k, 0) - a.get(k, 0) for k in ("evalsha", "eval")) / window
        deltas = sorted(((b[k] - a.get(k, 0)) / window, k) for k in b if k != "total")
        breakdown.append(", ".join(f"{k} {v:.1f}/s" for v, k in reversed(deltas[-6:]) if v > 0)
)
        return total, trips

    breakdown: list[str] = []

    base_total, base_trips = await rate()
    st, stop = Stats(), asyncio.Event()
    tasks = await open_many("127.0.0.1", srv.port, "/idle", n, st, stop)
    await asyncio.sleep(ping + 1)
    total, trips = await rate()
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    srv.stop()
    per_k = 1000 / n
    return {"commands_per_s_per_1k": (total - base_total) * per_k, "lua_calls_per_s": trips,
            "baseline_commands_per_s": base_total, "per_ping_round_trips_per_1k": 1000 / ping,
            "breakdown": breakdown[-1]}


async def main_async(args: argparse.Namespace) -> None:
    redis_proc = None
    url = args.redis_url
    if url is None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("need redis-server on PATH or --redis-url")
        port = free_port()
        redis_proc = subprocess.Popen([binary, "--port", str(port), "--save", "", "--appendonly", "no",
                                       "--dir", tempfile.mkdtemp(), "--loglevel", "warning"], stdout=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        await asyncio.sleep(0.5)
    env = {"SSE_REDIS_URL": url, "SSE_REDIS_NAMESPACE": f"bench{os.getpid()}", "SSE_LOG_LEVEL": "WARNING"}
    if args.census:
        env["BENCH_GC_CENSUS"] = "1"
    global ENV_OTHER, OTHER_PATH
    OTHER_PATH = args.compare.split(",")[1]
    ENV_OTHER = dict(kv.split("=", 1) for kv in args.env_other)
    env["BENCH_HTTP"] = args.http
    if args.count_events is not None:
        env["SSE_COUNT_EVENTS"] = "true" if args.count_events == "on" else "false"
    if args.gc:
        env["BENCH_GC"] = args.gc
    if args.pin and pin_cpus() and redis_proc is not None:
        _pinned(redis_proc.pid, CPUS[1])  # type: ignore[index]
    try:
        print(f"# bench_streaming: {args.clients} clients x {args.rate:g} events/s, {args.duration:g}s per phase, "
              f"{os.cpu_count()} CPUs, python {sys.version.split()[0]}, uvicorn --http {args.http}, "
              f"SSE_COUNT_EVENTS={env.get('SSE_COUNT_EVENTS', os.environ.get('SSE_COUNT_EVENTS', 'default (off)'))}, "
              f"BENCH_GC={env.get('BENCH_GC', '-')}, env of {OTHER_PATH} only: {ENV_OTHER or '-'}, "
              + (f"{'both servers at once' if args.together else 'server'} on CPU {CPUS[0]}, clients and redis-server "
                 f"on CPU {CPUS[1]}" if CPUS else "not pinned"),
              flush=True)
        # warm-up phase (discarded): the first server/client pair in a run is measurably slower
        await stream_phase("/bare", min(args.clients, 200), 1.0, args.rate, env)
        # rounds alternate the order (bare,tracked / tracked,bare ...) so drift on a shared
        # machine hits both modes alike; the figures are medians over the rounds
        runs: dict[str, list[dict[str, float]]] = {"/bare": [], "/tracked": []}
        ratios: list[float] = []
        cpu_ratios: list[float] = []
        for r in range(args.rounds):
            order = ("/bare", "/tracked") if r % 2 == 0 else ("/tracked", "/bare")
            global SWAPPED_OTHER
            SWAPPED_OTHER = 0 if r % 2 == 1 else 1
            if args.together:
                # the two swap places every round (which server starts and gets its
                # clients first): the A/A check (--compare /bare,/bare) favours the
                # second by about 1 %, which the swap cancels in the median
                base, other = args.compare.split(",")
                swap = r % 2 == 1
                pair = await servers_phase((other, base) if swap else (base, other), args.clients, args.duration,
                                           args.rate, env)
                got = {"/bare": pair[1 if swap else 0], "/tracked": pair[0 if swap else 1]}
            else:
                got = {p: await stream_phase(p, args.clients, args.duration, args.rate, env) for p in order}
            for p in order:
                runs[p].append(got[p])
            ratios.append(got["/tracked"]["events_per_s"] / got["/bare"]["events_per_s"])
            cpu_ratios.append(got["/tracked"]["us_per_event"] / got["/bare"]["us_per_event"])
            b_, t_ = got["/bare"], got["/tracked"]
            la, lb = (x.lstrip("/") for x in (args.compare.split(",") if args.together else ("/bare", "/tracked")))
            print(f"  round {r + 1}: {la} {b_['events_per_s']:.0f} ev/s {b_['us_per_event']:.1f} us/ev "
                  f"(gc {b_['gc_pct']:.1f} %, {b_['full_gcs']} full), {lb} {t_['events_per_s']:.0f} ev/s "
                  f"{t_['us_per_event']:.1f} us/ev (gc {t_['gc_pct']:.1f} %, {t_['full_gcs']} full), "
                  f"ratios {ratios[-1]:.3f} / {cpu_ratios[-1]:.3f}", flush=True)
            if args.gc_detail:
                for p in order:
                    print(f"    {p[1:]:8s} collections by generation {got[p]['gc_counts']}, seconds "
                          + ", ".join(f"{x:.2f}" for x in got[p]["gc_seconds"]), flush=True)
            if args.census:
                for p in order:
                    top = sorted(got[p]["census"].items(), key=lambda kv: -kv[1])[:16]
                    print(f"    {p[1:]:8s} alive at a young collection: "
                          + ", ".join(f"{k} {v:.0f}" for k, v in top), flush=True)

        def med(path: str, key: str) -> float:
            return statistics.median(x[key] for x in runs[path])

        print(f"{'median of ' + str(args.rounds) + ' rounds':28}{'bare':>12}{'tracked':>12}")
        rows = [("expected events/s", "expected_per_s", ".0f"), ("delivered events/s", "events_per_s", ".0f"),
                ("server CPU % of one core", "server_cpu_pct", ".0f"), ("server CPU us per event", "us_per_event", ".1f"),
                ("  of it user (Python)", "user_us_per_event", ".1f"), ("  of it system (kernel)", "sys_us_per_event", ".1f"),
                ("p50 latency ms", "p50_ms", ".2f"), ("p99 latency ms", "p99_ms", ".2f"),
                ("server RSS MiB", "rss_mib", ".1f"), ("RSS per connection KiB", "rss_per_conn_kib", ".1f"),
                ("cyclic GC % of server CPU", "gc_pct", ".1f"), ("full collections per phase", "full_gcs", ".1f")]
        for label, key, f in rows:
            print(f"{label:28}{format(med('/bare', key), f):>12}{format(med('/tracked', key), f):>12}")
        print(f"delivered ratio tracked/bare: {statistics.median(ratios):.3f} median (rounds: "
              f"{', '.join(f'{x:.3f}' for x in ratios)}) (aim >= 0.98)", flush=True)
        # the two phases of a round run back to back, so they share the machine's speed of the
        # moment; the median of the rounds' own ratios is the figure (the ratio of the two
        # medians mixes phases of different rounds, and a shared machine drifts between them)
        print(f"CPU cost ratio per event tracked/bare: {statistics.median(cpu_ratios):.3f} median (rounds: "
              f"{', '.join(f'{x:.3f}' for x in cpu_ratios)}); ratio of the medians "
              f"{med('/tracked', 'us_per_event') / med('/bare', 'us_per_event'):.3f} (aim <= 1.03)", flush=True)
        print(f"RSS per connection ratio tracked/bare: "
              f"{med('/tracked', 'rss_per_conn_kib') / med('/bare', 'rss_per_conn_kib'):.3f} (aim <= 1.1)", flush=True)
        if args.idle > 0:  # --idle 0: no idle phase
            idle = await idle_phase(args.idle, args.idle_window, url, env, args.ping)
            print(f"idle: {args.idle} tracked connections, ping {args.ping:g}s, flush "
                  f"{os.environ.get('SSE_TOUCH_FLUSH_INTERVAL_SECONDS', '1')}s, window {args.idle_window:g}s")
            print(f"  redis commands/s per 1,000 idle connections: {idle['commands_per_s_per_1k']:.1f} "
                  f"(counted by Redis incl. commands run inside the touch script; baseline with 0 connections "
                  f"{idle['baseline_commands_per_s']:.1f}/s)")
            print(f"  client round trips to Redis: {idle['lua_calls_per_s']:.2f} touch EVALSHA/s for all {args.idle} "
                  f"connections (+ heartbeat); one round trip per ping would be {idle['per_ping_round_trips_per_1k']:.1f}/s per 1,000")
            print(f"  busiest commands with {args.idle} connections: {idle['breakdown']}")
    finally:
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=2000)
    p.add_argument("--rate", type=float, default=10.0, help="events/s per client")
    p.add_argument("--duration", type=float, default=30.0,
                   help="measured seconds per phase (long enough for several full collections)")
    p.add_argument("--idle", type=int, default=1000, help="idle connections for the Redis figure (0: skip that phase)")
    p.add_argument("--idle-window", type=float, default=31.0, help="covers one counters flush (every 30 s)")
    p.add_argument("--rounds", type=int, default=6, help="alternating bare/tracked rounds (medians reported)")
    p.add_argument("--ping", type=float, default=5.0, help="ping interval of the idle phase")
    p.add_argument("--redis-url", default=None)
    p.add_argument("--no-pin", dest="pin", action="store_false",
                   help="leave the server, the clients and redis-server to the scheduler")
    p.add_argument("--quick", action="store_true", help="300 clients, 5 s phases, 500 idle")
    p.add_argument("--census", action="store_true",
                   help="diagnostic: per phase, the objects alive at young collections by type (slows the server)")
    p.add_argument("--together", action="store_true",
                   help="run bare and tracked at the same time on the same CPU (one window per round) instead of one after the other")
    p.add_argument("--compare", default="/bare,/tracked", help=argparse.SUPPRESS)  # diagnostic, with --together
    p.add_argument("--gc-detail", action="store_true", help="per phase, collections and seconds by generation")
    p.add_argument("--http", choices=("h11", "httptools"), default="h11",
                   help="uvicorn's HTTP implementation (pip install uvicorn: h11; uvicorn[standard]: httptools)")
    p.add_argument("--count-events", choices=("on", "off"), default=None,
                   help="SSE_COUNT_EVENTS for the servers (default: the setting's default, off)")
    p.add_argument("--gc", default="", help="both servers: BENCH_GC=off | freeze | threshold=A,B,C[+freeze]")
    p.add_argument("--env-other", action="append", default=[], metavar="KEY=VALUE",
                   help="environment of the server of the compared path only (--together; e.g. BENCH_GC=freeze "
                        "with --compare /bare,/bare for the effect of gc.freeze() on bare sse-starlette)")
    p.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve is not None:
        serve(args.serve, args.rate)
        return
    if args.quick:
        args.clients, args.duration, args.idle, args.idle_window, args.rounds = 300, 5.0, 500, 6.0, 1
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
