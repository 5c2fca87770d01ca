"""Keys that never fight (issue 21): the tab keys 1–5 switch tabs everywhere; a tab's own keys
work the moment it opens, with no focus needed; a finished or cancelled search gives the
keys back; every key is in ``?`` help, which is made from the bindings themselves."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from textual.binding import Binding
from textual.dom import DOMNode
from textual.widgets import DataTable, Input, Static
from tui_helpers import FixedClock, wait_until

import sse_tui.app
import sse_tui.widgets.dialogs
import sse_tui.widgets.tables
from sse_tui import keys
from sse_tui.samples import ScriptedSource, sample_connections, sample_snapshot
from sse_tui.widgets.dialogs import HelpScreen
from tests.tui.test_app_keys import build, first_poll


def active_tab(app) -> str:
    return app.query_one("#tabs").active


def caption(app) -> str:
    return str(app.query_one("#conn-caption", Static).render())


async def test_connections_keys_work_the_moment_the_tab_opens(clock: FixedClock) -> None:
    src = ScriptedSource([sample_snapshot()], connections=sample_connections(120))
    app, _ = build(src, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        await pilot.press("s")  # not the connections tab: nothing happens
        assert app.conn_query.state == "all"
        await pilot.press("2")
        assert not any(w.has_focus for w in app.query("#connections-view *"))
        await pilot.press("s")
        assert app.conn_query.state == "stale"
        await pilot.press("s", "s", "s", "s")  # round to "all"
        await pilot.press("right_square_bracket")
        assert app.conn_query.offset == 50
        await pilot.press("O")
        assert app.conn_query.order == "asc" and app.conn_query.offset == 0
        table = app.query_one("#conn-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == 50, what="the page")


async def test_a_finished_or_cancelled_search_gives_the_tab_keys_back(clock: FixedClock) -> None:
    app, _ = build(ScriptedSource([sample_snapshot()]), clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        box = app.query_one("#conn-filter", Input)
        await pilot.press("slash", "z", "z", "z")
        assert "search: zzz" in caption(app) and "Esc clears" not in caption(app)  # still typing
        await pilot.press("enter")  # a search that finds nothing, kept
        assert app.conn_query.q == "zzz" and not box.has_focus
        await wait_until(pilot, lambda: "search: zzz (Esc clears)" in caption(app), what="the search kept")
        await pilot.press("1")
        assert active_tab(app) == "overview"  # it used to do nothing (focus fell back into the box)
        await pilot.press("2")
        assert active_tab(app) == "connections" and box.value == "zzz" and app.conn_query.q == "zzz"
        await pilot.press("escape")  # Esc clears it, no focus needed
        assert app.conn_query.q == "" and box.value == ""
        await pilot.press("slash", "a", "escape")  # a cancelled search
        assert app.conn_query.q == "" and not box.has_focus
        await pilot.press("3")
        assert active_tab(app) == "channels" and box.value == ""
        await pilot.press("slash", "1", "0")  # while typing, digits are the query, not tabs
        assert active_tab(app) == "connections" and box.value == "10"
        await pilot.press("enter")
        app.query_one("#conn-table", DataTable).focus()  # focus on a row of the table, then a tab key
        await pilot.press("4")
        assert active_tab(app) == "config" and box.value == "10"


def _bound_classes() -> list[type[DOMNode]]:
    """Every class of the dashboard that declares key bindings of its own."""
    found = []
    dialogs = [importlib.import_module(m.name) for m in pkgutil.iter_modules(sse_tui.widgets.dialogs.__path__,
                                                                              "sse_tui.widgets.dialogs.")]
    for module in (sse_tui.app, *dialogs, sse_tui.widgets.tables):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and issubclass(cls, DOMNode) and "BINDINGS" in vars(cls):
                found.append(cls)
    return found


def test_every_binding_of_every_screen_and_widget_is_in_help() -> None:
    classes = _bound_classes()
    assert {c.__name__ for c in classes} >= {"DashboardApp", "WorkersTable", "CleanupDialog", "ConfirmDialog",
                                              "ConnectionDetail", "SeekDialog", "HelpScreen"}
    in_help = {(b.key, b.action) for s in keys.help_sections("ctrl+p") for b in s.bindings}
    for cls in classes:
        for b in vars(cls)["BINDINGS"]:
            assert isinstance(b, Binding), (cls, b)
            assert (b.key, b.action) in in_help, f"{cls.__name__} binds {b.key} ({b.action}) but help does not say so"


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_help_shows_every_key_including_5_and_the_range_keys(clock: FixedClock, size) -> None:
    app, _ = build(ScriptedSource([sample_snapshot()]), clock)
    async with app.run_test(size=size) as pilot:
        await first_poll(pilot, app)
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        shown = " ".join(str(s.render()) for s in app.screen.query(".help-keys").results(Static))
        texts = " ".join(str(s.render()) for s in app.screen.query(".help-text").results(Static))
        for section in keys.help_sections(app.COMMAND_PALETTE_BINDING):
            for b in section.bindings:
                assert app.get_key_display(b) in shown.split(), (section.title, b.key)
        assert "1 2 3 4 5" in shown and "< >" in shown
        assert "history" in texts and "live · 1h · 6h · 24h · 7d" in texts
