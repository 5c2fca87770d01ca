"""A plain Starlette app (``uvicorn tests.frameworks.app_starlette:app``): ``StreamingResponse``
with ``media_type="text/event-stream"`` (no sse-starlette), tracked by the middleware."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from core.middleware import SSETrackingMiddleware, with_monitoring
from core.provider import SSEProvider
from tests.frameworks.common import failing_frames, frames, steady_frames


async def events(request: Request) -> StreamingResponse:
    return StreamingResponse(frames(), media_type="text/event-stream")


async def steady(request: Request) -> StreamingResponse:
    return StreamingResponse(steady_frames(), media_type="text/event-stream")


async def boom(request: Request) -> StreamingResponse:
    return StreamingResponse(failing_frames(), media_type="text/event-stream")


async def json_route(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


provider = SSEProvider()
app = SSETrackingMiddleware(with_monitoring(Starlette(routes=[
    Route("/events", events), Route("/steady", steady), Route("/boom", boom), Route("/json", json_route)]), provider),
    provider)
