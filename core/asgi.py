"""Starlette routes: /monitoring, /monitoring/connections, /monitoring/cleanup, /metrics, /health.

Mount them on any Starlette or FastAPI app::

    app = Starlette(routes=[*monitoring_routes(provider), Route("/events", events)],
                    lifespan=sse_lifespan(provider))
    # FastAPI: app.router.routes.extend(monitoring_routes(provider))

Authorization (``auth="bearer"``, the default): the actions (``POST /monitoring/cleanup``,
``DELETE /monitoring/connections/{id}``, ``POST /monitoring/workers/{id}/reap``, and the
``GET /monitoring/auth`` check) need ``Authorization: Bearer <SSE_MONITORING_TOKEN>`` (404
when no token is configured: the endpoints do not exist). Connection listings
(``/monitoring/connections*``, ``/monitoring/channels``: client addresses and user agents)
need it too unless ``SSE_MONITORING_CONNECTIONS_PUBLIC``. With
``SSE_MONITORING_READ_REQUIRES_TOKEN`` every read endpoint (/monitoring, /metrics) needs
it; the probes (``/health*``) never do, and their bodies carry no secret and no address.
Every refusal is ``{"error": ..., "check": "bearer_token"}``: which check refused and what
it expected.

``auth="app"``: the caller puts every route behind the application's own check
(:func:`core.integration.monitoring_router` with ``dependencies=``); the endpoints then
check nothing themselves, and the actions are enabled whether or not a token is set.

``GET /monitoring/history?range=1h&step=10s`` (the fleet history, core.history; add
``&workers=1`` for the per-worker counts) follows the read rules of /monitoring.

Probes: ``/health/live`` and ``/health/ready`` judge this process only (give them to a
load balancer or Kubernetes); ``/health`` and ``/health/fleet`` are the guide's fleet-wide
verdict (give them to alerting).
"""

from __future__ import annotations

import functools
import hmac
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .classify import STATES
from .config import SSEConfig
from .durations import parse_duration
from .exporters.prometheus import CONTENT_TYPE_LATEST, render_metrics
from .history import series_json
from .manager import ConnectionManager
from .store.base import LIST_SORTS, ORDERS, StoreUnavailable
from .streaming import ManagerSource, close_tracked_streams, resolve_manager

__all__ = ["monitoring_routes", "sse_lifespan", "create_app", "MAX_CLEANUP_BATCH", "CONNECTION_STATES", "AuthMode",
           "BEARER_CHECK", "APP_CHECK"]

log = logging.getLogger("sse")

MAX_CLEANUP_BATCH = 10_000
MAX_OFFSET = 1_000_000_000
MAX_BODY = 16 * 1024
MAX_QUERY = 200
DEFAULT_PAGE = 50
CONNECTION_STATES = STATES
_NO_STORE = {"Cache-Control": "no-store"}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers={**_NO_STORE, **(headers or {})})


def _flag(value: str, name: str) -> bool:
    """A query flag: ``1`` / ``true`` or ``0`` / ``false``; ValueError (a 400) otherwise."""
    v = value.strip().lower()
    if v in ("1", "true"):
        return True
    if v in ("0", "false", ""):
        return False
    raise ValueError(f"{name} must be 1 or 0, not {value[:20]!r}")


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


AuthMode = Literal["bearer", "app"]
BEARER_CHECK = "bearer_token"  # the "check" of a refusal by the token check below
APP_CHECK = "app_dependency"  # the "check" of a refusal by the app's own dependency (core.integration)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="sse-monitoring"'}


def _refusal(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "check": BEARER_CHECK}, status_code=status,
                        headers={**_NO_STORE, **(headers or {})})


def _check_token(request: Request, expected: str | None) -> JSONResponse | None:
    """None when authorized, else the 401/403 response (naming the check and what it expects)."""
    if expected is None:
        return _refusal(403, "bearer token required, but the service has no SSE_MONITORING_TOKEN configured")
    given = _bearer(request)
    if given is None:
        return _refusal(401, "bearer token required (SSE_MONITORING_TOKEN): send Authorization: Bearer <token>",
                        _CHALLENGE)
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return _refusal(403, "bearer token rejected: it is not the service's SSE_MONITORING_TOKEN")
    return None


