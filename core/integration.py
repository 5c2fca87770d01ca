"""Adding the monitoring endpoints to an existing app, the way neighbouring libraries do.

FastAPI: an ``APIRouter`` with a prefix, tags and an auth dependency of your choice::

    provider = SSEProvider()
    app = FastAPI(lifespan=sse_lifespan_for(provider, app_lifespan=my_lifespan))
    app.include_router(monitoring_router(provider, prefix="/ops", dependencies=[Depends(my_auth)]))

Starlette: a ``Mount``-able app whose routes work without its own lifespan (a mounted
app's lifespan never runs): it resolves the manager lazily from the provider::

    app = Starlette(routes=[Mount("/ops", app=monitoring_app(provider)), ...],
                    lifespan=sse_lifespan_for(provider, app_lifespan=my_lifespan))

Both reuse :func:`core.asgi.monitoring_routes`' endpoint functions: the JSON and status
codes are the same as on the project's own app.

One auth story: with ``dependencies=`` (your auth), they are the one check of every
endpoint they cover, reads and actions alike (``SSE_MONITORING_TOKEN`` is then not
asked for anywhere, and the actions are enabled); without them, the built-in bearer-token
check (``SSE_MONITORING_TOKEN``; reads too with ``SSE_MONITORING_READ_REQUIRES_TOKEN``).
Every refusal says which check refused: ``{"error": "refused by the app's auth dependency
(require_admin): ...", "check": "app_dependency", "detail": <your detail>}`` or
``{"error": "bearer token required (SSE_MONITORING_TOKEN) ...", "check": "bearer_token"}``.
Probes (``/health``, ``/health/live``, ``/health/ready``, ``/health/fleet``) never carry auth.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from . import ownership as _ownership  # noqa: F401 - checks at import that core/__init__.py is sse-dash's
from .asgi import APP_CHECK, AuthMode, monitoring_routes, sse_lifespan
from .config import SSEConfig

if TYPE_CHECKING:
    from fastapi import APIRouter
    from fastapi.params import Depends as DependsParam

    from .exporters.prometheus import CachedCollector

__all__ = ["monitoring_router", "monitoring_app", "sse_lifespan_for", "compose_lifespans", "PROBE_ROUTE_NAMES",
           "app_dependency_refusal"]

Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]

# the route names (core.asgi) that are load-balancer / Kubernetes probes: never behind auth
PROBE_ROUTE_NAMES = frozenset({"sse_health", "sse_health_live", "sse_health_ready", "sse_health_fleet"})
_METRICS_ROUTE = "sse_metrics"


def _default_source(source: Any) -> Any:
    if source is None:
        from .provider import SSEProvider

        return SSEProvider()
    return source


def monitoring_router(source: Any = None, *, prefix: str = "", tags: Sequence[str] = ("sse-monitoring",),
                      dependencies: Sequence[DependsParam] | None = None, config: SSEConfig | None = None,
                      include_metrics: bool = True, include_in_schema: bool = True) -> APIRouter:
    """A FastAPI ``APIRouter`` with the monitoring endpoints.

    ``source``: a ConnectionManager or an SSEProvider (default: ``SSEProvider()``, the
    process's manager, started on first use). ``dependencies``: your auth, e.g.
    ``[Depends(require_admin)]``: the one check of every endpoint except the probes, reads
    and actions (cleanup, disconnect, reap, ``/monitoring/auth``) alike; the bearer token
    is then not asked for. A 401/403 it raises is answered as
    ``{"error": "refused by the app's auth dependency (<name>): <detail>", "check":
    "app_dependency", "detail": <detail>}`` with its status and headers. Without it (None or
    an empty list) the endpoints' own bearer-token check applies (``SSE_MONITORING_TOKEN``),
    and the OpenAPI schema shows the bearer scheme. ``include_metrics=False`` leaves
    ``/metrics`` out (the app exposes its own registry: see
    :func:`core.exporters.prometheus.register_collector`).
    """
    from fastapi import APIRouter, Security
    from fastapi.security import HTTPBearer

    app_auth = bool(dependencies)
    if app_auth:
        guard: list[Any] = list(dependencies or ())
        names = ", ".join(_dependency_name(d) for d in guard)
        router = APIRouter(prefix=prefix.rstrip("/"), tags=list(tags), route_class=_app_auth_route_class(names))
    else:
        # documentation of the endpoints' built-in check (they verify the token themselves)
        guard = [Security(HTTPBearer(auto_error=False, description="SSE_MONITORING_TOKEN"))]
        router = APIRouter(prefix=prefix.rstrip("/"), tags=list(tags))
    for route in monitoring_routes(_default_source(source), config, auth="app" if app_auth else "bearer"):
        if not isinstance(route, Route) or (route.name == _METRICS_ROUTE and not include_metrics):
            continue
        probe = route.name in PROBE_ROUTE_NAMES
        router.add_api_route(
            route.path, route.endpoint, methods=sorted((route.methods or {"GET"}) - {"HEAD"}), name=route.name,
            dependencies=None if probe else guard, include_in_schema=include_in_schema,
        )
    return router


def _dependency_name(dep: Any) -> str:
    fn = getattr(dep, "dependency", dep)
    return str(getattr(fn, "__name__", None) or type(fn).__name__)


def app_dependency_refusal(exc: HTTPException, names: str) -> Response:
    """The answer to a 401/403 the app's own auth dependency raised: its status and headers,
    its ``detail``, and an ``error`` that says which check refused."""
    detail = exc.detail
    said = detail if isinstance(detail, str) else json.dumps(detail, default=str)[:200]
    return JSONResponse({"error": f"refused by the app's auth dependency ({names}): {said}", "check": APP_CHECK,
                         "detail": detail},
                        status_code=exc.status_code, headers={"Cache-Control": "no-store", **(exc.headers or {})})


def _app_auth_route_class(names: str) -> type[Any]:
    """An ``APIRoute`` whose 401/403 (raised while the app's dependencies run: the endpoints
    themselves raise none) is answered by :func:`app_dependency_refusal`."""
    from fastapi.routing import APIRoute

    class AppAuthRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def answer(request: Request) -> Response:
                try:
                    return await handler(request)
                except HTTPException as exc:
                    if exc.status_code in (401, 403):
                        return app_dependency_refusal(exc, names)
                    raise

            return answer

    return AppAuthRoute


def monitoring_app(source: Any = None, *, config: SSEConfig | None = None, include_metrics: bool = True,
                   auth: AuthMode = "bearer") -> Starlette:
    """A Starlette app to ``Mount`` under any path. It has no lifespan of its own: the
    manager comes from ``source`` (default ``SSEProvider()``) on first request; stop it in
    the parent app's lifespan (:func:`sse_lifespan_for`) so connections are unregistered.
    ``auth="app"``: your own check guards the mount (a middleware, a wrapping app) and is
    the one check; the endpoints then check no token (default ``"bearer"``)."""
    routes: list[BaseRoute] = [r for r in monitoring_routes(_default_source(source), config, auth=auth)
                               if include_metrics or getattr(r, "name", None) != _METRICS_ROUTE]
    return Starlette(routes=routes)


def compose_lifespans(*lifespans: Lifespan) -> Lifespan:
    """One lifespan that enters each of ``lifespans`` in order and exits them in reverse.

    The state dicts they yield (Starlette's lifespan state) are merged, later ones winning."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[dict[str, Any] | None]:
        async with AsyncExitStack() as stack:
            state: dict[str, Any] = {}
            for item in lifespans:
                value = await stack.enter_async_context(item(app))
                if isinstance(value, dict):
                    state.update(value)
            yield state or None

    return lifespan


def sse_lifespan_for(source: Any = None, *, app_lifespan: Lifespan | None = None,
                     collector: CachedCollector | None = None, drain_timeout: float = 5.0) -> Lifespan:
    """The app's lifespan wrapped by the manager's.

    Order: the manager starts (``app.state.sse_manager`` is set), then the Prometheus
    collector's refresher (if given), then ``app_lifespan`` (your startup code can use
    the manager); on shutdown the reverse: your shutdown code, the collector, then the
    tracked streams are closed and the manager stops (unregistering what is left).
    """
    src = _default_source(source)
    parts: list[Lifespan] = [sse_lifespan(src, drain_timeout=drain_timeout)]
    if collector is not None:
        parts.append(_collector_lifespan(collector))
    if app_lifespan is not None:
        parts.append(app_lifespan)
    return compose_lifespans(*parts)


def _collector_lifespan(collector: CachedCollector) -> Lifespan:
    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        await collector.start()
        try:
            yield
        finally:
            await collector.stop()

    return lifespan
