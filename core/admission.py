"""Admission control for SSE routes: optional caps per client address and in total.

An ASGI middleware placed in front of the SSE routes::

    app.add_middleware(AdmissionMiddleware, source=provider, paths=["/events"])
    # or: Starlette(middleware=[Middleware(AdmissionMiddleware, source=provider, paths=["/events"])])

Limits come from the configuration (``SSE_ADMISSION_MAX_PER_CLIENT``,
``SSE_ADMISSION_MAX_TOTAL``, ``SSE_ADMISSION_RETRY_AFTER_SECONDS``); unset means no cap.

- **per client** (429): the streams one client address holds on this worker: the
  middleware's own count of the requests it admitted and that are still running (they
  are exactly the streams it fronts, including those admitted but not yet registered).
- **in total** (503): the fleet's streams = the other live workers' counts from a cached
  census (:class:`core.snapshot_cache.SnapshotCache`, refreshed in the background, never
  a store call per request) + this worker's own count now (the larger of the manager's
  local registry and the middleware's running admissions). Before the first census, or
  when the census cannot be taken, only this worker's count is known and used.

Counted process-wide: :func:`admission_stats` (a dict; ``/monitoring`` shows it while
admission control is in use: :func:`admission_in_use`, handed to the manager by the
middleware and by ``SSEProvider``) and the ``sse_admission_*`` metrics of :class:`core.exporters.prometheus.CachedCollector`.
Decisions never wait: the check and the count update run without an ``await`` in between,
so concurrent requests cannot all slip under a cap.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from .config import SSEConfig, get_config
from .manager import ConnectionManager
from .snapshot_cache import SnapshotCache

__all__ = ["AdmissionMiddleware", "AdmissionCounters", "admission_in_use", "admission_stats", "client_host"]

log = logging.getLogger("sse")


@dataclass
class AdmissionCounters:
    """Process-wide counts (every middleware instance adds to the same object)."""

    admitted: int = 0
    rejected_per_client: int = 0
    rejected_total: int = 0


COUNTERS = AdmissionCounters()
_INSTANCES: "weakref.WeakSet[AdmissionMiddleware]" = weakref.WeakSet()


def client_host(scope: Scope) -> str:
    """The default client key: the peer address of the connection (host only).

    Behind a proxy run uvicorn with ``--proxy-headers --forwarded-allow-ips=...`` so the
    peer is the real client, or pass ``client_key=`` to the middleware."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class AdmissionMiddleware:
    """Caps SSE streams per client address (429) and for the fleet (503), with ``Retry-After``.

    ``source``: a ConnectionManager, an SSEProvider, or None (``app.state.sse_manager``).
    ``paths``: path prefixes the caps apply to (None: every HTTP request through this app,
    e.g. when wrapping only the SSE endpoint). ``config``: defaults to the manager's, else
    the process config. ``census``: a :class:`SnapshotCache` to share (e.g. the Prometheus
    collector's ``collector.cache``, whose refresher the app runs); otherwise, when a total
    cap is set, one is made and refreshed in the background as requests arrive (at most
    one refresh in flight, once per ``SSE_ADMISSION_CENSUS_INTERVAL_SECONDS``).
    """

    def __init__(self, app: ASGIApp, source: Any = None, *, paths: Sequence[str] | None = None,
                 config: SSEConfig | None = None, census: SnapshotCache | None = None,
                 client_key: Callable[[Scope], str] = client_host) -> None:
        self.app = app
        self.source = source
        self.paths = tuple(paths) if paths is not None else None
        self._config = config
        self.census = census
        self.client_key = client_key
        self.per_client: dict[str, int] = {}
        self.in_flight = 0
        self._manager: Any = None
        self._refreshing: asyncio.Task[Any] | None = None
        _INSTANCES.add(self)
        _hand_counts_to(source)

    # -- limits ---------------------------------------------------------------------------
    @property
    def config(self) -> SSEConfig:
        if self._config is not None:
            return self._config
        if self._manager is not None:
            return self._manager.config  # type: ignore[no-any-return]
        return get_config()

    def _applies(self, scope: Scope) -> bool:
        if scope["type"] != "http":
            return False
        if self.paths is None:
            return True
        path = scope.get("path", "")
        return any(path == p or path.startswith(p.rstrip("/") + "/") for p in self.paths)

    def local_connections(self) -> int:
        """This worker's streams now: the manager's registry or our admissions, whichever is larger."""
        registered = len(self._manager.local_connection_ids()) if self._manager is not None else 0
        return max(registered, self.in_flight)

    def fleet_connections(self) -> int:
        """Other live workers' streams (cached census) + this worker's now."""
        others = 0
        snap = self.census.latest if self.census is not None else None
        if snap is not None:
            own = getattr(self._manager, "worker_id", None)
            others = sum(w.connections for w in (snap.stats.workers or ()) if w.alive and w.worker_id != own)
        return others + self.local_connections()

    # -- ASGI -----------------------------------------------------------------------------
    async def _resolve(self, scope: Scope) -> None:
        if self._manager is None:
            source = self.source
            if source is None:
                app = scope.get("app")
                source = getattr(getattr(app, "state", None), "sse_manager", None)
            get = getattr(source, "get_connection_manager", None)
            self._manager = await get() if get is not None else source
            _hand_counts_to(self._manager)
        if self.config.ADMISSION_MAX_TOTAL is not None and self._manager is not None:
            if self.census is None:
                self.census = SnapshotCache(self._manager, interval=self.config.ADMISSION_CENSUS_INTERVAL_SECONDS)
            self._kick_census()

    def _kick_census(self) -> None:
        """Refresh the census in the background when nobody runs its refresher and it is
        missing or older than its interval (one refresh at a time; the request never waits)."""
        census = self.census
        if census is None or census.running or (self._refreshing is not None and not self._refreshing.done()):
            return
        age = census.age_seconds()
        if age is None or age >= census.interval:
            self._refreshing = asyncio.create_task(census.refresh(), name="sse-admission-census")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._applies(scope):
            await self.app(scope, receive, send)
            return
        await self._resolve(scope)
        cfg = self.config
        key = self.client_key(scope)
        # no await from here until the counts are updated: the decision and the count are atomic
        if cfg.ADMISSION_MAX_PER_CLIENT is not None and self.per_client.get(key, 0) >= cfg.ADMISSION_MAX_PER_CLIENT:
            COUNTERS.rejected_per_client += 1
            await _refuse(send, 429, f"too many streams from this client (limit {cfg.ADMISSION_MAX_PER_CLIENT})",
                          cfg.ADMISSION_RETRY_AFTER_SECONDS)
            return
        if cfg.ADMISSION_MAX_TOTAL is not None and self.fleet_connections() >= cfg.ADMISSION_MAX_TOTAL:
            COUNTERS.rejected_total += 1
            await _refuse(send, 503, f"server at its stream limit ({cfg.ADMISSION_MAX_TOTAL})",
                          cfg.ADMISSION_RETRY_AFTER_SECONDS)
            return
        COUNTERS.admitted += 1
        self.per_client[key] = self.per_client.get(key, 0) + 1
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            left = self.per_client.get(key, 1) - 1
            if left > 0:
                self.per_client[key] = left
            else:
                self.per_client.pop(key, None)

    async def aclose(self) -> None:
        """Wait for a census refresh in flight (tests, shutdown)."""
        task, self._refreshing = self._refreshing, None
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)


