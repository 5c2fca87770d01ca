"""A FastAPI app with a tracked SSE endpoint and the monitoring routes.

    SSE_MONITORING_TOKEN=change-me uvicorn examples.fastapi_app:app
    # fleet: SSE_REDIS_URL=redis://127.0.0.1:6379/0 uvicorn examples.fastapi_app:app --workers 4

GET /prices streams; /monitoring, /monitoring/connections, /metrics, /health{,/live,/ready}
and POST /monitoring/cleanup come from core.asgi. On SIGTERM the streams end and the
worker unregisters its connections before it exits (the lifespan stops the manager).
"""

from __future__ import annotations

import asyncio
import json
import random

from fastapi import FastAPI, Request

from core.asgi import monitoring_routes, sse_lifespan
from core.provider import SSEProvider
from core.streaming import tracked_event_source

provider = SSEProvider()  # one manager per process, configured from SSE_*
app = FastAPI(title="prices", lifespan=sse_lifespan(provider))
app.router.routes.extend(monitoring_routes(provider))


async def price_events():
    price = 100.0
    while True:
        price = round(price * (1 + random.gauss(0, 0.001)), 2)
        yield {"event": "price", "data": json.dumps({"symbol": "ACME", "price": price})}
        await asyncio.sleep(1)


@app.get("/prices")
async def prices(request: Request):
    return tracked_event_source(request, price_events(), manager=provider, channel="prices")