class _Endpoints:
    def __init__(self, source: ManagerSource, config: SSEConfig | None, auth: AuthMode = "bearer") -> None:
        if auth not in ("bearer", "app"):
            raise ValueError(f"auth must be 'bearer' or 'app', not {auth!r}")
        self.source = source
        self.config = config
        self.app_auth = auth == "app"  # the app's own check guards every route: no token check here
        self._cleanup_running = False  # one cleanup per endpoint at a time (the manager's lock covers the rest)

    async def manager(self, request: Request) -> ConnectionManager:
        return await resolve_manager(self.source, request)

    def cfg(self, manager: ConnectionManager) -> SSEConfig:
        return self.config or manager.config

    async def _read_guard(self, request: Request, *, listing: bool = False) -> tuple[ConnectionManager, JSONResponse | None]:
        manager = await self.manager(request)
        cfg = self.cfg(manager)
        if self.app_auth:
            return manager, None
        if cfg.MONITORING_READ_REQUIRES_TOKEN or (listing and not cfg.MONITORING_CONNECTIONS_PUBLIC):
            return manager, _check_token(request, cfg.monitoring_token)
        return manager, None

    async def _action_guard(self, request: Request) -> tuple[ConnectionManager, JSONResponse | None]:
        manager = await self.manager(request)
        if self.app_auth:
            return manager, None
        token = self.cfg(manager).monitoring_token
        if token is None:
            return manager, _refusal(404, "actions disabled: the service has no SSE_MONITORING_TOKEN configured "
                                          "(and no auth dependency of its own on these endpoints)")
        return manager, _check_token(request, token)

    # -- reads --------------------------------------------------------------------------
    async def monitoring(self, request: Request) -> Response:
        manager, denied = await self._read_guard(request)
        if denied:
            return denied
        return JSONResponse(await manager.get_detailed_monitoring_stats(), headers=_NO_STORE)

    async def history(self, request: Request) -> Response:
        """``GET /monitoring/history?range=1h&step=10s[&workers=1]``: the fleet history as
        columns (core.models.HistorySeries); the per-worker counts only with ``workers=1``
        (``workers`` is null otherwise: they would double the read). Same auth as
        /monitoring; 400 on a bad range/step/workers."""
        manager, denied = await self._read_guard(request)
        if denied:
            return denied
        q = request.query_params
        try:
            range_s = parse_duration(q.get("range", "1h"))
            step = parse_duration(q["step"]) if q.get("step") else None
            workers = _flag(q.get("workers", "0"), "workers")
            series = await manager.history(range_s, step, workers=workers)
        except ValueError as exc:
            return _error(400, str(exc))
        # 8,640 buckets x ~30 columns: each column encoded once by pydantic-core (series_json)
        return Response(series_json(series), media_type="application/json", headers=_NO_STORE)

    async def connections(self, request: Request) -> Response:
        manager, denied = await self._read_guard(request, listing=True)
        if denied:
            return denied
        cfg = self.cfg(manager)
        q = request.query_params
        state = q.get("state", "all")
        if state not in CONNECTION_STATES:
            return _error(400, f"state must be one of {', '.join(CONNECTION_STATES)}")
        sort, order, query = q.get("sort") or None, q.get("order", "desc"), q.get("q", "")
        if sort is not None and sort not in LIST_SORTS:
            return _error(400, f"sort must be one of {', '.join(LIST_SORTS)}")
        if order not in ORDERS:
            return _error(400, f"order must be one of {', '.join(ORDERS)}")
        if len(query) > MAX_QUERY:
            return _error(400, f"q must be at most {MAX_QUERY} characters")
        try:
            limit = _int_param(q, "limit", min(DEFAULT_PAGE, cfg.MONITORING_MAX_PAGE_SIZE), 1, None)
            offset = _int_param(q, "offset", 0, 0, MAX_OFFSET)
        except ValueError as exc:
            return _error(400, str(exc))
        limit = min(limit, cfg.MONITORING_MAX_PAGE_SIZE)
        page = await manager.list_connections(state, limit, offset, query=query, sort=sort, order=order)
        return JSONResponse(page.model_dump(mode="json"), headers=_NO_STORE)

    async def connection(self, request: Request) -> Response:
        manager, denied = await self._read_guard(request, listing=True)
        if denied:
            return denied
        cid = request.path_params["connection_id"]
        rec = await manager.connection(cid)
        if rec is None:
            return _error(404, "no such connection")
        return JSONResponse({"connection": rec.model_dump(mode="json"), "now": manager.now(),
                             "stale_threshold_seconds": self.cfg(manager).STALE_CONNECTION_THRESHOLD_SECONDS},
                            headers=_NO_STORE)

    async def disconnect(self, request: Request) -> Response:
        manager, denied = await self._action_guard(request)
        if denied:
            return denied
        cid = request.path_params["connection_id"]
        if await manager.connection(cid) is None and cid not in manager.local_connection_ids():
            return _error(404, "no such connection")
        result = await manager.disconnect(cid)
        return JSONResponse(result.model_dump(mode="json"), headers=_NO_STORE)

    async def reap(self, request: Request) -> Response:
        manager, denied = await self._action_guard(request)
        if denied:
            return denied
        wid = request.path_params["worker_id"]
        try:
            result = await manager.reap_worker_now(wid)
        except KeyError:
            return _error(404, "no such worker")
        except ValueError as exc:
            return _error(409, str(exc))
        return JSONResponse(result.model_dump(mode="json"), headers=_NO_STORE)

    async def channels(self, request: Request) -> Response:
        manager, denied = await self._read_guard(request, listing=True)
        if denied:
            return denied
        page = await manager.channels()
        return JSONResponse(page.model_dump(mode="json"), headers=_NO_STORE)

    async def auth(self, request: Request) -> Response:
        """Check the caller's credentials without side effects (sse-dash asks at start):
        ``{"ok": true, "check": ...}`` names the check that let it through."""
        _, denied = await self._action_guard(request)
        return denied or JSONResponse({"ok": True, "check": APP_CHECK if self.app_auth else BEARER_CHECK},
                                      headers=_NO_STORE)

    async def metrics(self, request: Request) -> Response:
        manager, denied = await self._read_guard(request)
        if denied:
            return denied
        body = render_metrics(*await manager.metrics_inputs())
        return Response(body, media_type=CONTENT_TYPE_LATEST, headers=_NO_STORE)

    async def health(self, request: Request) -> Response:
        """The guide's fleet-wide verdict (for alerting): 503 when unhealthy."""
        manager = await self.manager(request)
        snap = await manager.monitoring_snapshot()
        hi = snap.health_indicators.model_dump(mode="json")
        body = {"status": hi["overall_health"], **hi, "timestamp": snap.timestamp, "service_name": snap.service_name}
        return JSONResponse(body, status_code=503 if hi["overall_health"] == "unhealthy" else 200, headers=_NO_STORE)

    async def live(self, request: Request) -> Response:
        """This process's event loop answers."""
        return JSONResponse({"status": "alive"}, headers=_NO_STORE)

    async def ready(self, request: Request) -> Response:
        """This process can serve streams. Never fails for the shared store: a store outage
        is the same for every pod, and streams open fine without it (see /health/fleet)."""
        manager = await self.manager(request)
        status = manager.store_status
        body = {"status": "ready", "store": manager.store.kind, "store_state": status.state,
                "local_connections": manager.local_connection_count, "worker_id": manager.worker_id,
                "pid": os.getpid()}
        return JSONResponse(body, headers=_NO_STORE)

    # -- cleanup ------------------------------------------------------------------------
    async def cleanup(self, request: Request) -> Response:
        manager, denied = await self._action_guard(request)
        if denied:
            return denied
        cfg = self.cfg(manager)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return _error(413, f"body larger than {MAX_BODY} bytes")
        try:
            batch = _batch_size(body, cfg.CLEANUP_BATCH_SIZE)
        except ValueError as exc:
            return _error(400, str(exc))
        # non-blocking: refuse rather than queue (the check and the manager's lock acquire
        # happen without an await in between, so two requests cannot both pass)
        if self._cleanup_running or manager.cleanup_in_progress:
            return _error(409, "a cleanup is already running")
        self._cleanup_running = True
        try:
            result = await manager.run_cleanup(batch)
        finally:
            self._cleanup_running = False
        log.info("SSE cleanup requested via API: cleaned=%d, failed=%d, batch_size=%d", result.cleaned, result.failed, batch)
        return JSONResponse(result.model_dump(mode="json"), headers=_NO_STORE)


