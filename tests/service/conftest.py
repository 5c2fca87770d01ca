"""Service tests: real uvicorn on loopback, real SSE clients on raw sockets, real redis-server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from core.config import SSEConfig, load_config
from core.demo import build_demo_app, serve_app, stop_server
from core.manager import ConnectionManager
from core.provider import make_store
from core.streaming import close_tracked_streams

ROOT = Path(__file__).resolve().parents[2]

# fast intervals: stale > 3x ping, cleanup well inside the stale threshold
# (LATE at 1 s, not two 0.2 s flushes: a busy 2-core CI machine delays a flush that long)
FAST = dict(PING_INTERVAL_SECONDS=0.5, TOUCH_FLUSH_INTERVAL_SECONDS=0.2, STALE_CONNECTION_THRESHOLD_SECONDS=3.0,
            CLEANUP_INTERVAL_SECONDS=1.0, WORKER_HEARTBEAT_TTL_SECONDS=1.5, REDIS_TIMEOUT_SECONDS=0.5,
            WORKER_LATE_SECONDS=1.0,
            LOG_LEVEL="WARNING", MONITORING_CONNECTIONS_PUBLIC=True)  # listings open: the tests read them freely


async def wait_for(predicate: Callable[[], Awaitable[Any]], timeout: float, message: str, interval: float = 0.05) -> Any:
    """Await ``predicate()`` until truthy or the deadline passes (then fail with the last value)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = await predicate()
            if last:
                return last
        except (httpx.HTTPError, OSError) as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}; last: {str(last)[:500]}")
        await asyncio.sleep(interval)


class SSEClient:
    """One real SSE client on a raw socket that counts bytes and events as they arrive."""

    def __init__(self, host: str, port: int, path: str = "/events") -> None:
        self.host, self.port, self.path = host, port, path
        self.bytes = 0
        self.events = 0
        self.headers_received = asyncio.Event()
        self.closed_by_server = asyncio.Event()
        self.clean_end = False  # the chunked body ended with the terminating chunk
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._read = True

    async def connect(self, read: bool = True) -> "SSEClient":
        self._read = read
        reader, writer = await asyncio.open_connection(self.host, self.port)
        self._writer = writer
        writer.write(f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nAccept: text/event-stream\r\n"
                     f"User-Agent: test-client\r\n\r\n".encode())
        self._task = asyncio.create_task(self._run(reader))
        return self

    async def _run(self, reader: asyncio.StreamReader) -> None:
        buf = b""
        try:
            while b"\r\n\r\n" not in buf:
                chunk = await reader.read(65536)
                if not chunk:
                    self.closed_by_server.set()
                    return
                buf += chunk
            self.headers_received.set()
            if not self._read:
                await asyncio.Event().wait()
            tail = buf.split(b"\r\n\r\n", 1)[1]
            self._count(tail)
            # the stream ends with the terminating chunk (the connection may stay open: keep-alive) or EOF
            while not tail.endswith(b"\r\n0\r\n\r\n") and (chunk := await reader.read(65536)):
                self._count(chunk)
                tail = (tail + chunk)[-16:]
            self.clean_end = tail.endswith(b"\r\n0\r\n\r\n")
            self.closed_by_server.set()
        except (ConnectionError, OSError):
            self.closed_by_server.set()

    def _count(self, chunk: bytes) -> None:
        self.bytes += len(chunk)
        self.events += chunk.count(b"data:")

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task


async def open_clients(host: str, port: int, n: int, path: str = "/events", read: bool = True) -> list[SSEClient]:
    clients: list[SSEClient] = []
    for start in range(0, n, 100):  # in waves, so the listen backlog never overflows
        wave = [SSEClient(host, port, path) for _ in range(min(100, n - start))]
        await asyncio.gather(*(c.connect(read) for c in wave))
        await asyncio.wait_for(asyncio.gather(*(c.headers_received.wait() for c in wave)), 30)
        clients.extend(wave)
    return clients


async def close_clients(clients: list[SSEClient]) -> None:
    await asyncio.gather(*(c.close() for c in clients))


