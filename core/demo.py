"""The embedded demo service: a real uvicorn server with a tracked SSE stream, the
monitoring endpoints, and a simulated audience.

In process (the dashboard uses this)::

    svc = DemoService(host="127.0.0.1", port=0, clients=40)
    await svc.start()          # uvicorn runs as a task of the current event loop
    svc.base_url, svc.monitoring_url, svc.token, svc.manager
    await svc.stop()

From the shell: ``sse-demo [--host H] [--port P] [--clients N] [--redis-url URL] [--workers N] [--token T]``.
With ``--redis-url`` and ``--workers N`` a fleet of N uvicorn worker processes shares Redis
(each its own manager); the audience runs in a process of its own, a client like any
other: it holds no manager and no heartbeat, so the fleet shows N workers, not N + 1.

The audience: a few long-lived listeners, many clients that come and go, and some that
vanish without closing (registered, never active again: they go stale and cleanup removes them).
In a fleet a vanishing client is registered by the worker that serves its request
(``GET /demo/vanish``, on the workers' app only when the fleet has an audience).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import multiprocessing
import os
import random
import secrets
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .config import SSEConfig, load_config
from .logs import configure_logging
from .manager import ConnectionManager
from .provider import make_store
from .streaming import close_tracked_streams, tracked_event_source

__all__ = ["DemoService", "EmbeddedServer", "Audience", "demo_config", "build_demo_app", "fleet_app", "main"]

log = logging.getLogger("sse.demo")

# shorter than production so things happen on screen (each applies only if SSE_<NAME> is unset)
DEMO_DEFAULTS: dict[str, Any] = {
    "STALE_CONNECTION_THRESHOLD_SECONDS": 60.0,
    "CLEANUP_INTERVAL_SECONDS": 15.0,
    "PING_INTERVAL_SECONDS": 5.0,
}
CHANNELS = ("default", "prices", "news", "browser")
EVENT_INTERVAL_SECONDS = 1.0
VANISH_PATH = "/demo/vanish"
GHOSTS_ENV = "SSE_DEMO_GHOSTS"  # "1": the fleet's workers serve VANISH_PATH (set by sse-demo --workers)
MAX_GHOSTS_PER_WORKER = 1000  # VANISH_PATH answers 429 beyond this many held at once


def demo_config(token: str | None = None, redis_url: str | None = None, **overrides: Any) -> SSEConfig:
    """SSE_* from the environment, the demo's shorter intervals where unset, then ``overrides``."""
    env = {k.upper() for k in os.environ}
    values: dict[str, Any] = {k: v for k, v in DEMO_DEFAULTS.items() if f"SSE_{k}" not in env}
    if token:
        values["MONITORING_TOKEN"] = token
    if redis_url:
        values["REDIS_URL"] = redis_url
    values.update(overrides)
    return load_config(**values)


# -- the app ---------------------------------------------------------------------------
async def _ticks(request: Request, worker: str) -> AsyncIterator[dict[str, Any]]:
    seq = 0
    price = 100.0
    while True:
        seq += 1
        price = round(max(1.0, price * (1 + random.gauss(0, 0.002))), 2)
        yield {"event": "tick", "id": str(seq),
               "data": json.dumps({"seq": seq, "ts": round(time.time(), 3), "price": price, "worker": worker})}
        await asyncio.sleep(EVENT_INTERVAL_SECONDS)


async def hold_ghost(manager: ConnectionManager, i: int,
                     until_gone: Callable[[], Awaitable[bool]] | None = None) -> bool:
    """Register one client that vanished without closing (never active again) and wait until
    it is removed (True: cleanup, or the server's shutdown) or ``until_gone()`` says to stop
    waiting (False: it is unregistered)."""
    gone = asyncio.Event()
    record = await manager.register(channel="default", client_address=f"198.51.100.{i % 250 + 1}:{40000 + i % 20000}",
                                    user_agent="sse-demo/vanished", on_close=gone.set)
    while not gone.is_set():
        if until_gone is not None and await until_gone():
            await manager.unregister(record.connection_id)
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(gone.wait(), 1.0)
    return True


