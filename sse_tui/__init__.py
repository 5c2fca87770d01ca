"""sse-dash: a Textual terminal dashboard for the SSE connection manager."""

from __future__ import annotations

__all__ = ["__version__"]

from core import __version__  # one version source (core/__init__.py)
