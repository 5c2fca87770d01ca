"""The cost of core.middleware.SSETrackingMiddleware on a plain JSON route (not a stream).

    nice -n 5 python -m bench.bench_middleware --rounds 40   # 20 s interleaved + 40 rounds x 3 x 0.5 s
    nice -n 5 python -m bench.bench_middleware --quick       # 10 s + 10 rounds
    nice -n 5 python -m bench.bench_middleware --callgrind   # instructions per request (valgrind)

``--callgrind``: instructions per request, which no load on the machine changes. Each
variant is its own uvicorn process (h11, or httptools with ``--http httptools``; one worker, the variant as its whole app:
``variant_app``) under ``valgrind --tool=callgrind`` with ``PYTHONHASHSEED`` fixed: ``plain``
the JSON app, ``mw`` it behind the middleware, ``mwp`` the middleware given
``paths=("/events",)``, ``bare`` a do-nothing middleware. One keep-alive client in this
process (outside valgrind) sends requests one at a time; after a warm-up, callgrind's
counters are zeroed (``callgrind_control --zero``) and dumped after each stretch of N
requests, so start-up costs nothing: instructions per request = the stretch's count / N,
and the ratio plain / variant is the throughput ratio of a CPU-bound server (user-space
instructions: the kernel's part of a request, the same for every variant, is left out, so
the ratio is a bound on the cost). Under valgrind a request takes ~50x longer, so what
runs per second of the clock (uvicorn's tick every 0.1 s, the manager's timers) would
weigh ~50x more per request than on a real server, and vary with the machine's load: the
server runs asyncio's own loop with its clock slowed as much (``DilatedLoop``), the
manager's timers are set beyond the run (``QUIET_MANAGER``), and the collector's full
passes skip what the app was built with (``gc.freeze()``, as preloading servers do).
Then (``--direct N``) the ASGI calls alone under callgrind, no server: one process per
variant builds and warms all four and calls one N times; the difference from ``plain``
over N is the variant's own instructions per call.

One uvicorn process (one worker, h11, access log off) serves ONE Starlette app three ways:
``/plain`` straight, ``/mw`` through the middleware (memory store manager, started by the
lifespan the middleware answers), ``/bare`` through a pass-through middleware that does
nothing (the control: what any one middleware layer costs), ``/mwp`` through the middleware
given ``paths=("/events",)`` (interleaved phase only). A dispatcher in front picks
by path, so the variants share the server, the process and the machine's load of the
moment. The load comes from this process: N keep-alive connections sending GETs back to
back (raw sockets, responses read by Content-Length).

The headline: per request, interleaved. Every connection sends /plain, /mw, /bare in turn;
the server times each app call with its thread's CPU clock (a JSON response never
suspends, so that is the call's own CPU, whatever else runs on the machine). Throughput
ratio = total server CPU per request (``/proc/<pid>/schedstat``: HTTP parsing and uvicorn
included) / (the same + the variant's extra CPU). Then, for comparison, rounds of one
variant at a time (order rotating) with the CPU and wall-clock ratios per round: on a
shared machine their spread (printed) is wider than the effect.

A last figure needs no server: the app called directly (synthetic scope, receive, send)
with and without the middleware, interleaved, in CPU microseconds per request.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import selectors
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# -- the server's app (loaded by uvicorn: bench.bench_middleware:server_app) -----------------
def _inner() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def item(request: Request) -> JSONResponse:
        return JSONResponse({"id": 42, "name": "widget", "tags": ["a", "b", "c"], "price": 9.99})

    return Starlette(routes=[Route("/{variant}", item)])  # one route: every variant routes alike


def _bare(app: Any) -> Any:
    """A pass-through middleware that does nothing (the control: what any one middleware layer costs)."""

    class Bare:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await self.app(scope, receive, send)

    return Bare(app)


def server_app() -> Any:
    """The dispatcher: ``/mw`` through the middleware, ``/bare`` through a pass-through
    middleware that does nothing (the control: what any middleware layer costs), everything
    else straight to the app."""
    from core.config import load_config
    from core.manager import ConnectionManager
    from core.middleware import SSETrackingMiddleware
    from core.store.memory import MemoryStore

    inner = _inner()
    manager = ConnectionManager(MemoryStore(), load_config())
    mw = SSETrackingMiddleware(inner, manager, drain_on_signal=False)
    # the same middleware told where its streams are (paths=): other routes skip it at once
    mw_paths = SSETrackingMiddleware(inner, manager, drain_on_signal=False, paths=("/events",))

    bare = _bare(inner)
    samples: dict[str, list[int]] = {"/plain": [], "/mw": [], "/bare": [], "/mwp": []}
    clock = time.thread_time_ns  # this thread's CPU: what the call cost, whatever else runs on the machine

    async def stats(send: Any) -> None:
        body = json.dumps(samples).encode()
        for v in samples.values():
            v.clear()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def app(scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path")
        if scope["type"] == "lifespan":
            await mw(scope, receive, send)
            return
        if path == "/stats":
            await stats(send)
            return
        target = mw if path == "/mw" else bare if path == "/bare" else mw_paths if path == "/mwp" else inner
        t0 = clock()
        await target(scope, receive, send)  # a JSON response: the call never suspends (no flow control here)
        samples[path].append(clock() - t0)

    return app


VARIANTS = ("plain", "mw", "mwp", "bare")
# --floor: direct-only layers that do less than the middleware and nothing it could leave out (bench/mw_floor.py)
FLOORS = ("fwd", "look", "lookc", "native")
FLOOR_LABELS = {"fwd": "a layer with its own send that only hands messages on (mw_floor.Forward)",
                "look": "... and the look at the content type a tracking layer needs (mw_floor.Look)",
                "lookc": "... written for mypyc, run as Python (mw_floor_native.LookNative)",
                "native": "... the same compiled with mypyc"}
VARIANT_ENV = "BENCH_MW_VARIANT"


def variant_app() -> Any:
    """ONE variant as the server's whole app (the callgrind mode: one server process per variant,
    nothing in front of it): ``plain`` the JSON app itself, ``mw`` it behind SSETrackingMiddleware
    (memory-store manager, started by the lifespan the middleware answers), ``mwp`` the same
    given ``paths=("/events",)``, ``bare`` behind the do-nothing middleware. ``$BENCH_MW_VARIANT``
    says which."""
    variant = os.environ.get(VARIANT_ENV, "plain")
    app = _variant(variant)
    # Everything imported and built so far is kept out of the collector's full passes (what a
    # preloading server does): a full pass over it costs millions of instructions and lands in
    # one stretch or another, which would swamp a difference of a few thousand per request.
    gc.freeze()
    return app


def _variant(variant: str) -> Any:
    inner = _inner()
    if variant == "plain":
        return inner
    if variant == "bare":
        return _bare(inner)
    from core.config import load_config
    from core.manager import ConnectionManager
    from core.middleware import SSETrackingMiddleware
    from core.store.memory import MemoryStore

    manager = ConnectionManager(MemoryStore(), load_config())
    paths = ("/events",) if variant == "mwp" else None
    if variant not in ("mw", "mwp"):
        raise SystemExit(f"{VARIANT_ENV}: one of {VARIANTS}, not {variant!r}")
    return SSETrackingMiddleware(inner, manager, drain_on_signal=False, paths=paths)


# -- load ---------------------------------------------------------------------------------------
async def _client(port: int, path: str, until: float, counter: list[int]) -> None:
    """Requests back to back on one keep-alive connection; ``path`` "*": the three variants in turn."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    paths = ["/plain", "/mw", "/bare", "/mwp"] if path == "*" else [path]
    requests = [f"GET {p} HTTP/1.1\r\nHost: bench\r\n\r\n".encode() for p in paths]
    i = 0
    try:
        while time.perf_counter() < until:
            writer.write(requests[i % len(requests)])
            i += 1
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            counter[0] += 1
    finally:
        writer.close()


