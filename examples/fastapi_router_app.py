"""An existing FastAPI service adding sse-dash the way its neighbours are added.

    uvicorn --factory examples.fastapi_router_app:create_app
    # gunicorn: gunicorn -c examples/gunicorn.conf.py 'examples.fastapi_router_app:create_app()'

- the service's own lifespan composes with the manager's (``sse_lifespan_for``);
- the monitoring endpoints come as an ``APIRouter`` under ``/ops`` behind the service's own
  auth dependency (probes stay open);
- the service's ``/metrics`` (prometheus-fastapi-instrumentator, default registry) also
  carries the ``sse_*`` metrics (``register_collector``: a cached snapshot, no Redis call
  per scrape);
- ``/prices`` streams, capped per client address and in total (``AdmissionMiddleware``,
  ``SSE_ADMISSION_MAX_PER_CLIENT`` / ``SSE_ADMISSION_MAX_TOTAL``).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from prometheus_client import REGISTRY, CollectorRegistry

from core.admission import AdmissionMiddleware
from core.exporters.prometheus import register_collector
from core.integration import monitoring_router, sse_lifespan_for
from core.provider import SSEProvider
from core.streaming import tracked_event_source


def require_admin(x_admin_key: str | None = Header(default=None)) -> None:
    """The service's own auth (here: a shared key in ``ADMIN_KEY``)."""
    expected = os.environ.get("ADMIN_KEY", "")
    if not expected or x_admin_key is None or not secrets.compare_digest(x_admin_key, expected):
        raise HTTPException(status_code=401, detail="admin key required")


async def price_events(request: Request) -> AsyncIterator[dict[str, str]]:
    price = 100.0
    while True:
        price = round(price * (1 + random.gauss(0, 0.001)), 2)
        yield {"event": "price", "data": json.dumps({"symbol": "ACME", "price": price})}
        await asyncio.sleep(float(os.environ.get("PRICE_PERIOD", "1")))


def create_app(registry: CollectorRegistry = REGISTRY, provider: SSEProvider | None = None,
               instrument: bool = True) -> FastAPI:
    provider = provider or SSEProvider()
    collector = register_collector(provider, registry=registry, interval=2.0)

    @asynccontextmanager
    async def service_lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        # the service's own startup: the manager is already running here
        yield {"service_started": True}
        # the service's own shutdown: runs before the manager stops
        registry.unregister(collector)

    app = FastAPI(title="prices", lifespan=sse_lifespan_for(provider, app_lifespan=service_lifespan, collector=collector))
    app.include_router(monitoring_router(provider, prefix="/ops", dependencies=[Depends(require_admin)],
                                         include_metrics=False))
    app.add_middleware(AdmissionMiddleware, source=provider, paths=["/prices"], census=collector.cache)

    @app.get("/prices")
    async def prices(request: Request) -> Any:
        return tracked_event_source(request, price_events(request), manager=provider, channel="prices")

    if instrument:
        from prometheus_fastapi_instrumentator import Instrumentator

        Instrumentator(registry=registry).instrument(app).expose(app, endpoint="/metrics")
    return app
