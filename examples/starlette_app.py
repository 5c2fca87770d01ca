"""A plain Starlette app with a tracked SSE endpoint and the monitoring routes.

    SSE_MONITORING_TOKEN=change-me uvicorn examples.starlette_app:app
"""

from __future__ import annotations

import asyncio
import itertools

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from core.asgi import monitoring_routes, sse_lifespan
from core.provider import SSEProvider
from core.streaming import tracked_event_source

provider = SSEProvider()


async def news_events():
    for n in itertools.count(1):
        yield {"event": "news", "id": str(n), "data": f"headline {n}"}
        await asyncio.sleep(2)


async def news(request: Request):
    return tracked_event_source(request, news_events(), manager=provider, channel="news")


app = Starlette(
    routes=[Route("/news", news), *monitoring_routes(provider)],
    lifespan=sse_lifespan(provider),
)
