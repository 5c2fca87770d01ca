"""One named background task of a manager's part: started once, cancelled and awaited.

The registry's writer (``sse-store-sync``), the periodic cleanup (``sse-periodic-cleanup``)
and the history recorder (``sse-history``) each run in one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["BackgroundLoop", "cancel"]

RECANCEL_SECONDS = 1.0


class BackgroundLoop:
    """``body()`` in a task named ``name`` (it runs until cancelled)."""

    def __init__(self, name: str, body: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.name = name
        self.body = body
        self.task: asyncio.Task[None] | None = None

    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def start(self) -> None:
        """Start it on the running loop unless it runs already."""
        if not self.running():
            self.task = asyncio.create_task(self.body(), name=self.name)

    async def stop(self) -> None:
        """Cancel it and wait until it ended."""
        await cancel(self.task)
        self.task = None


async def cancel(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` and wait until it ended. The cancel is sent again every second until it
    takes: on Python 3.11 ``asyncio.wait_for`` (which redis-py uses for its socket calls)
    loses a cancel that arrives as the awaited call completes, and the task would run on."""
    if task is None or task.done():
        return
    while not task.done():
        task.cancel()
        await asyncio.wait((task,), timeout=RECANCEL_SECONDS)
    if not task.cancelled() and task.exception() is not None:
        pass  # retrieved: it ended with an error while being cancelled (the loop logged its own)
