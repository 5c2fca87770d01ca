"""An existing Starlette app mounting the monitoring endpoints under ``/ops``.

    uvicorn --factory examples.starlette_mount_app:create_app

``monitoring_app()`` has no lifespan of its own (a mounted app's lifespan never runs):
its routes find the manager through the provider on first use. The parent app's
lifespan, composed with the manager's by ``sse_lifespan_for``, stops it on shutdown.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from core.integration import monitoring_app, sse_lifespan_for
from core.provider import SSEProvider
from core.streaming import tracked_event_source


async def ticks() -> AsyncIterator[dict[str, str]]:
    n = 0
    while True:
        n += 1
        yield {"data": str(n)}
        await asyncio.sleep(1)


def create_app(provider: SSEProvider | None = None) -> Starlette:
    provider = provider or SSEProvider()

    @asynccontextmanager
    async def own_lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.ready = True  # the app's own startup
        yield

    async def events(request: Request) -> Response:
        return tracked_event_source(request, ticks(), manager=provider, channel="ticks")

    async def home(request: Request) -> Response:
        return JSONResponse({"ready": bool(getattr(request.app.state, "ready", False))})

    return Starlette(
        routes=[Route("/", home), Route("/events", events), Mount("/ops", app=monitoring_app(provider))],
        lifespan=sse_lifespan_for(provider, app_lifespan=own_lifespan),
    )