class Served:
    """An app on a real uvicorn in this event loop, with its manager and an HTTP client."""

    def __init__(self, manager: ConnectionManager, port: int, http: httpx.AsyncClient) -> None:
        self.manager = manager
        self.port = port
        self.host = "127.0.0.1"
        self.base_url = f"http://127.0.0.1:{port}"
        self.http = http

    async def monitoring(self) -> dict[str, Any]:
        r = await self.http.get("/monitoring")
        assert r.status_code == 200, r.text
        return r.json()

    async def metric(self, name: str) -> float:
        r = await self.http.get("/metrics")
        for line in r.text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise AssertionError(f"{name} not in /metrics")


@contextlib.asynccontextmanager
async def serve(config: SSEConfig, routes: list[Route] | None = None) -> AsyncIterator[Served]:
    """The demo app (``/events`` tracked; no simulated clients) plus ``routes``, on loopback."""
    manager = ConnectionManager(make_store(config), config)
    app = build_demo_app(manager)
    for r in routes or []:
        app.router.routes.append(r)
    await manager.start()
    server, task, port = await serve_app(app, "127.0.0.1", 0)
    http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10)
    try:
        yield Served(manager, port, http)
    finally:
        await http.aclose()
        await close_tracked_streams(manager)
        await stop_server(server, task)
        await manager.stop()


def fast_config(**overrides: Any) -> SSEConfig:
    return load_config(**{**FAST, **overrides})


# -- worker subprocesses ---------------------------------------------------------------
def shared_listener() -> socket.socket:
    """A listening socket on a free loopback port, to hand to several workers (``sock=`` of
    the ``workers`` fixture): they accept from one queue, as the workers of one deployment
    behind one address do, so a client that reconnects to the same URL reaches whichever is
    alive. Close it once the workers are started."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    return sock


class WorkerProcess:
    """``uvicorn core.demo:fleet_app`` in a process of its own (real signals, real kill -9);
    on ``port``, or on a listening socket shared with other workers (``sock``: uvicorn's ``--fd``)."""

    def __init__(self, redis_url: str, namespace: str, port: int, sock: socket.socket | None = None,
                 **env: Any) -> None:
        self.port = port if sock is None else sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        e = {**os.environ, "SSE_REDIS_URL": redis_url, "SSE_REDIS_NAMESPACE": namespace, "PYTHONPATH": str(ROOT)}
        e.update({f"SSE_{k}": str(v) for k, v in {**FAST, **env}.items()})
        where = ["--host", "127.0.0.1", "--port", str(port)] if sock is None else ["--fd", str(sock.fileno())]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "core.demo:fleet_app", "--factory", *where,
             "--log-level", "warning", "--timeout-graceful-shutdown", "10"],
            env=e, cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            pass_fds=() if sock is None else (sock.fileno(),))

    async def wait_ready(self, timeout: float = 20.0) -> None:
        # a new connection for each try: on a shared socket, a kept-alive one stays with
        # whichever worker accepted it
        async with httpx.AsyncClient(timeout=2, limits=httpx.Limits(max_keepalive_connections=0)) as http:
            async def up() -> bool:
                if self.proc.poll() is not None:
                    raise AssertionError(f"worker exited: {self.output()}")
                r = await http.get(self.base_url + "/health/ready")
                # the answer must come from this process (not another server on a reused port)
                return r.status_code == 200 and r.json().get("pid") == self.proc.pid
            await wait_for(up, timeout, f"worker on port {self.port}", interval=0.1)

    def output(self) -> str:
        if self.proc.poll() is None or self.proc.stdout is None:
            return ""
        return self.proc.stdout.read().decode(errors="replace")[-3000:]

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        if self.proc.stdout:
            self.proc.stdout.close()


@pytest.fixture
def workers():
    procs: list[WorkerProcess] = []

    def spawn(redis_url: str, namespace: str, sock: socket.socket | None = None, **env: Any) -> WorkerProcess:
        """A worker on a port of its own, or on ``sock`` (shared_listener: several workers, one address)."""
        from tests.redis_server import free_port
        port = 0
        if sock is None:
            port = free_port()
            while port in {w.port for w in procs}:  # a port just released can be handed out again
                port = free_port()
        w = WorkerProcess(redis_url, namespace, port, sock, **env)
        procs.append(w)
        return w

    yield spawn
    for w in procs:
        w.stop()
