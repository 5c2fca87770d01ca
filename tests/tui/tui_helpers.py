"""Helpers shared by the dashboard tests (a module, so tests can import it)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sse_tui.samples import T0


class FixedClock:
    """A settable clock: ``clock()`` returns ``now``; tests move it by hand."""

    def __init__(self, now: float = T0 + 2) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def wait_until(pilot: Any, condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Let the app run until ``condition()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.01)
