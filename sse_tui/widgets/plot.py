"""plotext in Textual: a figure built by plotext, read back as rows of theme-styled text.

plotext draws axes, ticks, bars and lines (the design names it for the dashboard's charts).
It is told to paint every series with a *placeholder* colour (:func:`token`); :func:`build`
reads its public build output (``plotext.matrix``: ``string(colorless=True)`` for the
characters, ``get(row, col).foreground()`` for each cell's colour) and turns each
placeholder into a Textual theme style (``$primary``, ``$error``...), everything else
(axes, tick labels) into the muted text style. No colour is fixed: the rows carry theme
variables, so a theme change re-colours them without drawing again (see
:class:`sse_tui.widgets.rows.Rows`).

What plotext cannot draw (a gap drawn as unknown, alert spans, marks on a timeline, labels
inside the plot) is written on the :class:`Grid` afterwards, on top of plotext's output.
Widgets call this only when their data, size or settings changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotext as plt
from textual.content import Content, Span

Rgb = tuple[int, int, int]
CHROME = "$text-muted"  # axes, ticks and their labels


def token(n: int) -> Rgb:
    """A placeholder colour for plotext (never shown: :func:`build` maps it to a theme style)."""
    return (1, 2, 3 + n)


def pixel(n: int) -> Any:
    """plotext's pixel painted with placeholder ``n``."""
    return plt.pixel(token(n))


def marker(kind: str, n: int) -> Any:
    """plotext's marker ``kind`` ("full", "hd", ...) painted with placeholder ``n``."""
    return plt.marker(kind, pixel=pixel(n))


class Grid:
    """A character grid with one style per cell, turned into one ``Content`` per row."""

    def __init__(self, chars: list[list[str]], styles: list[list[str]]) -> None:
        self.chars = chars
        self.styles = styles

    @classmethod
    def blank(cls, width: int, height: int) -> Grid:
        return cls([[" "] * width for _ in range(height)], [[""] * width for _ in range(height)])

    @property
    def width(self) -> int:
        return len(self.chars[0]) if self.chars else 0

    @property
    def height(self) -> int:
        return len(self.chars)

    def row_text(self, y: int) -> str:
        return "".join(self.chars[y])

    def put(self, x: int, y: int, char: str, style: str) -> None:
        if 0 <= y < len(self.chars) and 0 <= x < len(self.chars[y]):
            self.chars[y][x] = char
            self.styles[y][x] = style

    def write(self, x: int, y: int, text: str, style: str) -> None:
        """``text`` from column ``x`` (cut at the right edge); one cell per character."""
        for i, ch in enumerate(text):
            self.put(x + i, y, ch, style)

    def rows(self) -> list[Content]:
        out = []
        for chars, styles in zip(self.chars, self.styles, strict=True):
            spans: list[Span] = []
            start = 0
            for x in range(1, len(styles) + 1):
                if x == len(styles) or styles[x] != styles[start]:
                    if styles[start]:
                        spans.append(Span(start, x, styles[start]))
                    start = x
            out.append(Content("".join(chars), spans))
        return out


def figure(width: int, height: int) -> Any:
    """plotext's figure, cleared, ``width`` x ``height`` cells, left and bottom axes only."""
    plt.terminal.limit(False, False)  # the plot's size is the widget's, never the terminal's
    fig = plt.figure
    fig.clear()
    fig.plot_size(width, height)
    fig.theme("clear")
    fig.axes(False, axis="x", side="upper")
    fig.axes(False, axis="y", side="right")
    return fig


def build(fig: Any, palette: Mapping[Rgb, str], chrome: str = CHROME) -> Grid:
    """Build ``fig`` and read it back: each cell's character, and its style (``palette``
    maps placeholder colours to theme styles; any other colour is ``chrome``; a blank cell
    has none). The figure is cleared afterwards (it is plotext's one shared figure)."""
    matrix = fig.build()
    fig.clear()
    width, height = matrix.size()
    lines = matrix.string(colorless=True).split("\n")
    chars: list[list[str]] = []
    styles: list[list[str]] = []
    for y in range(height):
        text = lines[y] if y < len(lines) else ""
        row = list(text[:width].ljust(width))
        chars.append(row)
        styles.append(["" if ch == " " else palette.get(matrix.get(y, x).foreground(), chrome)
                       for x, ch in enumerate(row)])
    return Grid(chars, styles)


def pad_labels(labels: Sequence[str], width: int) -> list[str]:
    """Tick labels right-aligned to one width, so charts stacked above each other share
    their canvas columns (plotext sizes the y ruler by its longest label)."""
    return [label.rjust(width) for label in labels]
