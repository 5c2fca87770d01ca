"""SSEProvider: the guide's entry point. One started manager per process.

    from core.provider import SSEProvider
    manager = await SSEProvider().get_connection_manager()

``SSE_REDIS_URL`` (with ``SSE_REDIS_NAMESPACE`` and ``SSE_REDIS_SHARDS``) selects the Redis
store; without it the in-memory store is used.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from . import ownership as _ownership  # noqa: F401 - checks at import that core/__init__.py is sse-dash's
from .admission import admission_in_use
from .config import SSEConfig, get_config
from .logs import ensure_logging
from .manager import ConnectionManager
from .store.base import StateStore
from .store.memory import MemoryStore


def make_store(config: SSEConfig) -> StateStore:
    """The store the configuration asks for."""
    url = config.redis_url
    if url:
        from .store.sharded import make_redis_store
        return make_redis_store(url, config.REDIS_NAMESPACE, config.REDIS_SHARDS, timeout=config.REDIS_TIMEOUT_SECONDS)
    return MemoryStore()


class SSEProvider:
    """Process-wide holder of the connection manager (all instances share it)."""

    _manager: ClassVar[ConnectionManager | None] = None
    _lock: ClassVar[asyncio.Lock | None] = None

    def __init__(self, config: SSEConfig | None = None) -> None:
        self._config = config

    async def get_connection_manager(self) -> ConnectionManager:
        cls = type(self)
        if cls._manager is not None:
            return cls._manager
        if cls._lock is None:
            cls._lock = asyncio.Lock()
        async with cls._lock:
            if cls._manager is None:
                config = self._config or get_config()
                ensure_logging()  # no handler on the root: the application decides where lines go
                manager = ConnectionManager(make_store(config), config, admission_source=admission_in_use)
                await manager.start()
                cls._manager = manager
        return cls._manager

    @classmethod
    async def shutdown(cls) -> None:
        """Stop the process's manager (graceful: unregisters local connections)."""
        manager, cls._manager = cls._manager, None
        cls._lock = None
        if manager is not None:
            await manager.stop()