def build_demo_app(manager: ConnectionManager, *, ghosts: bool = False) -> Starlette:
    """The demo's Starlette app: ``/`` (page), ``/events`` (tracked stream), monitoring routes;
    with ``ghosts``, ``GET /demo/vanish?i=N`` too: the fleet audience's vanishing clients,
    registered by this worker (the answer comes when cleanup has removed it)."""
    from .asgi import create_app

    page = (Path(__file__).parent / "static" / "index.html").read_text(encoding="utf-8")
    held = 0  # vanishing clients this worker holds now

    async def index(request: Request) -> Response:
        return HTMLResponse(page)

    async def events(request: Request) -> Response:
        channel = request.query_params.get("channel", "default")
        if channel not in CHANNELS:  # bounded: channels are labels on nothing, but keep them few
            channel = "default"
        return tracked_event_source(request, _ticks(request, manager.worker_id), manager=manager, channel=channel)

    async def vanish(request: Request) -> Response:
        nonlocal held
        if held >= MAX_GHOSTS_PER_WORKER:
            return JSONResponse({"error": "too many vanishing clients held"}, status_code=429)
        raw = request.query_params.get("i", "0")
        i = int(raw) if raw.isdigit() and len(raw) < 9 else 0
        held += 1
        try:
            removed = await hold_ghost(manager, i, request.is_disconnected)
        finally:
            held -= 1
        return JSONResponse({"removed": removed})

    routes: list[BaseRoute] = [Route("/", index), Route("/events", events)]
    if ghosts:
        routes.append(Route(VANISH_PATH, vanish))
    return create_app(manager, routes=routes)


def fleet_app() -> Starlette:
    """Factory for each worker process of ``sse-demo --workers N`` (config from SSE_*)."""
    _setup_logging()
    cfg = load_config()
    return build_demo_app(ConnectionManager(make_store(cfg), cfg), ghosts=os.environ.get(GHOSTS_ENV) == "1")


