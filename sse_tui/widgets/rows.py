"""``Rows``: a widget of whole lines that repaints only the rows that changed.

Every panel is a few lines of text of which, at one poll a second, only some change (the
active count and its sparkline, an event's "42s ago"). A ``Static.update`` re-renders
every line of the widget and marks the whole widget dirty, so each poll paid for the whole
panel: at 1,000 streams that was most of what sse-dash cost (docs/benchmarks.md, issue 11).

``Rows`` uses Textual's public line API, as its own ``Log`` and ``DataTable`` do:
``render_line(y)`` returns a cached :class:`~textual.strip.Strip` per row, and
``set_rows`` compares the new rows with the shown ones (text *and* styles: a ``Content``
compares equal on its text alone) and calls ``refresh(Region(0, y, width, 1))`` for the
rows that differ. A row is rendered again only when it changed, or when the width, the
widget's visual style (CSS), the theme (``theme_changed_signal``, ``notify_style_update``)
or the text selection (``selection_updated``) did. Rows that do not fit the width (they
wrap) and a text selection are drawn from the whole content through
:meth:`textual.visual.Visual.to_strips`, exactly as a ``Static`` draws it, so what is
drawn is always what a ``Static`` holding ``lines(rows)`` would draw; ``render()`` returns
that content (height, width and selected text come from it as for a ``Static``).
tests/tui/test_rows.py pins this against a plain Static, cell by cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.segment import Segment
from textual.content import Content, Span
from textual.geometry import Region
from textual.selection import Selection
from textual.strip import Strip
from textual.style import Style as VisualStyle
from textual.visual import Visual
from textual.widgets import Static

RowKey = tuple[str, tuple[Span, ...]]


def row_key(row: Content) -> RowKey:
    return (row.plain, tuple(row.spans))


class Rows(Static):
    """A Static of whole lines, updated row by row (see the module docstring)."""

    def __init__(self, rows: Sequence[Content] = (), **kwargs: Any) -> None:
        super().__init__("", **kwargs)
        self.shown_rows: tuple[Content, ...] = ()
        self.row_keys: tuple[RowKey, ...] = ()
        self.joined: Content | None = Content("")
        self.strips: dict[int, Strip] = {}  # row -> its rendered line (every row fits the width)
        self.whole: list[Strip] | None = None  # the whole content's lines (wrapping, selection)
        self.drawn_for: tuple[int, object] = (-1, None)  # the width and visual style the strips were rendered for
        self.fits_at: tuple[int, bool] = (-1, False)
        if rows:
            self.set_rows(rows)

    @property
    def rows(self) -> tuple[Content, ...]:
        return self.shown_rows

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self.on_theme_changed)

    def on_theme_changed(self, _theme: object) -> None:
        """Rows carry theme variables (``$success``): render them again in the new theme."""
        self.forget_strips()
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self.forget_strips()

    def selection_updated(self, selection: Selection | None) -> None:
        self.forget_strips()
        super().selection_updated(selection)

    def forget_strips(self) -> None:
        self.strips.clear()
        self.whole = None

    def render(self) -> Content:
        if self.joined is None:
            self.joined = Content("\n").join(self.shown_rows)
        return self.joined

    def set_rows(self, rows: Sequence[Content], *, layout: bool = True) -> bool:
        """Show ``rows`` (one line each); repaint only the rows that changed. False if none did.

        ``layout=False``: the widget's height never follows its rows (e.g. ``height: 1``).
        """
        keys = tuple(row_key(r) for r in rows)
        if keys == self.row_keys:
            return False
        old_keys = self.row_keys
        width = self.size.width
        fitted = width > 0 and self.fits(width)
        self.shown_rows, self.row_keys, self.joined = tuple(rows), keys, None
        self.whole = None
        self.fits_at = (-1, False)
        if not (self.is_mounted and fitted and len(keys) == len(old_keys) and self.fits(width)):
            # a new number of lines (or lines that wrap) may change the widget's height
            self.strips.clear()
            self.refresh(layout=layout)
            return True
        changed = [i for i, (a, b) in enumerate(zip(keys, old_keys, strict=True)) if a != b]
        for i in changed:
            self.strips.pop(i, None)
        self.refresh(*(Region(0, i, width, 1) for i in changed))
        return True

    def fits(self, width: int) -> bool:
        """Every row is one screen line at ``width`` (no wrapping, no embedded newline)."""
        if self.fits_at[0] != width:
            fits = all(r.cell_length <= width and "\n" not in k[0] for r, k in zip(self.shown_rows, self.row_keys, strict=True))
            self.fits_at = (width, fits)
        return self.fits_at[1]

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        style = self.visual_style
        if (width, style) != self.drawn_for:
            self.forget_strips()
            self.drawn_for = (width, style)
        if self.text_selection is not None or not self.fits(width):
            return self.whole_line(y, width, style)
        strip = self.strips.get(y)
        if strip is None:
            if y >= len(self.shown_rows):
                return Strip.blank(width, style.rich_style)
            strip = self.render_row(self.shown_rows[y], y, width, style)
            self.strips[y] = strip
        return strip

    def render_row(self, row: Content, y: int, width: int, style: VisualStyle) -> Strip:
        """Row ``y`` as the strip Static would draw for it (it fits: no wrapping)."""
        styles = self.styles
        if (styles.content_align == ("left", "top") and styles.text_align in ("left", "start")
                and not styles.line_pad and "\t" not in row.plain):
            # Content.render_strips of one fitting left-aligned line, minus its wrapping pass,
            # at the row's real line (text selection reads the offsets). No links to style:
            # the dashboard's rows never carry any (wire text is literal).
            segments: list[Segment] = []
            x = 0
            for text, text_style in row.render(style, end=""):
                segments.append(Segment(text, (style + text_style).rich_style_with_offset(x, y)))
                x += len(text)
            return Strip(segments, row.cell_length)
        strips = Visual.to_strips(self, row, width, 1, style)
        # rendered alone, the row's cells say line 0: text selection needs their real line
        return strips[0].apply_offsets(0, y) if strips else Strip.blank(width, style.rich_style)

    def whole_line(self, y: int, width: int, style: VisualStyle) -> Strip:
        """The whole content rendered as a Static renders it (wrapping, selection)."""
        if self.whole is None:
            self.whole = Visual.to_strips(self, self.render(), width, self.size.height, style)
        if y < len(self.whole):
            return self.whole[y]
        return Strip.blank(width, style.rich_style)
