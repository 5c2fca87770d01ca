"""Test-side accommodation for the supported sse-starlette versions.

sse-starlette 2.x keeps ONE process-global shutdown event (``AppStatus.should_exit_event``),
bound to the event loop that first waited on it; every test runs in a loop of its own, so
it is reset around each test (a server process has one loop: nothing to do there). 3.x
keeps per-thread state that needs no reset; ``AppStatus.should_exit`` is reset for both.
"""

from __future__ import annotations

import pytest
from sse_starlette.sse import AppStatus


def _reset() -> None:
    AppStatus.should_exit = False
    if hasattr(AppStatus, "should_exit_event"):
        AppStatus.should_exit_event = None


@pytest.fixture(autouse=True)
def fresh_sse_starlette_state():
    _reset()
    yield
    _reset()