def _cpu_ns(pid: int) -> int:
    """Nanoseconds the process's main thread (uvicorn's event loop) has run on a CPU."""
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


async def _round(port: int, path: str, seconds: float, clients: int, pid: int | None = None) -> tuple[float, int, int]:
    """(requests/s, requests, server CPU ns)."""
    counter = [0]
    cpu0 = _cpu_ns(pid) if pid else 0
    t0 = time.perf_counter()
    until = t0 + seconds
    await asyncio.gather(*(_client(port, path, until, counter) for _ in range(clients)))
    rate = counter[0] / (time.perf_counter() - t0)
    return rate, counter[0], (_cpu_ns(pid) - cpu0) if pid else 0


async def _get_json(port: int, path: str) -> Any:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


async def _wait_up(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, "the server exited"
        try:
            await _round(port, "/plain", 0.05, 1)
            return
        except OSError:
            assert time.monotonic() < deadline, "the server did not come up"
            await asyncio.sleep(0.1)


Round = tuple[float, int, int]


async def server_run(rounds: int, seconds: float, clients: int) -> dict[str, Any]:
    from tests.redis_server import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSE_")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "bench.bench_middleware:server_app", "--factory",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
                             "--http", "h11"], env=env, cwd=str(ROOT))
    try:
        await _wait_up(port, proc)
        paths = ["/plain", "/mw", "/bare"]
        for path in paths:  # warm-up
            await _round(port, path, 1.0, clients)
        out: dict[str, list[Round]] = {p: [] for p in paths}
        # per request, in one phase: each connection sends /plain, /mw, /bare in turn
        await _get_json(port, "/stats")  # forget the warm-up's samples
        mixed = await _round(port, "*", max(10.0, rounds * seconds), clients, proc.pid)
        out["*"] = [mixed]
        out["samples"] = await _get_json(port, "/stats")  # type: ignore[assignment]
        for i in range(rounds):
            order = paths[i % 3:] + paths[:i % 3]  # each variant first, second and third in turn
            if i % 2:
                order.reverse()
            for path in order:
                out[path].append(await _round(port, path, seconds, clients, proc.pid))
        return out
    finally:
        proc.terminate()
        proc.wait(10)


