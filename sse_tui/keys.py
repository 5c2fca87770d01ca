"""Every key of the dashboard, in one place.

The App's and the widgets' ``BINDINGS`` are the lists below, and ``?`` help is made from
them (:func:`help_sections`), so help cannot drift from what the keys do. A binding's
``tooltip`` is its help text (the footer shows it on hover); its ``description`` is the
footer's short label.

Scopes, chosen so that keys never fight:

* :data:`GLOBAL`: everywhere on the dashboard. The tab keys ``1``–``5`` always switch tabs.
* :data:`HISTORY` and :data:`CONNECTIONS`: bound at the App and active only while their
  tab is shown (``DashboardApp.check_action``): they work the moment the tab opens, with no
  focus needed, and use no key of :data:`GLOBAL`.
* :data:`REPLAY`: active only on a ``--replay``.
* :data:`WORKERS` and :data:`DETAIL`: a focused widget's keys (the selected worker row, the
  connection detail dialog).

Keys that are not bindings of ours (Enter on a table row, Esc in the search box, the
command palette) are :class:`KeyNote` rows, listed with their scope.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from textual.binding import Binding

from sse_tui.widgets.history import RANGES

TABS = Binding.Group("Tabs")
INTERVAL = Binding.Group("Interval")
RANGE = Binding.Group("Range")
ALERTS = Binding.Group("Alerts")
STEPS = Binding.Group("Step")
PAGES = Binding.Group("Page")

_RANGE_NAMES = " · ".join(RANGES)

# The footer shows shown bindings in this order and drops the last ones at 80 columns:
# help and quit lead, then the keys of the current scope (History, replay), then the rest.
LEAD: list[Binding] = [
    Binding("question_mark", "help", "Help", key_display="?", tooltip="this help (Esc closes)"),
    Binding("q", "quit", "Quit", tooltip="quit"),
]
HISTORY: list[Binding] = [
    Binding("less_than_sign", "history_range(-1)", "shorter", key_display="<", group=RANGE, tooltip="shorter"),
    Binding("greater_than_sign", "history_range(1)", "longer", key_display=">", group=RANGE,
            tooltip=f"longer ({_RANGE_NAMES})"),
]
REPLAY: list[Binding] = [
    Binding("n", "next_alert(1)", "Next alert", group=ALERTS, tooltip="the next frame where an alert starts"),
    Binding("N", "next_alert(-1)", "Prev alert", show=False, group=ALERTS, tooltip="the previous one"),
    Binding("g", "seek", "Seek", tooltip="seek to a recorded time (10:42, -5m, +30s)"),
    Binding("comma", "step(-1)", "Back", key_display=",", group=STEPS, tooltip="one frame back (pauses)"),
    Binding("full_stop", "step(1)", "Step", key_display=".", group=STEPS, tooltip="one frame forward (pauses)"),
]
GLOBAL: list[Binding] = [
    Binding("c", "cleanup", "Cleanup", tooltip="cleanup now (asks first; says why not when it cannot)"),
    Binding("p", "toggle_pause", "Pause", tooltip="pause / resume the panels (the data age keeps ticking)"),
    Binding("r", "refresh_now", "Refresh", tooltip="poll now (also: retry now while the source is down)"),
    Binding("slash", "filter", "Search", key_display="/",
            tooltip="search every connection on the server (client, worker, channel, agent, id)"),
    Binding("e", "export", "Export", tooltip="export the snapshot on screen as JSON (full path shown)"),
    Binding("t", "timeline", "Timeline", show=False,
            tooltip="write the incident timeline (Markdown) of the History tab's range; a replay: all of it"),
    Binding("space", "toggle_pause", "Pause", show=False,
            tooltip="pause / resume the panels (the data age keeps ticking)"),
    Binding("plus", "slower", "+Interval", key_display="+", show=False, group=INTERVAL, tooltip="slower"),
    Binding("minus", "faster", "-Interval", key_display="-", show=False, group=INTERVAL,
            tooltip="faster (replay: faster playback)"),
    Binding("o", "sort", "Sort", show=False, tooltip="sort the connections (age, idle, events, bytes, send queue)"),
    Binding("1", "tab('overview')", "overview", show=False, group=TABS),
    Binding("2", "tab('connections')", "workers & connections", show=False, group=TABS),
    Binding("3", "tab('channels')", "channels", show=False, group=TABS),
    Binding("4", "tab('config')", "configuration", show=False, group=TABS),
    Binding("5", "tab('history')", "history", show=False, group=TABS),
]
CONNECTIONS: list[Binding] = [
    Binding("s", "connections('cycle_state')", "State", show=False,
            tooltip="state filter: all, stale only, active, long-lived, very old"),
    Binding("O", "connections('flip_order')", "Order", show=False, tooltip="flip the sort order"),
    Binding("left_square_bracket", "connections('page(-1)')", "Prev page", key_display="[", show=False,
            group=PAGES, tooltip="previous page"),
    Binding("right_square_bracket", "connections('page(1)')", "Next page", key_display="]", show=False,
            group=PAGES, tooltip="next page"),
    Binding("escape", "connections('clear_filter')", "Clear search", key_display="Esc", show=False,
            tooltip="clear the search (Enter in the search box keeps it)"),
]
WORKERS: list[Binding] = [
    Binding("k", "reap", "Reap worker", show=False, tooltip="reap the selected DEAD worker (asks first)"),
]
DETAIL: list[Binding] = [
    Binding("d", "disconnect", "Disconnect", tooltip="disconnect this connection (asks first; needs the token)"),
    Binding("escape", "close", "Close", key_display="Esc", tooltip="close"),
    Binding("q", "close", "Close", show=False, tooltip="close"),
]
CONFIRM: list[Binding] = [  # cleanup, disconnect and reap confirmations
    Binding("y", "confirm", "Yes", priority=True, tooltip="confirm (cleanup, disconnect, reap)"),
    Binding("n", "cancel", "No", priority=True, tooltip="cancel"),
    Binding("escape", "cancel", "Cancel", key_display="Esc", priority=True, tooltip="cancel"),
]
SEEK: list[Binding] = [Binding("escape", "cancel", "Cancel", key_display="Esc", priority=True, tooltip="cancel")]
HELP: list[Binding] = [
    Binding("escape", "close", "Close", key_display="Esc", tooltip="close this help"),
    Binding("question_mark", "close", "Close", key_display="?", tooltip="close this help"),
    Binding("q", "close", "Close", tooltip="close this help"),
]

APP_BINDINGS: list[Binding] = [*LEAD, *HISTORY, *REPLAY, *GLOBAL, *CONNECTIONS]


def actions_of(bindings: Sequence[Binding]) -> frozenset[str]:
    """The action names (without parameters) of ``bindings``: what ``check_action`` scopes."""
    return frozenset(b.action.split("(", 1)[0] for b in bindings)


HISTORY_ACTIONS = actions_of(HISTORY)
CONNECTIONS_ACTIONS = actions_of(CONNECTIONS)
REPLAY_ACTIONS = actions_of(REPLAY)


@dataclass(frozen=True)
class KeyNote:
    """A key that is not one of our bindings (a table's Enter, the palette), for help."""

    keys: str
    text: str


@dataclass(frozen=True)
class Section:
    title: str
    bindings: tuple[Binding, ...] = ()
    notes: tuple[KeyNote, ...] = ()


def help_sections(palette_key: str) -> tuple[Section, ...]:
    """Help's sections: every binding above, with the keys that are not ours."""
    return (
        Section("Everywhere", (*LEAD, *GLOBAL),
                (KeyNote(palette_key, "command palette (themes, screenshot, actions)"),
                 KeyNote("Tab", "move the focus (to a table, to select a row)"))),
        Section("History tab (5)", tuple(HISTORY)),
        Section("Workers & connections tab (2)", (*CONNECTIONS, *WORKERS),
                (KeyNote("Enter", "open the selected connection (every field) · on a DEAD worker: reap it"),)),
        Section("Replay (--replay)", tuple(REPLAY)),
        Section("Connection detail", tuple(DETAIL)),
        Section("Dialogs", (*CONFIRM, *SEEK, *HELP)),
    )


@dataclass(frozen=True)
class HelpRow:
    keys: str
    text: str


def help_rows(section: Section, key_display: Callable[[Binding], str]) -> list[HelpRow]:
    """One row per key, per group of keys (``1 2 3 4 5``) and per action bound twice
    (``p / space``); a row's text is the bindings' tooltips (or descriptions)."""
    rows: list[HelpRow] = []
    done: set[int] = set()
    bindings = list(section.bindings)
    for i, b in enumerate(bindings):
        if i in done:
            continue
        if b.group is not None:
            members = [j for j, o in enumerate(bindings) if o.group is b.group]
            done.update(members)
            keys = " ".join(key_display(bindings[j]) for j in members)
            text = f"{b.group.description.lower()}: " + " · ".join(
                bindings[j].tooltip or bindings[j].description for j in members)
            rows.append(HelpRow(keys, text))
            continue
        same = [j for j, o in enumerate(bindings) if j not in done and o.action == b.action and o.group is None]
        done.update(same)
        shown = dict.fromkeys(key_display(bindings[j]) for j in same)  # a key bound twice (two dialogs) shows once
        rows.append(HelpRow(" / ".join(shown), b.tooltip or b.description))
    rows += [HelpRow(n.keys, n.text) for n in section.notes]
    return rows


def range_hint(key_display: Callable[[Binding], str]) -> str:
    """The History range keys as shown in the chart's title line (``< >``)."""
    return " ".join(key_display(b) for b in HISTORY)
