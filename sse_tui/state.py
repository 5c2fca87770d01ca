"""Compatibility shim: the dashboard's state lives in :mod:`sse_tui.model`."""

from __future__ import annotations

from sse_tui.model import (  # noqa: F401
    BACKOFF_CAP_SECONDS,
    HISTORY_SAMPLES,
    MAX_EVENTS,
    AlertEvent,
    DashboardState,
    History,
    backoff_delay,
)
