"""Instructions per event, tracked vs bare, under valgrind (issue 25: where the rest goes).

    nice -n 5 python -m bench.bench_stream_callgrind            # 50 and 100 streams each, h11
    nice -n 5 python -m bench.bench_stream_callgrind --http httptools

``bench_streaming --together`` finds a tracked stream ~4 % dearer per event than a bare one
even with the cyclic collector deferred in both servers and the socket table read only
every 15 s, and neither py-spy nor perf places it. This counts instructions (valgrind's
callgrind: no load on the machine changes them) of bench_streaming's own server, one
process per path (``/bare``, ``/tracked``), on asyncio's loop with its clock slowed as
valgrind slows the server (``bench.bench_middleware.DilatedLoop``), the manager's timers
quiet (no flush, cleanup or history in the window: ``QUIET_MANAGER``): what is counted is
what serving events costs. Each server gets N streams, then N more; callgrind's counters
are zeroed and dumped around a window after each step, and the events the clients received
in each window counted; the difference of the two windows over the difference of their
events is the instructions per event of a stream, whatever the server does per window
(``Ir(2N) - Ir(N)`` over ``events(2N) - events(N)``). Linux, valgrind, redis-server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_middleware import QUIET_MANAGER, _Callgrind  # noqa: E402


def app() -> Any:
    """The bench_streaming server's app (uvicorn ``--factory``), its event rate from BENCH_RATE."""
    from bench.bench_streaming import make_app
    return make_app(float(os.environ.get("BENCH_RATE", "10")))


class Server(_Callgrind):
    """bench_streaming's app under callgrind, on a listening socket handed down (``--fd``);
    counters zeroed and dumped as bench_middleware's servers are."""

    def __init__(self, path: str, outdir: Path, http: str, env: dict[str, str], rate: float) -> None:
        self.variant = path
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(512)
        self.port = self.listener.getsockname()[1]
        self.prefix = outdir / f"callgrind{path.replace('/', '.')}"
        self.log = open(outdir / f"valgrind{path.replace('/', '.')}.log", "wb")
        full = {k: v for k, v in os.environ.items() if not k.startswith("SSE_")}
        full.update(env, PYTHONPATH=str(ROOT), PYTHONHASHSEED="0", BENCH_RATE=str(rate), **QUIET_MANAGER)
        self.proc = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={self.prefix}.%p", sys.executable, "-m",
             "uvicorn", "bench.bench_stream_callgrind:app", "--factory", "--fd", str(self.listener.fileno()),
             "--log-level", "warning", "--no-access-log", "--http", http,
             "--loop", "bench.bench_middleware:DilatedLoop"],
            env=full, cwd=str(ROOT), stdout=self.log, stderr=subprocess.STDOUT, pass_fds=(self.listener.fileno(),))
        self.dumps = 0


class Counter:
    events = 0


async def client(port: int, path: str, count: Counter, opened: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    first = True
    try:
        while chunk := await reader.read(65536):
            if first:
                opened.set()
                first = False
            count.events += chunk.count(b"data:")
    finally:
        writer.close()


async def up(port: int, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            ok = b" 200 " in await asyncio.wait_for(r.read(200), 60)
            w.close()
            if ok:
                return
        except (TimeoutError, OSError):
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the server under valgrind did not come up")
        await asyncio.sleep(1.0)


async def measure(path: str, n: int, window: float, warm: float, outdir: Path, http: str, env: dict[str, str],
                  rate: float) -> dict[str, float]:
    srv = Server(path, outdir, http, env, rate)
    tasks: list[asyncio.Task[None]] = []
    count = Counter()
    try:
        await up(srv.port)
        points = []
        for step in (1, 2):
            events: list[asyncio.Event] = []
            for _ in range(n):
                ev = asyncio.Event()
                events.append(ev)
                tasks.append(asyncio.create_task(client(srv.port, path, count, ev)))
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), 600)
            await asyncio.sleep(warm)
            srv.zero()
            e0 = count.events
            await asyncio.sleep(window)
            ir = srv.dump()
            points.append((ir, count.events - e0))
            print(f"  {path:9s} {step * n:4d} streams: {points[-1][1]:6d} events, {ir / 1e6:9.1f} M instructions",
                  flush=True)
        (ir1, ev1), (ir2, ev2) = points
        return {"per_event": (ir2 - ir1) / max(ev2 - ev1, 1), "events": ev2 - ev1, "ir_n": ir1 / max(ev1, 1)}
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        srv.stop()


async def main_async(args: argparse.Namespace) -> None:
    binary = shutil.which("redis-server")
    if not binary or not shutil.which("valgrind"):
        raise SystemExit("needs valgrind and redis-server on PATH")
    rport = socket.socket()
    rport.bind(("127.0.0.1", 0))
    port = rport.getsockname()[1]
    rport.close()
    redis = subprocess.Popen([binary, "--port", str(port), "--save", "", "--appendonly", "no"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    outdir = Path(tempfile.mkdtemp(prefix="bench-stream-cg-"))
    try:
        env = {"SSE_REDIS_URL": f"redis://127.0.0.1:{port}/0", "SSE_REDIS_NAMESPACE": "cg", "SSE_LOG_LEVEL": "WARNING"}
        print(f"{args.n} then {2 * args.n} streams at {args.rate:g} events/s (the server's slowed clock), "
              f"windows of {args.window:g} s, http={args.http}; dumps in {outdir}", flush=True)
        got = {}
        for path in ("/bare", "/tracked"):
            got[path] = await measure(path, args.n, args.window, args.warm, outdir, args.http, env, args.rate)
        b, t = got["/bare"]["per_event"], got["/tracked"]["per_event"]
        print(f"instructions per event, (Ir(2N) - Ir(N)) / (events(2N) - events(N)): bare {b:,.0f}, "
              f"tracked {t:,.0f}: tracked / bare {t / b:.3f}", flush=True)
        print(f"instructions per event at N (the window's fixed part included): bare {got['/bare']['ir_n']:,.0f}, "
              f"tracked {got['/tracked']['ir_n']:,.0f}", flush=True)
    finally:
        redis.terminate()
        redis.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=50, help="streams in the first window; the second has twice as many")
    ap.add_argument("--rate", type=float, default=10.0, help="events/s per stream, on the server's (slowed) clock")
    ap.add_argument("--window", type=float, default=60.0, help="seconds (real) per measured window")
    ap.add_argument("--warm", type=float, default=20.0, help="seconds (real) after the streams opened")
    ap.add_argument("--http", default="h11", choices=("h11", "httptools"))
    asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    main()