# -- an embeddable uvicorn -------------------------------------------------------------
class EmbeddedServer(uvicorn.Server):
    """uvicorn without signal handlers: the embedding program owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: a free port). Bind errors surface here as OSError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP: asyncio only sets TCP_NODELAY on accepted sockets whose proto
    # says TCP; with proto 0 every second response on a keep-alive connection waited ~40 ms
    # (Nagle + the client's delayed ACK)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


async def serve_app(app: Any, host: str = "127.0.0.1", port: int = 0, **config: Any) -> tuple[EmbeddedServer, asyncio.Task[None], int]:
    """Start ``app`` on uvicorn in this event loop. Returns (server, task, bound port)."""
    sock = bind_socket(host, port)
    cfg = uvicorn.Config(app, log_config=None, log_level=config.pop("log_level", "warning"), access_log=False,
                         lifespan="on", timeout_graceful_shutdown=config.pop("timeout_graceful_shutdown", 5),
                         **config)
    server = EmbeddedServer(cfg)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"uvicorn-{host}:{sock.getsockname()[1]}")
    deadline = time.monotonic() + 15
    while not server.started:
        if task.done():
            sock.close()
            exc = task.exception()
            raise RuntimeError(f"server failed to start: {exc!r}")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("server did not start within 15s")
        await asyncio.sleep(0.01)
    return server, task, sock.getsockname()[1]


async def stop_server(server: uvicorn.Server, task: asyncio.Task[None], timeout: float = 10.0) -> None:
    server.should_exit = True
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout)
    except TimeoutError:
        server.force_exit = True
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(task, 5)


# -- the audience ----------------------------------------------------------------------
async def sse_client(host: str, port: int, seconds: float | None, path: str = "/events", agent: str = "sse-demo",
                     *, close: bool = False) -> int:
    """One real SSE client on a raw socket: reads for ``seconds`` (None: until closed). Returns bytes read.
    ``close``: ask the server to close after its answer (a plain request, read to its end)."""
    reader, writer = await asyncio.open_connection(host, port)
    got = 0
    try:
        extra = "Connection: close\r\n" if close else ""
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n"
                     f"User-Agent: {agent}\r\n{extra}\r\n".encode())
        with contextlib.suppress(asyncio.TimeoutError):
            async with asyncio.timeout(seconds):
                while chunk := await reader.read(65536):
                    got += len(chunk)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    return got


class Audience:
    """Simulated clients of one demo server.

    * ~10% long-lived listeners (connect once, stay);
    * ~15% that vanish without closing: registered with ``ghost_manager`` (the server's own,
      in process) or, with ``remote_ghosts``, by the worker serving ``GET /demo/vanish`` (a
      fleet), and never active again, so they go stale and cleanup removes them (then a
      new one arrives);
    * the rest come and go: stay ~30 s (exponential), leave, come back a few seconds later.
    """

    def __init__(self, host: str, port: int, clients: int, ghost_manager: ConnectionManager | None = None,
                 mean_stay: float = 30.0, *, remote_ghosts: bool = False) -> None:
        self.host, self.port, self.clients = host, port, clients
        self.ghost_manager = ghost_manager
        self.remote_ghosts = remote_ghosts
        self.mean_stay = mean_stay
        self._tasks: list[asyncio.Task[None]] = []

    def plan(self) -> tuple[int, int, int]:
        n = self.clients
        long_lived = max(1, n // 10) if n else 0
        ghosts = (n * 15 // 100) if self.ghost_manager is not None or self.remote_ghosts else 0
        return long_lived, ghosts, max(n - long_lived - ghosts, 0)

    def start(self) -> None:
        long_lived, ghosts, churn = self.plan()
        for i in range(long_lived):
            self._spawn(self._listener(None, "sse-demo/long-lived", 0.0), f"long-{i}")
        for i in range(churn):
            self._spawn(self._churner(i), f"churn-{i}")
        for i in range(ghosts):
            self._spawn(self._ghost(i), f"ghost-{i}")

    def _spawn(self, coro: Any, name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=f"audience-{name}"))

    async def _listener(self, seconds: float | None, agent: str, delay: float) -> None:
        await asyncio.sleep(delay)
        while True:  # a listener whose stream ends (lifetime, restart) reconnects, like EventSource
            try:
                await sse_client(self.host, self.port, seconds, "/events?channel=news", agent)
            except OSError:
                pass
            if seconds is not None:
                return
            await asyncio.sleep(1.0 + random.random() * 2)

    async def _churner(self, i: int) -> None:
        await asyncio.sleep(random.uniform(0, 5))  # steady arrivals, not a thundering herd
        while True:
            stay = min(max(random.expovariate(1 / self.mean_stay), 2.0), 4 * self.mean_stay)
            try:
                await sse_client(self.host, self.port, stay, "/events?channel=prices", "sse-demo/visitor")
            except OSError:
                await asyncio.sleep(1.0)
            await asyncio.sleep(random.uniform(0.5, 5.0))

    async def _ghost(self, i: int) -> None:
        await asyncio.sleep(random.uniform(0, 10))
        while True:  # each round: one vanished client, held until cleanup removes it
            if self.ghost_manager is not None:
                await hold_ghost(self.ghost_manager, i)
            else:
                try:
                    await sse_client(self.host, self.port, None, f"{VANISH_PATH}?i={i}", "sse-demo/audience", close=True)
                except OSError:
                    pass
            await asyncio.sleep(random.uniform(1.0, 10.0))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(BaseException):
                await t
        self._tasks.clear()


# -- the service -----------------------------------------------------------------------
class DemoService:
    """The demo server in the current event loop (the dashboard's embedded source)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, clients: int = 40, token: str | None = None,
                 config: SSEConfig | None = None) -> None:
        self.host = host
        self.port = port
        self.clients = clients
        if config is None:
            self.token = token or secrets.token_urlsafe(24)
            config = demo_config(token=self.token)
        else:
            if token is not None:
                config = config.model_copy(update={"MONITORING_TOKEN": SecretStr(token)})
            self.token = config.monitoring_token or ""
        self.config = config
        self.manager = ConnectionManager(make_store(config), config)
        self.app = build_demo_app(self.manager)
        self.audience: Audience | None = None
        self._server: EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def monitoring_url(self) -> str:
        return self.base_url + "/monitoring"

    async def start(self) -> None:
        if self._server is not None:
            return
        await self.manager.start()  # a store that cannot start fails here, as a normal exception
        try:
            self._server, self._task, self.port = await serve_app(self.app, self.host, self.port)
        except BaseException:
            await self.manager.stop()
            raise
        if self.clients > 0:
            self.audience = Audience(self.host, self.port, self.clients, ghost_manager=self.manager)
            self.audience.start()

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        server, task, self._server, self._task = self._server, self._task, None, None
        if self.audience is not None:
            await self.audience.stop()
            self.audience = None
        await close_tracked_streams(self.manager)
        await stop_server(server, task)
        await self.manager.stop()  # no-op when the lifespan did it


