"""Workers table (ALIVE / DEAD), the connections table (server-side search, state filter,
sort and paging; cursor kept across refreshes) and the per-channel summary.

Every cell is a rich ``Text`` made by :func:`sse_tui.literal.cell`: a ``str`` cell would be
parsed as markup by the DataTable.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import var
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static

from core.models import ChannelsPage, ConnectionPage, WorkerInfo
from sse_tui import fmt
from sse_tui.literal import cell, line
from sse_tui.model import CONNECTION_SORTS, CONNECTION_STATES, PAGE_SIZE, ConnectionQuery, View, worker_alive
from sse_tui.widgets.common import apply_freshness, set_border, set_content


def keep_cursor(table: DataTable[Any], key: str | None, fallback_row: int) -> None:
    """Put the cursor back on row ``key`` (or the same row number) after a rebuild."""
    if table.row_count == 0:
        return
    row = None
    if key is not None:
        try:
            row = table.get_row_index(key)
        except Exception:  # noqa: BLE001 - the row is gone
            row = None
    if row is None:
        row = min(max(fallback_row, 0), table.row_count - 1)
    table.move_cursor(row=row, animate=False, scroll=True)


def current_key(table: DataTable[Any]) -> tuple[str | None, int]:
    if table.row_count == 0:
        return None, 0
    try:
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    except Exception:  # noqa: BLE001
        key = None
    return key, table.cursor_row


class WorkersTable(DataTable[Any]):
    """One row per worker: ALIVE / DEAD from the API's ``alive`` and the heartbeat TTL."""

    DEFAULT_CSS = "WorkersTable { height: auto; max-height: 8; }"
    BINDINGS = [Binding("k", "reap", "Reap worker", show=False)]

    view: var[View | None] = var(None, always_update=True)

    class ReapRequested(Message):
        def __init__(self, worker: WorkerInfo) -> None:
            super().__init__()
            self.worker = worker

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.worker_rows: dict[str, WorkerInfo] = {}

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.cursor_foreground_priority = "renderable"  # a DEAD row stays red under the cursor
        self.add_columns("state", "worker", "host", "pid", "conns", "heartbeat")

    def watch_view(self, view: View | None) -> None:
        if view is not None:
            self.show_view(view)

    def show_view(self, view: View) -> None:
        parent = self.parent
        if parent is not None:
            apply_freshness(parent, view.assessment)  # type: ignore[arg-type]
        key, row = current_key(self)
        self.clear()
        self.worker_rows = {}
        stats = view.stats
        if stats is None:
            return
        if stats.workers is None:
            self.add_row(cell("?", style="bold"), cell("workers unknown (store down)", style="dim"),
                         *(cell("?") for _ in range(4)), key="?unknown")
            return
        ttl = view.thresholds.heartbeat_ttl_seconds
        dead_first = sorted(stats.workers, key=lambda w: (worker_alive(w.alive, w.heartbeat_age_seconds, ttl), w.worker_id))
        for w in dead_first:
            alive = worker_alive(w.alive, w.heartbeat_age_seconds, ttl)
            style = "" if alive else "bold red"
            alive_style = "green" if view.assessment.trusted else ""  # no green that was not measured now
            state = cell("ALIVE", style=alive_style) if alive else cell("✖ DEAD", style="bold reverse red")
            hb = fmt.age(w.heartbeat_age_seconds) + ("" if alive else f" > {ttl:g}s")
            self.worker_rows[w.worker_id] = w
            self.add_row(
                state,
                cell(w.worker_id, style=style),
                cell("unknown" if w.host is None else w.host, style=style or ("" if w.host else "dim")),
                cell("?" if w.pid is None else w.pid, style=style, justify="right"),
                cell(w.connections, style=style, justify="right"),
                cell(hb, style=style, justify="right"),
                key=w.worker_id,
            )
        keep_cursor(self, key, row)
        dead = sum(1 for w in stats.workers if not worker_alive(w.alive, w.heartbeat_age_seconds, ttl))
        if parent is not None:
            title = f"Workers ({len(stats.workers)})"
            if dead:
                title += f" · {dead} DEAD: select it, k or Enter reaps"
            if isinstance(parent, Widget):
                set_border(parent, title=title)

    def action_reap(self) -> None:
        key, _ = current_key(self)
        if key in self.worker_rows:
            self.post_message(self.ReapRequested(self.worker_rows[key]))

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        key = event.row_key.value
        if key in self.worker_rows:
            self.post_message(self.ReapRequested(self.worker_rows[key]))