# -- instructions per request: the server under callgrind ------------------------------------------
class _Conn:
    """One keep-alive connection sending GETs one at a time, a response read whole before the
    next request (blocking sockets, in this process: outside valgrind)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.buf = b""

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buf += chunk

    def get(self, path: str, n: int) -> None:
        request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
        for _ in range(n):
            self.sock.sendall(request)
            while b"\r\n\r\n" not in self.buf:
                self._more()
            head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            if not head.startswith(b"HTTP/1.1 200 "):
                raise AssertionError(f"{path}: {head[:60]!r}")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            while len(self.buf) < length:
                self._more()
            self.buf = self.buf[length:]

    def close(self) -> None:
        self.sock.close()


def _summary(path: Path) -> int:
    """The instructions (Ir) a callgrind dump file counts."""
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise AssertionError(f"no summary line in {path}")


# The manager's timers (a flush every second, cleanup, history samples) cost instructions per
# second of wall time, not per request; under valgrind a request takes ~50x longer, so they
# would weigh ~50x more per request than on a real server. Here they fire only after the
# measurement: the manager is the real one, started by the lifespan; a non-stream request
# does not touch it.
QUIET_MANAGER = {"SSE_TOUCH_FLUSH_INTERVAL_SECONDS": "3600", "SSE_WORKER_HEARTBEAT_TTL_SECONDS": "86400",
                 "SSE_PERIODIC_CLEANUP_ENABLED": "false", "SSE_HISTORY_ENABLED": "false"}


DILATION = 50.0  # about how much slower the server runs under valgrind


class DilatedLoop(asyncio.SelectorEventLoop):
    """asyncio's own loop (what uvicorn runs without uvloop), its clock slowed ``DILATION``
    times: under valgrind every instruction takes ~50x longer, and what a server does per
    second of its clock (uvicorn's tick every 0.1 s: ~60,000 instructions; timers) would
    otherwise weigh ~50x more per request than on a real server, and vary with the machine's
    load. uvicorn ``--loop bench.bench_middleware:DilatedLoop``."""

    def __init__(self) -> None:
        super().__init__(_DilatedSelector())

    def time(self) -> float:
        return super().time() / DILATION


class _DilatedSelector(selectors.DefaultSelector):
    """Waits as long in real time as the loop's timers ask in its slowed time."""

    def select(self, timeout: float | None = None) -> Any:
        return super().select(None if timeout is None else timeout * DILATION)


class _Callgrind:
    """One uvicorn server process (one variant) under callgrind, counters zeroed and dumped
    around each measured stretch with callgrind_control (each dump counts since the last zero)."""

    def __init__(self, variant: str, outdir: Path, hashseed: str, http: str = "h11") -> None:
        self.variant = variant
        # the listening socket is bound here and handed down (--fd): no other process can take
        # the port during valgrind's slow start-up
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SSE_")}
        env.update(PYTHONPATH=str(ROOT), PYTHONHASHSEED=hashseed, **{VARIANT_ENV: variant}, **QUIET_MANAGER)
        self.prefix = outdir / f"callgrind.{variant}"
        self.log = open(outdir / f"valgrind.{variant}.log", "wb")
        self.proc = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={self.prefix}.%p",
             sys.executable, "-m", "uvicorn", "bench.bench_middleware:variant_app", "--factory",
             "--fd", str(self.listener.fileno()), "--log-level", "warning", "--no-access-log",
             "--http", http, "--timeout-keep-alive", "3600", "--loop", "bench.bench_middleware:DilatedLoop"], env=env, cwd=str(ROOT), stdout=self.log,
            stderr=subprocess.STDOUT, pass_fds=(self.listener.fileno(),))
        self.dumps = 0

    def wait_up(self, timeout: float = 600.0) -> _Conn:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"the server under valgrind exited ({self.variant}); see {self.log.name}")
            try:
                conn = _Conn(self.port)  # the kernel accepts on the socket before the server is up
                conn.get("/item", 1)
                return conn
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"the server under valgrind did not come up in {timeout:.0f} s") from None
                time.sleep(0.5)

    def _control(self, *args: str) -> None:
        subprocess.run(["callgrind_control", *args, str(self.proc.pid)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)

    def zero(self) -> None:
        self._control("--zero")

    def dump(self) -> int:
        """Instructions since the last zero (or dump)."""
        self._control("--dump")
        self.dumps += 1
        return _summary(Path(f"{self.prefix}.{self.proc.pid}.{self.dumps}"))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)
        self.log.close()
        self.listener.close()