# -- the command line ------------------------------------------------------------------
def _setup_logging() -> None:
    level = os.environ.get("SSE_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=getattr(logging, level, logging.INFO), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # the sse logger's own output honours SSE_LOG_FORMAT (text: the guide's lines; json: JSON lines)
    configure_logging(os.environ.get("SSE_LOG_FORMAT", "text").lower(), level if level in ("DEBUG", "INFO", "WARNING", "ERROR") else "INFO")


def _banner(base_url: str, token: str, workers: int, store: str) -> None:
    print(f"sse-demo: serving on {base_url}  ({workers} worker{'s' if workers != 1 else ''}, {store} store)")
    print(f"  page:        {base_url}/")
    print(f"  monitoring:  {base_url}/monitoring")
    print(f"  metrics:     {base_url}/metrics")
    print(f"  token:       {token}")
    print(f"  cleanup:     curl -X POST -H 'Authorization: Bearer {token}' {base_url}/monitoring/cleanup")
    print(f"  dashboard:   sse-dash --url {base_url}/monitoring --token {token}", flush=True)


async def _run_single(args: argparse.Namespace, token: str) -> None:
    svc = DemoService(host=args.host, port=args.port, clients=args.clients, token=token,
                      config=demo_config(token=token, redis_url=args.redis_url))
    await svc.start()
    _banner(svc.base_url, svc.token, 1, svc.manager.store.kind)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("sse-demo: shutting down (unregistering live connections)", flush=True)
    await svc.stop()


def _audience_process(host: str, port: int, clients: int) -> None:
    """The fleet's audience, in a process of its own: only clients (no manager, no heartbeat:
    it is not a worker). Its vanishing clients are registered by the workers (VANISH_PATH)."""
    async def run() -> None:
        audience = Audience(host, port, clients, remote_ghosts=True)
        audience.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await audience.stop()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


def _run_fleet(args: argparse.Namespace, token: str) -> None:
    cfg = demo_config(token=token, redis_url=args.redis_url)
    for name in DEMO_DEFAULTS:  # the workers read SSE_* only
        os.environ[f"SSE_{name}"] = repr(getattr(cfg, name))
    os.environ["SSE_REDIS_URL"] = args.redis_url
    os.environ["SSE_MONITORING_TOKEN"] = token
    os.environ[GHOSTS_ENV] = "1" if args.clients > 0 else "0"
    port = args.port
    if port == 0:
        with socket.socket() as s:
            s.bind((args.host, 0))
            port = s.getsockname()[1]
    _banner(f"http://{args.host}:{port}", token, args.workers, "redis")
    audience = None
    if args.clients > 0:
        audience = multiprocessing.get_context("spawn").Process(
            target=_audience_process, args=(args.host, port, args.clients), daemon=True)
        audience.start()
    try:
        uvicorn.run("core.demo:fleet_app", factory=True, host=args.host, port=port, workers=args.workers,
                    log_level="warning", timeout_graceful_shutdown=10)
    finally:
        if audience is not None and audience.is_alive():
            audience.terminate()
            audience.join(10)


async def _redis_problem(url: str) -> str | None:
    """One line saying why ``url`` cannot be used (None when it answers). The demo runs
    for a person at a terminal: a Redis that is not there is an error, not a wait."""
    from .store.base import StoreUnavailable
    from .store.redis import RedisStore
    store = RedisStore(url)
    try:
        await store.start()
        await store.ping()
    except StoreUnavailable as exc:
        return str(exc)
    finally:
        await store.close()
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="sse-demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="0 picks a free port (default 8000)")
    p.add_argument("--clients", type=int, default=40, help="simulated clients (0: none)")
    p.add_argument("--redis-url", default=None, help="share state in Redis (default: in-memory store)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (needs --redis-url when > 1)")
    p.add_argument("--token", default=None, help="monitoring token (default: generated)")
    args = p.parse_args(argv)
    if args.clients < 0 or args.workers < 1:
        p.error("--clients must be >= 0 and --workers >= 1")
    if args.workers > 1 and not args.redis_url:
        p.error("--workers > 1 needs --redis-url (each worker process needs the shared store)")
    token = args.token or os.environ.get("SSE_MONITORING_TOKEN") or secrets.token_urlsafe(24)
    if args.redis_url:
        problem = asyncio.run(_redis_problem(args.redis_url))
        if problem:
            print(f"sse-demo: cannot use Redis: {problem}", file=sys.stderr)
            return 3
    _setup_logging()
    try:
        if args.workers > 1:
            _run_fleet(args, token)
        else:
            asyncio.run(_run_single(args, token))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"sse-demo: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