def _int_param(q: Any, name: str, default: int, lo: int, hi: int | None) -> int:
    raw = q.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw, 10)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw[:20]!r}") from None
    if value < lo or (hi is not None and value > hi):
        raise ValueError(f"{name} must be >= {lo}" + (f" and <= {hi}" if hi is not None else ""))
    return value


def _batch_size(body: bytes, default: int) -> int:
    if not body.strip():
        return default
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ValueError("body must be JSON, e.g. {\"batch_size\": 10}") from None
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object, e.g. {\"batch_size\": 10}")
    unknown = sorted(set(data) - {"batch_size"})
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(map(str, unknown))[:100]}")
    value = data.get("batch_size")
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"batch_size must be an integer 1..{MAX_CLEANUP_BATCH}")
    if not 1 <= value <= MAX_CLEANUP_BATCH:
        raise ValueError(f"batch_size must be an integer 1..{MAX_CLEANUP_BATCH}, got {value}")
    return value


def monitoring_routes(source: ManagerSource = None, config: SSEConfig | None = None, *,
                      prefix: str = "", auth: AuthMode = "bearer") -> list[BaseRoute]:
    """The monitoring endpoints as Starlette routes.

    ``source``: a ConnectionManager, an SSEProvider, or None (``app.state.sse_manager``, set by
    :func:`sse_lifespan`). ``config`` defaults to the manager's config. ``auth``: ``"bearer"``
    (the endpoints check ``SSE_MONITORING_TOKEN`` themselves) or ``"app"`` (they check
    nothing: only for routes the caller puts behind its own check, as
    :func:`core.integration.monitoring_router` does with ``dependencies=``).
    """
    e = _Endpoints(source, config, auth)
    p = prefix.rstrip("/")
    return [route if not isinstance(route, Route) else Route(route.path, _store_errors(route.endpoint),
                                                            methods=route.methods, name=route.name)
            for route in _routes(e, p)]


