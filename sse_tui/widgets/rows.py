"""``Rows``: a Static that repaints only the rows that changed.

Every panel is a few lines of text of which, at one poll a second, only some change (the
active count and its sparkline, an event's "42s ago"). A ``Static.update`` re-renders
every line of the widget and marks the whole widget dirty, so each poll paid for the whole
panel: at 1,000 streams that was most of what sse-dash cost (docs/benchmarks.md, issue 11).

``Rows.set_rows`` compares the new rows with the shown ones (text *and* styles: a
``Content`` compares equal on its text alone) and marks dirty only the rows that differ,
each one screen line; ``render_line`` keeps one rendered strip per row and renders a row
again only when it changed (or the width, theme or CSS of the widget did). Rows that do not
fit the width (they wrap) and text selection fall back to Static's whole-widget rendering,
so what is drawn is always exactly what a ``Static`` holding ``lines(rows)`` would draw;
``render()`` returns that content, so tests and selection read it as before.

It leans on Textual 8.2's Widget rendering (``render_line``, ``_set_dirty``,
``_render_content``); tests/tui/test_rows.py pins its behaviour against a plain Static.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.segment import Segment
from textual.content import Content, Span
from textual.geometry import Region
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
        self._rows: tuple[Content, ...] = ()
        self._keys: tuple[RowKey, ...] = ()
        self._joined: Content | None = Content("")
        self._strips: dict[int, Strip] = {}
        self._strips_width = -1  # the width and visual style the strips were rendered for
        self._strips_style: object = None
        self._fits_at: tuple[int, bool] = (-1, False)
        self._whole_fresh = False  # Static's own render cache holds the current rows
        if rows:
            self.set_rows(rows)

    @property
    def rows(self) -> tuple[Content, ...]:
        return self._rows

    def render(self) -> Content:
        if self._joined is None:
            self._joined = Content("\n").join(self._rows)
        return self._joined

    def set_rows(self, rows: Sequence[Content], *, layout: bool = True) -> bool:
        """Show ``rows`` (one line each); repaint only the rows that changed. False if none did.

        ``layout=False``: the widget's height never follows its rows (e.g. ``height: 1``).
        """
        keys = tuple(row_key(r) for r in rows)
        if keys == self._keys:
            return False
        old_keys = self._keys
        width = self.size.width
        fitted = width > 0 and self._fits(width)
        self._rows, self._keys, self._joined = tuple(rows), keys, None
        self._whole_fresh = False
        self._fits_at = (-1, False)
        if not (self.is_mounted and fitted and len(keys) == len(old_keys) and self._fits(width)):
            # a new number of lines (or lines that wrap) may change the widget's height
            self._strips.clear()
            self.refresh(layout=layout)
            return True
        changed = [i for i, (a, b) in enumerate(zip(keys, old_keys, strict=True)) if a != b]
        for i in changed:
            self._strips.pop(i, None)
        self.refresh(*(Region(0, i, width, 1) for i in changed))
        return True

    def _fits(self, width: int) -> bool:
        """Every row is one screen line at ``width`` (no wrapping, no embedded newline)."""
        if self._fits_at[0] != width:
            fits = all(r.cell_length <= width and "\n" not in k[0] for r, k in zip(self._rows, self._keys, strict=True))
            self._fits_at = (width, fits)
        return self._fits_at[1]

    def _set_dirty(self, *regions: Region) -> None:
        if not regions:  # a whole repaint (resize, CSS, theme): render every row again
            self._strips.clear()
            self._whole_fresh = False
        super()._set_dirty(*regions)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if self.text_selection is not None or not self._fits(width):
            return self._whole_line(y)
        style = self.visual_style
        if width != self._strips_width or style is not self._strips_style:
            self._strips.clear()
            self._strips_width, self._strips_style = width, style
        self._dirty_regions.clear()  # nothing for Static's whole-widget render to catch up on
        strip = self._strips.get(y)
        if strip is None:
            if y >= len(self._rows):
                return Strip.blank(width, style.rich_style)
            strip = self._render_row(self._rows[y], y, width, style)
            self._strips[y] = strip
        return strip

    def _render_row(self, row: Content, y: int, width: int, style: VisualStyle) -> Strip:
        """Row ``y`` as the strip Static would draw for it (it fits: no wrapping)."""
        styles = self.styles
        if (styles.content_align == ("left", "top") and styles.text_align in ("left", "start")
                and not styles.line_pad and "\t" not in row.plain):
            # Content.render_strips of one fitting left-aligned line, minus its wrapping pass,
            # at the row's real line (text selection reads the offsets). No links to style:
            # the dashboard's rows never carry any (wire text is literal).
            segments: list[Segment] = []
            x = 0
            for text, text_style in row.render(style, end="", parse_style=self._get_style):
                segments.append(Segment(text, (style + text_style).rich_style_with_offset(x, y)))
                x += len(text)
            return Strip(segments, row.cell_length)
        strips = Visual.to_strips(self, row, width, 1, style)
        # rendered alone, the row's cells say line 0: text selection needs their real line
        return strips[0].apply_offsets(0, y) if strips else Strip.blank(width, style.rich_style)

    def _whole_line(self, y: int) -> Strip:
        """Static's rendering of the whole widget (wrapping, selection)."""
        if not self._whole_fresh or self._dirty_regions or self._render_cache.size != self.size:
            self._render_content()
            self._whole_fresh = True
        try:
            return self._render_cache.lines[y]
        except IndexError:
            return Strip.blank(self.size.width, self.visual_style.rich_style)