async def _refuse(send: Send, status: int, message: str, retry_after: float) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(max(1, math.ceil(retry_after))).encode()), (b"cache-control", b"no-store"),
    ]})
    await send({"type": "http.response.body", "body": body})


def _hand_counts_to(manager: Any) -> None:
    """Let ``manager``'s ``/monitoring`` show this process's admission counts."""
    if isinstance(manager, ConnectionManager) and manager.admission_source is None:
        manager.admission_source = admission_in_use


def admission_in_use() -> dict[str, Any] | None:
    """What ``/monitoring`` shows as ``admission``: :func:`admission_stats` while admission
    control is in use in this process (a cap set, or anything admitted or refused), else None."""
    a = admission_stats()
    return a if a["enabled"] or a["admitted"] or a["rejected_per_client"] or a["rejected_total"] else None


def admission_stats() -> dict[str, Any]:
    """Admission counts for ``/monitoring`` (process-wide; caps of the live middlewares)."""
    instances = list(_INSTANCES)
    census_ages = [a for a in (m.census.age_seconds() for m in instances if m.census is not None) if a is not None]
    caps_client = sorted({m.config.ADMISSION_MAX_PER_CLIENT for m in instances if m.config.ADMISSION_MAX_PER_CLIENT is not None})
    caps_total = sorted({m.config.ADMISSION_MAX_TOTAL for m in instances if m.config.ADMISSION_MAX_TOTAL is not None})
    return {
        "enabled": bool(caps_client or caps_total),
        "max_per_client": caps_client[0] if caps_client else None,
        "max_total": caps_total[0] if caps_total else None,
        "admitted": COUNTERS.admitted,
        "rejected_per_client": COUNTERS.rejected_per_client,
        "rejected_total": COUNTERS.rejected_total,
        "local_connections": sum(m.in_flight for m in instances),
        "census_age_seconds": round(min(census_ages), 3) if census_ages else None,
    }

