"""A Litestar app (``uvicorn tests.frameworks.app_litestar:app``): handlers returning
Litestar's own ``ServerSentEvent``, tracked by the middleware."""

from __future__ import annotations

from collections.abc import AsyncIterator

from litestar import Litestar, get
from litestar.response import ServerSentEvent, ServerSentEventMessage

from core.middleware import SSETrackingMiddleware, with_monitoring
from core.provider import SSEProvider
from tests.frameworks.common import CHUNK, STEADY_EVERY, numbers


async def _ticks() -> AsyncIterator[ServerSentEventMessage]:
    async for n in numbers():
        yield ServerSentEventMessage(data=str(n), event="tick")


async def _steady() -> AsyncIterator[str]:
    async for _ in numbers(STEADY_EVERY):
        yield CHUNK


async def _failing() -> AsyncIterator[str]:
    async for n in numbers(0.05):
        if n > 2:
            raise RuntimeError("the app failed mid-stream")
        yield str(n)


@get("/events")
async def events() -> ServerSentEvent:
    return ServerSentEvent(_ticks())


@get("/steady")
async def steady() -> ServerSentEvent:
    return ServerSentEvent(_steady())


@get("/boom")
async def boom() -> ServerSentEvent:
    return ServerSentEvent(_failing())


@get("/json")
async def json_route() -> dict[str, bool]:
    return {"ok": True}


provider = SSEProvider()
app = SSETrackingMiddleware(with_monitoring(Litestar([events, steady, boom, json_route]), provider), provider)
