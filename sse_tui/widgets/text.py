"""Cheap text updates: a Static is only touched when its content changed.

``Static.update`` re-lays out the whole screen by default; at one poll a second over SSH
that was most of sse-dash's CPU. Widgets whose size cannot change (one-line header,
banner) also skip the layout pass.
"""

from __future__ import annotations

from textual.widgets import Static


def set_static(widget: Static, content: str, *, layout: bool = True) -> bool:
    """Update ``widget`` with ``content`` unless it already shows it. True if it changed."""
    if getattr(widget, "_sse_dash_content", None) == content:
        return False
    widget._sse_dash_content = content  # type: ignore[attr-defined]
    widget.update(content, layout=layout)
    return True
