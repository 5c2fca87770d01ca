"""The panels' one shared reactive: the App sets ``view``; the panel paints it.

:class:`Panel` is a mixin placed before the panel's Textual base (``class AlertsPanel(Panel,
VerticalScroll)``): Textual gathers reactives and watchers from every class of the MRO and
takes its CSS from the first widget base, so the panel keeps its container's look. A panel
writes only :meth:`Panel.show_view`; it never fetches (the App hands it a
:class:`sse_tui.model.View` per paint).
"""

from __future__ import annotations

from textual.reactive import var

from sse_tui.model import View

__all__ = ["Panel"]


class Panel:
    """A panel the App hands a :class:`View`: ``view`` is set at every paint (always
    repainted, ages move even when the numbers do not); ``None`` paints nothing."""

    view: var[View | None] = var(None, always_update=True)

    def watch_view(self, view: View | None) -> None:
        if view is not None:
            self.show_view(view)

    def show_view(self, view: View) -> None:
        """Paint ``view`` (each panel its own)."""
        raise NotImplementedError