STATE_LABEL = {"all": "all", "stale": "stale only", "active": "active", "long_lived": "long-lived", "very_old": "very old"}


class ConnectionsView(Vertical):
    """A page of connections from the server: ``/`` search, ``s`` state, ``o`` sort,
    ``O`` order, ``]`` / ``[`` next / previous page, Enter opens the detail view."""

    DEFAULT_CSS = """
    ConnectionsView #conn-filter { display: none; height: 1; border: none; padding: 0 1; }
    ConnectionsView #conn-filter.-shown { display: block; }
    ConnectionsView #conn-caption { height: auto; color: $text-muted; }
    ConnectionsView DataTable { height: 1fr; }
    """

    BINDINGS = [
        Binding("s", "cycle_state", "State", show=False),
        Binding("O", "flip_order", "Order", show=False),
        Binding("right_square_bracket", "page(1)", "Next page", show=False),
        Binding("left_square_bracket", "page(-1)", "Prev page", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    view: var[View | None] = var(None, always_update=True)
    page: var[ConnectionPage | None] = var(None, always_update=True)

    class QueryChanged(Message):
        def __init__(self, query: ConnectionQuery) -> None:
            super().__init__()
            self.query = query

    class Opened(Message):
        def __init__(self, connection_id: str) -> None:
            super().__init__()
            self.connection_id = connection_id

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.query_spec = ConnectionQuery()
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="conn-caption")
        yield Input(placeholder="search client, worker, channel, agent, id (server-side; Enter keeps, Esc clears)",
                    id="conn-filter")
        yield DataTable(id="conn-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one("#conn-table", DataTable)
        table.cursor_foreground_priority = "renderable"
        # the most useful columns first: at 80 columns the long id is the one cut off
        table.add_columns("client", "channel", "age", "idle", "events", "bytes", "worker", "connection")

    # -------------------------------------------------------------- query

    def _set_query(self, **changes: object) -> None:
        self.query_spec = replace(self.query_spec, **changes)  # type: ignore[arg-type]
        self.post_message(self.QueryChanged(self.query_spec))
        self._caption()

    def action_cycle_state(self) -> None:
        states = CONNECTION_STATES
        self._set_query(state=states[(states.index(self.query_spec.state) + 1) % len(states)], offset=0)

    def cycle_sort(self) -> str:
        sorts = CONNECTION_SORTS
        self._set_query(sort=sorts[(sorts.index(self.query_spec.sort) + 1) % len(sorts)], offset=0)
        return self.query_spec.sort

    def action_flip_order(self) -> None:
        self._set_query(order="asc" if self.query_spec.order == "desc" else "desc", offset=0)

    def action_page(self, delta: int) -> None:
        total = self.page.total if self.page is not None else 0
        offset = self.query_spec.offset + delta * self.query_spec.limit
        last = max((total - 1) // self.query_spec.limit, 0) * self.query_spec.limit
        offset = min(max(offset, 0), last)
        if offset != self.query_spec.offset:
            self._set_query(offset=offset)

    def open_filter(self) -> None:
        box = self.query_one("#conn-filter", Input)
        box.add_class("-shown")
        box.focus()

    @on(Input.Changed, "#conn-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        text = event.value.strip()
        if text != self.query_spec.q:
            self._set_query(q=text, offset=0)

    @on(Input.Submitted, "#conn-filter")
    def _filter_done(self) -> None:
        box = self.query_one("#conn-filter", Input)
        if not box.value:
            box.remove_class("-shown")
        self.query_one("#conn-table", DataTable).focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#conn-filter", Input)
        box.value = ""
        box.remove_class("-shown")
        if self.query_spec.q:
            self._set_query(q="", offset=0)
        self.query_one("#conn-table", DataTable).focus()

    clear_filter = action_clear_filter

    def on_key(self, event: events.Key) -> None:  # Esc inside the search box clears it (as its placeholder says)
        if event.key == "escape" and self.query_one("#conn-filter", Input).has_focus:
            event.stop()
            self.action_clear_filter()

    @on(DataTable.RowSelected, "#conn-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value:
            self.post_message(self.Opened(event.row_key.value))

    def selected_id(self) -> str | None:
        return current_key(self.query_one("#conn-table", DataTable))[0]

    # -------------------------------------------------------------- paint

    def watch_view(self, view: View | None) -> None:
        if view is not None:
            apply_freshness(self, view.assessment)

    def watch_page(self, page: ConnectionPage | None) -> None:
        self._rebuild()

    def _rebuild(self) -> None:
        table = self.query_one("#conn-table", DataTable)
        key, row = current_key(table)
        table.clear()
        page = self.page
        if page is not None:
            now = page.now
            for r in page.connections:
                idle = now - r.last_activity
                stale = idle > page.stale_threshold_seconds
                table.add_row(
                    cell(r.client_address or "-", limit=48),
                    cell(r.channel, limit=32),
                    cell(fmt.age(now - r.connected_at), justify="right"),
                    cell(fmt.age(idle) + (" STALE" if stale else ""), justify="right",
                         style="bold yellow" if stale else ""),
                    cell(r.events_sent, justify="right"),
                    cell(fmt.size(r.bytes_sent), justify="right"),
                    cell(r.worker_id, limit=32),
                    cell(r.connection_id, limit=64),
                    key=r.connection_id,
                )
            keep_cursor(table, key, row)
        self._caption()

    def _caption(self) -> None:
        q, page = self.query_spec, self.page
        parts: list[object] = []
        if self.error:
            parts += [("connections unavailable: ", "bold $error"), (self.error, "")]
        elif page is None:
            parts.append(("loading…", "dim"))
        else:
            first = page.offset + 1 if page.connections else 0
            last = page.offset + len(page.connections)
            total = f"{page.total}+" if page.truncated else str(page.total)
            pages = max((page.total - 1) // max(page.limit, 1) + 1, 1)
            parts += [(f"{first}–{last} of {total}", "bold"),
                      f" · {STATE_LABEL.get(q.state, q.state)} · page {page.offset // max(page.limit, 1) + 1}/{pages}"]
            if page.truncated:
                parts.append((" (search stopped at its scan bound)", "$warning"))
        parts.append(f" · sort {q.sort} {'↓' if q.order == 'desc' else '↑'} (o/O) · state (s) · [ ] pages · / search · Enter detail")
        if q.q:
            parts += [" · search: ", (q.q, "bold")]
        set_content(self.query_one("#conn-caption", Static), line(*parts))


class ChannelsTable(DataTable[Any]):
    """Per-channel summary: connections, stale, oldest (which endpoint is leaking)."""

    DEFAULT_CSS = "ChannelsTable { height: 1fr; }"

    page: var[ChannelsPage | None] = var(None, always_update=True)

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_columns("channel", "conns", "stale", "stale %", "oldest")

    def watch_page(self, page: ChannelsPage | None) -> None:
        key, row = current_key(self)
        self.clear()
        if page is None:
            return
        for c in page.channels:
            pct = 100.0 * c.stale / c.connections if c.connections else 0.0
            oldest = "-" if c.oldest_connected_at is None else fmt.age(page.now - c.oldest_connected_at)
            self.add_row(
                cell(c.channel, limit=48),
                cell(c.connections, justify="right"),
                cell(c.stale, justify="right", style="bold yellow" if c.stale else ""),
                cell(f"{pct:.0f}%", justify="right"),
                cell(oldest, justify="right"),
                key=c.channel,
            )
        keep_cursor(self, key, row)


__all__ = ["WorkersTable", "ConnectionsView", "ChannelsTable", "PAGE_SIZE", "Text"]
