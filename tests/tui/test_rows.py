"""``Rows`` (the panels' row-by-row Static) draws exactly what a Static holding the same
lines draws, through every kind of update: one row changed (the partial repaint), rows
added, a row too long for the width (it wraps: Static's own rendering), styles with theme
variables, a theme change, a dimmed (text-opacity) parent and a text selection.

The two widgets sit side by side at the same width; the test compares the screen the
compositor produced, cell by cell (text and style), left half against right half.
"""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.geometry import Offset
from textual.selection import Selection
from textual.widgets import Static
from tui_helpers import wait_until

from sse_tui.literal import line, lines
from sse_tui.widgets.rows import Rows

WIDTH = 30


class Pair(App[None]):
    CSS = f"""
    Vertical {{ width: {WIDTH}; height: 1fr; }}
    .dim {{ text-opacity: 65%; }}
    """

    def compose(self) -> ComposeResult:
        with Horizontal():
            with Vertical(id="left"):
                yield Rows(id="rows")
            with Vertical(id="right"):
                yield Static(id="static")

    def show(self, rows: list[Content]) -> bool:
        self.query_one("#static", Static).update(lines(rows))
        return self.query_one(Rows).set_rows(rows)


def halves(app: App[None]) -> tuple[list[list[tuple[str, object]]], list[list[tuple[str, object]]]]:
    """Each screen line's cells (character, style) in the left and the right column."""
    left, right = [], []
    for strip in app.screen._compositor.render_strips():
        cells = [(ch, seg.style) for seg in strip for ch in seg.text]
        left.append(cells[:WIDTH])
        right.append(cells[WIDTH:2 * WIDTH])
    return left, right


async def same_screen(pilot, app: Pair) -> None:
    await pilot.pause()
    await wait_until(pilot, lambda: halves(app)[0] == halves(app)[1], timeout=3, what="Rows drawn like Static")


async def test_rows_draw_like_static() -> None:
    app = Pair()
    async with app.run_test(size=(2 * WIDTH, 12)) as pilot:
        base = [line(("Active", "bold"), " 945 ", ("▃▄▅▆▇", "$accent")), line(("stale ", "dim"), ("0", "bold $error")),
                line("history: 3 polls")]
        assert app.show(base)
        await same_screen(pilot, app)
        assert not app.query_one(Rows).set_rows(list(base)), "unchanged rows are not repainted"

        changed = [base[0], line(("stale ", "dim"), ("12", "bold $warning")), base[2]]
        app.show(changed)  # one row: the partial repaint
        assert {(r.y, r.height) for r in app.query_one(Rows)._repaint_regions} == {(1, 1)}, "only the row that changed"
        await same_screen(pilot, app)
        restyled = [base[0], line(("stale ", "dim"), ("12", "bold $error")), base[2]]  # same text, new style
        assert app.show(restyled)
        await same_screen(pilot, app)

        more = [*restyled, line("◆ CLEAN 20:29:28 (47s ago)"), line("  cleanup removed 150"), Content(""),
                line(("WARN ", "bold $warning"), "  "), Content("tab\there")]
        app.show(more)  # a new number of rows: a layout
        await same_screen(pilot, app)
        assert app.query_one(Rows).size.height == 8

        long = [*more[:2], line("a message far too long to fit in thirty columns, so it wraps"), *more[3:]]
        app.show(long)  # wraps: Static's own rendering
        await same_screen(pilot, app)
        assert app.query_one(Rows).size.height == app.query_one(Static).size.height > 8

        app.show(more)  # fits again
        await same_screen(pilot, app)

        app.theme = "textual-light" if app.theme != "textual-light" else "nord"
        await same_screen(pilot, app)
        app.query_one("#left").add_class("dim")
        app.query_one("#right").add_class("dim")
        await same_screen(pilot, app)
        app.show([more[0], line(("stale ", "dim"), ("13", "bold $warning")), *more[2:]])
        await same_screen(pilot, app)

        rows, static = app.query_one(Rows), app.query_one("#static", Static)
        chosen = Selection.from_offsets(Offset(2, 0), Offset(4, 1))
        app.screen.selections = {rows: chosen, static: chosen}  # a text selection: highlighted alike
        await same_screen(pilot, app)
        assert rows.get_selection(chosen) == static.get_selection(chosen)
        app.screen.selections = {}
        await same_screen(pilot, app)
