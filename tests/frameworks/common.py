"""What the three framework apps serve, the same in each: ``/events`` (a small event every
0.2 s), ``/steady`` (2 KiB events every 50 ms: fills a frozen client's window fast),
``/json`` (a plain JSON route), ``/boom`` (a stream whose app fails after two events)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

CHUNK = "x" * 2048
EVENT_EVERY = 0.2
STEADY_EVERY = 0.05


async def numbers(every: float = EVENT_EVERY) -> AsyncIterator[int]:
    for n in itertools.count(1):
        yield n
        await asyncio.sleep(every)


async def frames(every: float = EVENT_EVERY) -> AsyncIterator[str]:
    """Ready-made SSE frames (for frameworks whose streaming response sends bytes as given)."""
    async for n in numbers(every):
        yield f"event: tick\ndata: {n}\n\n"


async def steady_frames() -> AsyncIterator[str]:
    async for _ in numbers(STEADY_EVERY):
        yield f"data: {CHUNK}\n\n"


async def failing_frames() -> AsyncIterator[str]:
    async for n in numbers(0.05):
        if n > 2:
            raise RuntimeError("the app failed mid-stream")
        yield f"data: {n}\n\n"
