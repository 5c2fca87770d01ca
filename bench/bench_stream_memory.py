"""What one open stream holds in the server, tracked vs bare sse-starlette, by ``tracemalloc``.

One real uvicorn server (bench_streaming's app, RedisStore manager, a private
redis-server) with ``tracemalloc`` on; N raw socket clients open N bare streams, a
snapshot, they close, N tracked streams, a snapshot. Each snapshot is taken in the server
after ``gc.collect()``, against one taken just before its streams opened, so the
difference over N is what one open stream holds (the server's own objects, Python
allocations only: not the kernel's socket buffers, not the allocator's slack).

    python -m bench.bench_stream_memory [--n 1000] [--http h11] [--top 30] [--frames 6]

Prints bytes per stream for both and the allocation sites (grouped by the top ``--frames``
frames) where tracked holds more than bare. Diagnostic, not a timed figure (tracemalloc
slows the server several times).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import os
import pickle
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_streaming import free_port  # noqa: E402


def serve(port: int, rate: float, frames: int, out_dir: str) -> None:
    import uvicorn
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse

    from bench.bench_streaming import make_app

    tracemalloc.start(frames)
    app = make_app(rate)

    async def snap(request: Request) -> PlainTextResponse:
        name = request.query_params["name"]
        gc.collect()
        # the objects the cyclic collector tracks (each full collection walks every one of
        # them), by type: counted before tracemalloc's snapshot, whose own tuples (one per
        # trace) would count too
        objs = gc.get_objects()
        tracked = len(objs)
        kinds = collections.Counter(
            type(o).__qualname__ if type(o) is not tuple else
            "tuple(" + ", ".join(type(x).__qualname__ for x in o[:6]) + (", ..." if len(o) > 6 else "") + ")"
            for o in objs)
        del objs
        with open(os.path.join(out_dir, f"{name}.gc"), "wb") as fh:
            pickle.dump(kinds, fh)
        s = tracemalloc.take_snapshot().filter_traces((tracemalloc.Filter(False, tracemalloc.__file__),))
        with open(os.path.join(out_dir, f"{name}.snap"), "wb") as fh:
            pickle.dump(s, fh)
        del s
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()  # the next snapshot's peak: the highest point in between
        return PlainTextResponse(f"{current} {peak} {tracked}")

    # the highest memory above its start, per step of the once-a-second flush (the
    # transients that set the allocator's high-water mark with thousands of streams)
    steps: dict[str, int] = {}

    def measured(name: str, fn: Any, is_async: bool) -> Any:
        def enter() -> int:
            cur, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            return cur

        def leave(cur: int) -> None:
            _, pk = tracemalloc.get_traced_memory()
            steps[name] = max(steps.get(name, 0), pk - cur)

        if is_async:
            async def wrapped_async(*a: Any, **k: Any) -> Any:
                cur = enter()
                try:
                    return await fn(*a, **k)
                finally:
                    leave(cur)
            return wrapped_async

        def wrapped(*a: Any, **k: Any) -> Any:
            cur = enter()
            try:
                return fn(*a, **k)
            finally:
                leave(cur)
        return wrapped

    def instrument() -> None:
        from core.stream_watch import socket_watch
        m = app.state.sse_manager
        reg = m.registry
        socket_watch(m)  # (installs its hook now, so it can be wrapped)
        reg._heartbeat = measured("heartbeat", reg._heartbeat, True)
        store_flush = reg.store.flush

        async def flush_sized(touches: Any, *a: Any, **k: Any) -> Any:
            cur, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            try:
                return await store_flush(touches, *a, **k)
            finally:
                pk = tracemalloc.get_traced_memory()[1] - cur
                key = f"store.flush({len(touches)} touches)"
                steps[key] = max(steps.get(key, 0), pk)
        reg.store.flush = flush_sized
        reg.local.pull_activity = measured("pull_activity", reg.local.pull_activity, False)
        reg.local.touches = measured("touches", reg.local.touches, False)
        m.queues.observe = measured("queues.observe", m.queues.observe, False)
        reg._flush_hooks[:] = [measured(f"hook {type(h).__name__}", h, False) for h in reg._flush_hooks]

    async def peak(request: Request) -> PlainTextResponse:
        if request.query_params.get("steps"):
            return PlainTextResponse(" ".join(f"{k}={v}" for k, v in sorted(steps.items())))
        if not steps and request.query_params.get("instrument"):
            instrument()
            return PlainTextResponse("ok")
        return PlainTextResponse(" ".join(map(str, tracemalloc.get_traced_memory())))

    async def count(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(len(asyncio.all_tasks())))

    app.add_route("/bench/snap", snap)
    app.add_route("/bench/tasks", count)
    app.add_route("/bench/peak", peak)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", backlog=4096,
                http=os.environ.get("BENCH_HTTP", "h11"))


async def get(port: int, path: str) -> str:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    raw = await r.read()
    w.close()
    return raw.split(b"\r\n\r\n", 1)[1].decode()


async def stream_client(port: int, path: str, ready: asyncio.Event, stop: asyncio.Event) -> None:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nUser-Agent: bench/1.0\r\n\r\n".encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += await r.read(4096)
    ready.set()
    reader = asyncio.ensure_future(_drain(r))
    await stop.wait()
    reader.cancel()
    w.close()


async def _drain(r: asyncio.StreamReader) -> None:
    while await r.read(65536):
        pass


async def phase(port: int, path: str, n: int, name: str, settle: float) -> tuple[int, int, int]:
    """Open n streams, snapshot, close them. Returns (bytes traced at the snapshot, the
    highest traced while they opened and streamed, objects the collector tracks), each above
    the snapshot before."""
    base_tasks = int(await get(port, "/bench/tasks"))
    before_snap = (await get(port, f"/bench/snap?name={name}0")).split()
    before, before_gc = int(before_snap[0]), int(before_snap[2])
    stop = asyncio.Event()
    tasks = []
    for start in range(0, n, 200):
        readies = [asyncio.Event() for _ in range(min(200, n - start))]
        tasks += [asyncio.create_task(stream_client(port, path, e, stop)) for e in readies]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in readies)), 120)
    await asyncio.sleep(settle)  # a few flushes and socket-table reads (tracked: its steady state)
    peak = int((await get(port, "/bench/peak")).split()[1])  # (before the snapshot's own allocations)
    snap = (await get(port, f"/bench/snap?name={name}1")).split()
    current, current_gc = int(snap[0]), int(snap[2])
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    deadline = time.monotonic() + 60
    while int(await get(port, "/bench/tasks")) > base_tasks + 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    return current - before, peak - before, current_gc - before_gc


_ROUTE_FILES = {"bench_streaming.py", "streaming.py", "routing.py", "_exception_handler.py"}


def load(d: str, name: str) -> tracemalloc.Snapshot:
    with open(os.path.join(d, f"{name}.snap"), "rb") as fh:
        return pickle.load(fh)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=2.0)
    ap.add_argument("--http", default="h11")
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--settle", type=float, default=6.0)
    ap.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.rate, args.frames, args.serve[1])
        return
    from bench.common import PrivateRedis

    out_dir = tempfile.mkdtemp(prefix="streammem")
    with PrivateRedis() as redis:
        port = free_port()
        env = {**os.environ, "SSE_REDIS_URL": redis.url, "SSE_REDIS_NAMESPACE": f"mem{os.getpid()}",
               "SSE_LOG_LEVEL": "WARNING", "BENCH_HTTP": args.http}
        proc = subprocess.Popen([sys.executable, __file__, "--rate", str(args.rate), "--frames", str(args.frames),
                                 "--serve", str(port), out_dir, "x"], env=env, cwd=str(ROOT))
        try:
            async def run() -> dict[str, tuple[int, int, int]]:
                deadline = time.monotonic() + 30
                while True:
                    with contextlib.suppress(OSError):
                        await get(port, "/health/live")
                        break
                    if time.monotonic() > deadline:
                        raise SystemExit("server did not start")
                    await asyncio.sleep(0.2)
                await get(port, "/bench/peak?instrument=1")
                # warm-up: the first streams of each kind pay one-time costs (imports, caches)
                await phase(port, "/bare", 200, "warm", 1.0)
                await phase(port, "/tracked", 200, "warm", args.settle)
                out: dict[str, tuple[int, int, int]] = {}
                for path, name in (("/bare", "bare"), ("/tracked", "tracked")):
                    out[name] = await phase(port, path, args.n, name, args.settle)
                print("flush steps, highest traced above their start (B):", await get(port, "/bench/peak?steps=1"))
                return out
            traced = asyncio.run(run())
        finally:
            proc.terminate()
            proc.wait(20)
    n = args.n
    per: dict[str, tracemalloc.Snapshot] = {}
    for name in ("bare", "tracked"):
        s0, s1 = load(out_dir, f"{name}0"), load(out_dir, f"{name}1")
        total = sum(st.size_diff for st in s1.compare_to(s0, "filename"))
        count = sum(st.count_diff for st in s1.compare_to(s0, "filename"))
        print(f"{name}: {total / n:,.0f} B and {count / n:.1f} blocks per stream (tracemalloc, {n} streams, "
              f"--http {args.http}); the highest traced while open: {traced[name][1] / n:,.0f} B per stream; "
              f"{traced[name][2] / n:.1f} objects per stream the cyclic collector tracks")
        per[name] = s1
    # where tracked holds more: per-site differences of (tracked1 - tracked0) - (bare1 - bare0)
    sites: dict[str, list[float]] = {}
    for name, sign in (("bare", -1), ("tracked", 1)):
        s0, s1 = load(out_dir, f"{name}0"), load(out_dir, f"{name}1")
        for st in s1.compare_to(s0, "traceback"):
            # oldest first; the route's and the tracked wrapper's own frames left out, so that
            # stock's allocations under either path share a site (ours show by their innermost frame)
            frames = [f"{Path(f.filename).name}:{f.lineno}" for i, f in enumerate(st.traceback)
                      if i == len(st.traceback) - 1 or Path(f.filename).name not in _ROUTE_FILES]
            key = " <- ".join(reversed(frames[-4:])) if frames else "?"
            v = sites.setdefault(key, [0.0, 0.0])
            v[0] += sign * st.size_diff / n
            v[1] += sign * st.count_diff / n
    lines: dict[str, float] = {}
    for name, sign in (("bare", -1), ("tracked", 1)):
        s0, s1 = load(out_dir, f"{name}0"), load(out_dir, f"{name}1")
        for st in s1.compare_to(s0, "lineno"):
            f = st.traceback[0]
            k = f"{Path(f.filename).parent.name}/{Path(f.filename).name}:{f.lineno}"
            lines[k] = lines.get(k, 0.0) + sign * st.size_diff / n
    kinds: collections.Counter[str] = collections.Counter()
    for name, sign in (("bare", -1), ("tracked", 1)):
        with open(os.path.join(out_dir, f"{name}1.gc"), "rb") as f1, open(os.path.join(out_dir, f"{name}0.gc"), "rb") as f0:
            c1, c0 = pickle.load(f1), pickle.load(f0)
        for k in set(c1) | set(c0):
            kinds[k] += sign * (c1[k] - c0[k])
    print("\nobjects the cyclic collector tracks, tracked minus bare, per stream, by type:")
    for k, v in sorted(kinds.items(), key=lambda kv: -abs(kv[1]))[:args.top]:
        if abs(v) / n >= 0.05:
            print(f"{v / n:8.2f}  {k}")
    print(f"\nby line (innermost frame), tracked minus bare, bytes per stream (top {args.top}):")
    for k, v in sorted(lines.items(), key=lambda kv: -abs(kv[1]))[:args.top]:
        print(f"{v:8.1f} B  {k}")
    print(f"\nallocation sites, tracked minus bare, bytes per stream (top {args.top} by size; innermost frame first):")
    for key, (size, cnt) in sorted(sites.items(), key=lambda kv: -abs(kv[1][0]))[:args.top]:
        print(f"{size:8.1f} B {cnt:5.2f} blk  {key}")


if __name__ == "__main__":
    main()
