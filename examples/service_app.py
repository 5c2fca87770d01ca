"""A service of its own: admin auth on its own header, Redis, several workers, Prometheus.

    export SSE_REDIS_URL=redis://127.0.0.1:6379/0 ADMIN_KEY=change-me
    export PROMETHEUS_MULTIPROC_DIR=/tmp/prom-sse    # an empty directory, wiped before each start
    uvicorn examples.service_app:app --workers 2
    printf 'X-Admin-Key: change-me\\n' > admin.headers && chmod 600 admin.headers
    sse-dash --url http://127.0.0.1:8000/ops/monitoring --header-file admin.headers

- ``require_admin`` (the service's own auth, on ``X-Admin-Key``) is the one check of every
  monitoring endpoint under ``/ops``, reads and actions; ``SSE_MONITORING_TOKEN`` is not
  used there. The probes (``/ops/health/live``, ``/ops/health/ready``) stay open.
- ``/metrics`` is the service's own: with ``PROMETHEUS_MULTIPROC_DIR`` set it serves
  prometheus_client's ``MultiProcessCollector`` (as its docs show), which then also
  carries every ``sse_*`` series of every worker (``register_collector`` writes them
  into the multiprocess files); without it, the default registry.
- ``/ticks`` is a tracked SSE stream.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from core.exporters.prometheus import register_collector
from core.integration import monitoring_router, sse_lifespan_for
from core.provider import SSEProvider
from core.streaming import tracked_event_source


def require_admin(x_admin_key: str | None = Header(default=None)) -> None:
    """The service's own admin check: ``X-Admin-Key`` must equal ``ADMIN_KEY``."""
    expected = os.environ.get("ADMIN_KEY", "")
    if not expected or x_admin_key is None or not secrets.compare_digest(x_admin_key, expected):
        raise HTTPException(status_code=401, detail="X-Admin-Key required")


async def ticks() -> AsyncIterator[dict[str, str]]:
    n = 0
    while True:
        n += 1
        yield {"event": "tick", "data": str(n)}
        await asyncio.sleep(1)


provider = SSEProvider()                                 # one manager per worker process, from SSE_*
collector = register_collector(provider)                 # sse_* on the default registry / the multiprocess files
app = FastAPI(title="ticks", lifespan=sse_lifespan_for(provider, collector=collector))
app.include_router(monitoring_router(provider, prefix="/ops", dependencies=[Depends(require_admin)],
                                     include_metrics=False))


@app.get("/metrics")
def metrics() -> Response:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()                   # a fresh one per scrape, as prometheus_client's docs say
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


@app.get("/ticks")
async def ticks_stream(request: Request) -> Response:
    return tracked_event_source(request, ticks(), manager=provider, channel="ticks")