def callgrind_variant(variant: str, requests: int, stretches: int, warm: int, idle: float, outdir: Path,
                      hashseed: str, http: str = "h11") -> dict[str, Any]:
    """Instructions per request of one variant: after ``warm`` requests, ``stretches`` stretches
    of ``requests`` requests each (counters zeroed before, dumped after), then one idle stretch
    of ``idle`` seconds (the check that time-driven work stays out of the counts)."""
    cg = _Callgrind(variant, outdir, hashseed, http)
    try:
        conn = cg.wait_up()
        conn.get("/item", warm)
        raw: list[int] = []
        walls: list[float] = []
        for _ in range(stretches):
            cg.zero()
            t0 = time.perf_counter()
            conn.get("/item", requests)
            raw.append(cg.dump())
            walls.append(time.perf_counter() - t0)
        cg.zero()
        t0 = time.perf_counter()
        time.sleep(idle)
        idle_ir = cg.dump()
        idle_s = time.perf_counter() - t0
        conn.close()
    finally:
        cg.stop()
    return {"variant": variant, "requests": requests, "raw_ir": raw, "wall_s": walls,
            "idle_ir_per_s": idle_ir / idle_s, "per_request": [ir / requests for ir in raw]}


def callgrind_run(requests: int, stretches: int, warm: int, idle: float, hashseed: str, jobs: int,
                  outdir: Path, http: str = "h11") -> dict[str, dict[str, Any]]:
    """Every variant, each in its own server process under callgrind (``jobs`` at a time: the
    counts do not depend on what else runs)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {v: pool.submit(callgrind_variant, v, requests, stretches, warm, idle, outdir, hashseed, http)
                   for v in VARIANTS}
        return {v: f.result() for v, f in futures.items()}


LABELS = {"mw": "SSETrackingMiddleware", "mwp": "SSETrackingMiddleware(paths=('/events',))",
          "bare": "a do-nothing middleware (control)"}


def print_callgrind(runs: dict[str, dict[str, Any]]) -> None:
    base = runs["plain"]
    plain = statistics.fmean(base["per_request"])
    print(f"  instructions per request (Ir of the server process; {len(base['per_request'])} stretches of "
          f"{base['requests']} requests each):")
    for v in VARIANTS:
        r = runs[v]
        per = r["per_request"]
        spread = (max(per) - min(per)) / statistics.fmean(per) * 100
        print(f"    {v:5s} {statistics.fmean(per):9.0f} Ir/request (stretches " + ", ".join(f"{x:.0f}" for x in per)
              + f": spread {spread:.3f} %; {statistics.fmean(r['wall_s']) / r['requests'] * 1e3:.1f} ms a request "
              f"under valgrind; idle afterwards {r['idle_ir_per_s'] / 1e3:.1f} kIr/s)")
    for v in ("mw", "mwp", "bare"):
        mean = statistics.fmean(runs[v]["per_request"])
        ratio = plain / mean
        print(f"  {LABELS[v]}: {mean - plain:+.0f} Ir/request ({(mean / plain - 1) * 100:+.3f} %) -> "
              f"THROUGHPUT RATIO (instructions) {ratio:.4f}")


def _direct_child(variant: str, n: int) -> None:
    """(Run under callgrind.) Builds every variant, warms each, then calls ``variant`` ``n``
    times directly: only the ``n`` calls differ between the variants' runs."""
    from bench import mw_floor, mw_floor_native
    from core.config import load_config
    from core.manager import ConnectionManager
    from core.middleware import SSETrackingMiddleware
    from core.store.memory import MemoryStore

    inner = _inner()
    manager = ConnectionManager(MemoryStore(), load_config())
    apps = {"plain": inner, "bare": _bare(inner),
            "mw": SSETrackingMiddleware(inner, manager, drain_on_signal=False),
            "mwp": SSETrackingMiddleware(inner, manager, drain_on_signal=False, paths=("/events",)),
            "fwd": mw_floor.Forward(inner), "look": mw_floor.Look(inner),
            "lookc": mw_floor_native.LookNative(inner)}
    native_dir = os.environ.get("BENCH_MW_NATIVE")
    if native_dir:  # the mypyc build of mw_floor (compile_floor)
        sys.path.insert(0, native_dir)
        import mw_floor_compiled  # type: ignore[import-not-found]

        assert mw_floor_compiled.__file__.endswith(".so"), mw_floor_compiled.__file__
        apps["native"] = mw_floor_compiled.LookNative(inner)
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": "/item", "raw_path": b"/item", "query_string": b"",
             "root_path": "", "headers": [(b"host", b"bench")], "client": ("127.0.0.1", 5000),
             "server": ("127.0.0.1", 8000)}
    request = {"type": "http.request", "body": b"", "more_body": False}

    async def receive() -> dict[str, Any]:
        return request

    async def send(message: dict[str, Any]) -> None:
        return None

    async def run() -> None:
        await manager.start()
        for app in apps.values():
            for _ in range(50):
                await app(dict(scope), receive, send)
        app = apps[variant]
        for _ in range(n):
            await app(dict(scope), receive, send)
        await manager.stop()

    asyncio.run(run())


