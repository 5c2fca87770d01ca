"""core: the SSE connection manager, its state stores, and the monitoring contract."""

from __future__ import annotations

SSE_DASH_CORE = True  # this is sse-dash's core (core.ownership, sse_dash_entry): set before anything is imported

from .config import ConfigError, SSEConfig, get_config, load_config, validation_warnings
from .manager import ConnectionManager, StateManager
from .models import Alert, CleanupResult, ConnectionRecord, MonitoringStats
from .provider import SSEProvider, make_store
from .store.base import StateStore, StoreUnavailable
from .store.memory import MemoryStore

__version__ = "0.1.0"  # the one version source (pyproject reads it: [tool.setuptools.dynamic])

__all__ = [
    "__version__", "Alert", "CleanupResult", "ConfigError", "ConnectionManager", "ConnectionRecord", "MemoryStore",
    "MonitoringStats", "SSEConfig", "SSEProvider", "StateManager", "StateStore", "StoreUnavailable",
    "get_config", "load_config", "make_store", "validation_warnings",
]
