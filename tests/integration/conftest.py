"""Fixtures for the integration tests: a fresh process-wide provider, a real uvicorn."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from core.config import load_config
from core.demo import serve_app, stop_server
from core.provider import SSEProvider


@pytest.fixture
async def provider(monkeypatch):
    """SSEProvider with a memory store and fast flushes; shut down after the test."""
    monkeypatch.delenv("SSE_REDIS_URL", raising=False)
    await SSEProvider.shutdown()
    cfg = load_config(TOUCH_FLUSH_INTERVAL_SECONDS=0.2, PING_INTERVAL_SECONDS=0.5, LOG_LEVEL="WARNING")
    try:
        yield SSEProvider(cfg)
    finally:
        await SSEProvider.shutdown()


@contextlib.asynccontextmanager
async def running(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """``app`` on a real uvicorn (lifespan on) on loopback; an HTTP client for it."""
    server, task, port = await serve_app(app, "127.0.0.1", 0)
    http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10)
    try:
        yield http
    finally:
        await http.aclose()
        await stop_server(server, task)