def compile_floor(outdir: Path) -> Path:
    """A copy of bench/mw_floor_native.py compiled by mypyc (``mw_floor_compiled``) in ``outdir``."""
    build = outdir / "native"
    build.mkdir(parents=True, exist_ok=True)
    (build / "mw_floor_compiled.py").write_text((ROOT / "bench" / "mw_floor_native.py").read_text())
    subprocess.run([sys.executable, "-m", "mypyc", "mw_floor_compiled.py"], cwd=str(build), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return build


def callgrind_direct(n: int, hashseed: str, outdir: Path, jobs: int = 4, floor: bool = False) -> dict[str, float]:
    """Instructions per direct call of each variant: every variant's child is run twice, with
    ``n`` and ``2n`` calls, and the difference over ``n`` is what a call costs (start-up,
    imports and the warm-up, which differ a little between processes, cancel out).
    ``floor``: the floors of bench/mw_floor.py too (the compiled one needs mypyc and a C compiler)."""
    from concurrent.futures import ThreadPoolExecutor

    env = {k: v for k, v in os.environ.items() if not k.startswith("SSE_")}
    env.update(PYTHONPATH=str(ROOT), PYTHONHASHSEED=hashseed, **QUIET_MANAGER)
    variants: tuple[str, ...] = VARIANTS
    if floor:
        env["BENCH_MW_NATIVE"] = str(compile_floor(outdir))
        variants = VARIANTS + FLOORS

    def one(job: tuple[str, int]) -> int:
        variant, calls = job
        out = outdir / f"callgrind.direct.{variant}.{calls}"
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-m",
                        "bench.bench_middleware", "--direct-child", variant, "--requests", str(calls)],
                       env=env, cwd=str(ROOT), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return _summary(out)

    jobs_ = [(v, c) for v in variants for c in (n, 2 * n)]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        totals = dict(zip(jobs_, pool.map(one, jobs_), strict=True))
    return {v: (totals[(v, 2 * n)] - totals[(v, n)]) / n for v in variants}