def _store_errors(endpoint: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """The one place a store failure becomes an answer: 503 with its cause (never a 500)."""
    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        try:
            return await endpoint(request)
        except StoreUnavailable as exc:
            return _error(503, f"state store unavailable: {exc}")
    return guarded


def _routes(e: _Endpoints, p: str) -> list[BaseRoute]:
    return [
        Route(f"{p}/monitoring", e.monitoring, methods=["GET"], name="sse_monitoring"),
        Route(f"{p}/monitoring/history", e.history, methods=["GET"], name="sse_monitoring_history"),
        Route(f"{p}/monitoring/connections", e.connections, methods=["GET"], name="sse_monitoring_connections"),
        Route(f"{p}/monitoring/connections/{{connection_id}}", e.connection, methods=["GET"], name="sse_monitoring_connection"),
        Route(f"{p}/monitoring/connections/{{connection_id}}", e.disconnect, methods=["DELETE"], name="sse_monitoring_disconnect"),
        Route(f"{p}/monitoring/workers/{{worker_id}}/reap", e.reap, methods=["POST"], name="sse_monitoring_reap"),
        Route(f"{p}/monitoring/channels", e.channels, methods=["GET"], name="sse_monitoring_channels"),
        Route(f"{p}/monitoring/auth", e.auth, methods=["GET"], name="sse_monitoring_auth"),
        Route(f"{p}/monitoring/cleanup", e.cleanup, methods=["POST"], name="sse_monitoring_cleanup"),
        Route(f"{p}/metrics", e.metrics, methods=["GET"], name="sse_metrics"),
        Route(f"{p}/health", e.health, methods=["GET"], name="sse_health"),
        Route(f"{p}/health/fleet", e.health, methods=["GET"], name="sse_health_fleet"),
        Route(f"{p}/health/live", e.live, methods=["GET"], name="sse_health_live"),
        Route(f"{p}/health/ready", e.ready, methods=["GET"], name="sse_health_ready"),
    ]


def sse_lifespan(source: ManagerSource, *, drain_timeout: float = 5.0) -> Callable[[Any], Any]:
    """A lifespan that starts the manager, puts it on ``app.state.sse_manager``, and on
    shutdown closes the tracked streams still open and stops the manager (which
    unregisters whatever is left and forgets this worker in the store)."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        get = getattr(source, "get_connection_manager", None)
        manager: ConnectionManager = await get() if get is not None else source  # type: ignore[assignment]
        await manager.start()
        app.state.sse_manager = manager
        try:
            yield
        finally:
            await close_tracked_streams(manager, timeout=drain_timeout)
            if get is not None and hasattr(type(source), "shutdown"):
                await type(source).shutdown()  # type: ignore[union-attr]
            else:
                await manager.stop()

    return lifespan


def create_app(source: ManagerSource, *, routes: list[BaseRoute] | None = None,
               config: SSEConfig | None = None) -> Starlette:
    """A Starlette app with the monitoring routes, ``routes`` and the manager's lifespan."""
    return Starlette(routes=[*monitoring_routes(source, config), *(routes or [])], lifespan=sse_lifespan(source))