# -- direct calls (no server) ---------------------------------------------------------------------
async def direct_run(n: int, repeats: int) -> tuple[float, float]:
    """(µs per request plain, µs per request through the middleware), median of interleaved repeats."""
    from core.config import load_config
    from core.manager import ConnectionManager
    from core.middleware import SSETrackingMiddleware
    from core.store.memory import MemoryStore

    inner = _inner()
    manager = ConnectionManager(MemoryStore(), load_config())
    mw = SSETrackingMiddleware(inner, manager, drain_on_signal=False)
    await mw.start()
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": "/mw", "raw_path": b"/mw", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"bench")], "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000)}
    request = {"type": "http.request", "body": b"", "more_body": False}

    async def receive() -> dict[str, Any]:
        return request

    async def send(message: dict[str, Any]) -> None:
        return None

    async def loop(app: Any) -> float:
        t0 = time.thread_time()  # CPU of this thread: other processes' load does not count
        for _ in range(n):
            await app(dict(scope), receive, send)
        return (time.thread_time() - t0) / n * 1e6

    await loop(inner)
    await loop(mw)
    plain: list[float] = []
    through: list[float] = []
    for i in range(repeats):
        for app in ((inner, mw) if i % 2 == 0 else (mw, inner)):
            (plain if app is inner else through).append(await loop(app))
    await mw.stop()
    return statistics.median(plain), statistics.median(through)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=0.5)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--quick", action="store_true")
    cg = ap.add_argument_group("instructions per request (the server under valgrind's callgrind)")
    cg.add_argument("--callgrind", action="store_true", help="count instructions instead of timing")
    cg.add_argument("--requests", type=int, default=1000, help="requests per measured stretch")
    cg.add_argument("--stretches", type=int, default=3, help="measured stretches per variant")
    cg.add_argument("--warm", type=int, default=2000, help="requests before the first stretch")
    cg.add_argument("--idle", type=float, default=5.0, help="seconds of the idle stretch (a check)")
    cg.add_argument("--jobs", type=int, default=4, help="servers under valgrind at a time (4: all at once, under the same load)")
    cg.add_argument("--hashseed", default="0", help="the servers' PYTHONHASHSEED")
    cg.add_argument("--http", choices=("h11", "httptools"), default="h11",
                    help="uvicorn's HTTP implementation (httptools: what uvicorn[standard] installs; pip install httptools)")
    cg.add_argument("--out", type=Path, help="keep the callgrind dumps and the JSON here (default: a temp dir)")
    cg.add_argument("--direct", type=int, default=2000, metavar="N",
                    help="also N direct ASGI calls (no server) per variant under callgrind (0: not)")
    cg.add_argument("--floor", action="store_true",
                    help="the direct calls also of the floors in bench/mw_floor.py (what any tracking layer costs; "
                         "one compiled with mypyc)")
    ap.add_argument("--direct-child", choices=VARIANTS + FLOORS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.direct_child:
        _direct_child(args.direct_child, args.requests)
        return
    rounds = 10 if args.quick else args.rounds
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}", flush=True)
    if args.callgrind:
        import tempfile

        out = args.out or Path(tempfile.mkdtemp(prefix="bench-mw-callgrind-"))
        out.mkdir(parents=True, exist_ok=True)
        version = subprocess.run(["valgrind", "--version"], capture_output=True, text=True, check=True).stdout.strip()
        print(f"{version}, uvicorn ({args.http}, 1 worker) per variant under callgrind, PYTHONHASHSEED={args.hashseed}, one "
              f"keep-alive client outside valgrind sending requests one at a time; dumps in {out}", flush=True)
        cg_runs = callgrind_run(args.requests, args.stretches, args.warm, args.idle, args.hashseed, args.jobs, out,
                                args.http)
        (out / "callgrind.json").write_text(json.dumps(cg_runs, indent=1))
        print_callgrind(cg_runs)
        if args.direct:
            per_call = callgrind_direct(args.direct, args.hashseed, out, args.jobs, args.floor)
            request = statistics.fmean(cg_runs["plain"]["per_request"])
            print(f"  direct ASGI calls, no server (per call: a process making {2 * args.direct} calls less one making "
                  f"{args.direct}, over {args.direct}; plain {per_call['plain']:.0f} Ir a call), as a share of the "
                  f"server's {request:.0f} Ir plain request ({args.http}):")
            for v in ("mw", "mwp", "bare") + (FLOORS if args.floor else ()):
                extra = per_call[v] - per_call["plain"]
                print(f"    {LABELS.get(v) or FLOOR_LABELS[v]}: {extra:+.0f} Ir per call = {extra / request * 100:.2f} % -> "
                      f"THROUGHPUT RATIO (instructions) {request / (request + extra):.4f}")
        return

    plain_us, mw_us = asyncio.run(direct_run(5_000 if not args.quick else 2_000, 15))
    print(f"direct ASGI calls (no server): plain {plain_us:.2f} µs/request, through the middleware {mw_us:.2f} µs "
          f"(+{mw_us - plain_us:.2f} µs)", flush=True)

    runs = asyncio.run(server_run(rounds, args.seconds, args.clients))
    plain = runs["/plain"]
    print(f"uvicorn (h11, 1 worker), {args.clients} keep-alive clients:")

    def cpu_us(rs: list[Round]) -> float:  # server CPU µs per request over all rounds
        return sum(r[2] for r in rs) / sum(r[1] for r in rs) / 1e3

    def spread(xs: list[float]) -> str:
        xs = sorted(xs)
        return f"median {statistics.median(xs):.4f}, quartiles {xs[len(xs) // 4]:.4f}..{xs[(3 * len(xs)) // 4]:.4f}"

    base = cpu_us(plain)
    mixed = runs["*"][0]
    full = mixed[2] / mixed[1] / 1e3  # everything the server spends on a request (HTTP, uvicorn, app)
    samples: dict[str, list[int]] = runs["samples"]  # type: ignore[assignment]
    print(f"  interleaved per request (each connection: /plain, /mw, /bare, /mwp in turn), {mixed[1]} requests, "
          f"server CPU {full:.1f} µs per request in all; the app call alone (thread CPU, in the server):")
    app_plain = statistics.fmean(samples["/plain"]) / 1e3
    med_plain = statistics.median(samples["/plain"]) / 1e3
    for name, label in (("/mw", "SSETrackingMiddleware"), ("/mwp", "SSETrackingMiddleware(paths=('/events',))"),
                        ("/bare", "a do-nothing middleware (control)")):
        mean = statistics.fmean(samples[name]) / 1e3
        med = statistics.median(samples[name]) / 1e3
        ratio = full / (full + mean - app_plain)
        print(f"    {label}: mean {mean:.2f} µs vs plain {app_plain:.2f} (+{mean - app_plain:.2f}), median {med:.2f} vs "
              f"{med_plain:.2f} (+{med - med_plain:.2f}) -> THROUGHPUT RATIO {ratio:.4f} ({(ratio - 1) * 100:+.2f} %) "
              f"of a server spending {full:.0f} µs a request")
    print(f"  rounds of one variant each ({rounds} x 3 x {args.seconds:g} s, order rotating):")
    print(f"  server CPU per request: plain {base:.1f} µs")
    for name, label in (("/mw", "SSETrackingMiddleware"), ("/bare", "a do-nothing middleware (control)")):
        rs = runs[name]
        pair = [(p[2] / p[1]) / (r[2] / r[1]) for p, r in zip(plain, rs, strict=True)]
        wall = [r[0] / p[0] for p, r in zip(plain, rs, strict=True)]
        ratio = base / cpu_us(rs)
        print(f"  {label}: {cpu_us(rs):.1f} µs (+{cpu_us(rs) - base:.1f}); THROUGHPUT RATIO vs plain (CPU basis, "
              f"all rounds) {ratio:.4f} ({(ratio - 1) * 100:+.2f} %); per round: {spread(pair)}; "
              f"wall-clock per round: {spread(wall)}")

if __name__ == "__main__":
    main()
