"""Workers table (DEAD / LATE / UNKNOWN / ALIVE with the reason, what needs a look first), the
connections table (server-side search, state filter, sort and paging; events and bytes with
their age when not current; cursor kept across refreshes) and the per-channel summary.

Every cell is a rich ``Text`` made by :func:`sse_tui.literal.cell`: a ``str`` cell would be
parsed as markup by the DataTable.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import var
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static

from core.models import ChannelsPage, ConnectionPage, ConnectionRecord, WorkerInfo
from sse_tui import fmt, keys
from sse_tui.literal import cell, line
from sse_tui.model import (
    CONNECTION_SORTS,
    CONNECTION_STATES,
    PAGE_SIZE,
    WORKER_LABEL,
    ConnectionQuery,
    RecordedScope,
    Thresholds,
    View,
    age_classes,
    counts_note,
    worker_state,
    workers_by_state,
)
from sse_tui.widgets.common import apply_freshness, set_border, set_content
from sse_tui.widgets.panel import Panel


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


def workers_title(workers: list[WorkerInfo], ttl: float) -> str:
    """The workers box's title: how many, and what needs a look (a DEAD one: how to reap it)."""
    states = [worker_state(w, ttl) for w in workers]
    title = f"Workers ({len(workers)})"
    if states.count("dead"):
        title += f" · {states.count('dead')} DEAD: select it, k or Enter reaps"
    if states.count("late"):
        title += f" · {states.count('late')} LATE"
    if states.count("unknown"):
        title += f" · {states.count('unknown')} UNKNOWN"
    return title


def heartbeat_age(seconds: float) -> str:
    """A heartbeat's age to a tenth of a second while it is young (the LATE / DEAD lines are
    seconds: 1.9 s and 2.1 s differ), then as any age."""
    return f"{seconds:.1f}s ago" if seconds < 60 else f"{fmt.age(seconds)} ago"


# the reason beside the state (at 80 columns it is in view; host and pid may scroll)
WORKER_COLUMNS = ("state", "worker", "conns", "heartbeat", "why", "host", "pid")
# a state's cell style (rich styles: DataTable cells are rich Text); ALIVE is green only for current data
STATE_STYLE = {"dead": "bold reverse red", "late": "bold reverse yellow", "unknown": "bold", "alive": "green"}
ROW_STYLE = {"dead": "bold red", "late": "yellow", "unknown": "", "alive": ""}


class WorkersTable(Panel, DataTable[Any]):
    """One row per worker: its state (core.liveness, as the server judged it) with the reason
    and the heartbeat's age; dead, late and unknown workers first."""

    DEFAULT_CSS = "WorkersTable { height: auto; max-height: 8; }"
    BINDINGS = [*keys.WORKERS]

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
        self.add_columns(*WORKER_COLUMNS)

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
                         *(cell("?") for _ in WORKER_COLUMNS[2:]), key="?unknown")
            return
        ttl = view.thresholds.heartbeat_ttl_seconds
        for w in workers_by_state(stats.workers, ttl):
            state = worker_state(w, ttl)
            style = ROW_STYLE[state]
            label_style = STATE_STYLE[state] if view.assessment.trusted or state != "alive" else ""  # no green that was not measured now
            why = w.state_reason or ("" if state == "alive" else f"heartbeat {w.heartbeat_age_seconds:.1f}s old (> {ttl:g}s)")
            self.worker_rows[w.worker_id] = w
            self.add_row(
                cell(WORKER_LABEL[state], style=label_style),
                cell(w.worker_id, style=style),
                cell(w.connections, style=style, justify="right"),
                cell(heartbeat_age(w.heartbeat_age_seconds), style=style, justify="right"),
                cell(why or "-", style=style or "dim", limit=80),
                cell("unknown" if w.host is None else w.host, style=style or ("" if w.host else "dim")),
                cell("?" if w.pid is None else w.pid, style=style, justify="right"),
                key=w.worker_id,
            )
        keep_cursor(self, key, row)
        if parent is not None and isinstance(parent, Widget):
            set_border(parent, title=workers_title(stats.workers, ttl))

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


# the worker before the counts: at 80 columns a stream's worker stays in view when its counts carry an age
COLUMNS = ("client", "channel", "age", "idle", "queue", "worker", "events", "bytes", "connection", "user agent")
UA_MIN = 12  # characters of room the user agent needs to be shown at all
UA_LIMIT = 40  # characters of a user agent shown in the table (the detail view shows it whole)
UA_SCROLLBAR = 2  # the table's vertical scrollbar, when it has more rows than lines
STATE_LABEL = {"all": "all", "stale": "stale only", "active": "active", "long_lived": "long-lived", "very_old": "very old"}


def queue_cell(r: ConnectionRecord) -> Text:
    """The kernel's send queue for a stream (core.queues): ``?`` unknown (not Linux, behind
    a proxy, an older server), its size and growth (``1.4 kB +1.4 kB``), and
    ``✖ NOT READING`` once flagged (its size and for how long: the API; sort by queue)."""
    if r.queued_bytes is None:
        return cell("?", style="dim")
    size = fmt.size(r.queued_bytes) if r.queued_bytes else "0"
    if r.not_reading:
        return cell("✖ NOT READING", style="bold red")
    if r.queue_growth_bytes:
        size += f" {'+' if r.queue_growth_bytes > 0 else '-'}{fmt.size(abs(r.queue_growth_bytes))}"
    return cell(size)


def events_cell(r: ConnectionRecord, counted: str) -> Text:
    """A stream's events: ``?`` where its worker does not count them (``events_sent`` null,
    SSE_COUNT_EVENTS off; the detail dialog gives the reason), never 0."""
    if r.events_sent is None:
        return cell("? not counted", style="dim", justify="right")
    return cell(f"{r.events_sent}{counted}", justify="right")


class ConnectionsView(Panel, Vertical):
    """A page of connections from the server: ``/`` search, ``s`` state, ``o`` sort,
    ``O`` order, ``]`` / ``[`` next / previous page, Enter opens the detail view.

    Its keys (:data:`sse_tui.keys.CONNECTIONS`) are bound at the App, active whenever the
    tab is shown (no focus needed); the App runs this widget's actions."""

    DEFAULT_CSS = """
    ConnectionsView #conn-filter { display: none; height: 1; border: none; padding: 0 1; }
    ConnectionsView #conn-filter.-shown { display: block; }
    ConnectionsView #conn-caption { height: auto; color: $text-muted; }
    ConnectionsView DataTable { height: 1fr; }
    """

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
        self._columns: tuple[str, ...] = ()  # the columns shown (the user agent when it has room)
        self.recorded: RecordedScope | None = None  # a replay: what the recorded page is of the server's list

    def compose(self) -> ComposeResult:
        yield Static(id="conn-caption")
        yield Input(placeholder="search client, worker, channel, agent, id (server-side; Enter keeps, Esc clears)",
                    id="conn-filter")
        yield DataTable(id="conn-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one("#conn-table", DataTable)
        table.cursor_foreground_priority = "renderable"
        self._rebuild()

    def on_resize(self) -> None:
        self._rebuild()  # the user agent comes and goes with the room

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

    @property
    def search_open(self) -> bool:
        """A search is shown or in force (Esc has something to clear)."""
        return bool(self.query_spec.q) or self.query_one("#conn-filter", Input).has_class("-shown")

    def open_filter(self) -> None:
        box = self.query_one("#conn-filter", Input)
        box.add_class("-shown")
        self.screen.set_focus(box)  # now, not after the keys already typed: they are the query

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
        self.screen.set_focus(self.query_one("#conn-table", DataTable))

    def action_clear_filter(self) -> None:
        box = self.query_one("#conn-filter", Input)
        box.value = ""
        box.remove_class("-shown")
        if self.query_spec.q:
            self._set_query(q="", offset=0)
        self.screen.set_focus(self.query_one("#conn-table", DataTable))

    clear_filter = action_clear_filter

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self._caption()  # "(Esc clears)" is said once the search box is left

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        self._caption()

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

    def show_view(self, view: View) -> None:
        apply_freshness(self, view.assessment)  # the rows follow the page (watch_page)

    def watch_page(self, page: ConnectionPage | None) -> None:
        self._rebuild()

    def _rebuild(self) -> None:
        """The most useful columns first (at 80 columns the id is the one cut off); the user
        agent last, when the room the other columns leave holds :data:`UA_MIN` characters."""
        table = self.query_one("#conn-table", DataTable)
        key, row = current_key(table)
        page = self.page
        rows: list[tuple[str, list[Text], str]] = []
        if page is not None:
            now = page.now
            th = self.view.thresholds if self.view is not None else Thresholds()
            paged = replace(th, stale_seconds=page.stale_threshold_seconds)  # the page's own stale line
            for r in page.connections:
                idle = now - r.last_activity
                stale = "stale" in age_classes(r, now, paged)
                note = counts_note(r, now, th)  # events / bytes not current: how old they are
                counted = "" if note is None else f" · {note}"
                rows.append((r.connection_id, [
                    cell(r.client_address or "-", limit=48),
                    cell(r.channel, limit=32),
                    cell(fmt.age(now - r.connected_at), justify="right"),
                    cell(fmt.age(idle) + (" STALE" if stale else ""), justify="right",
                         style="bold yellow" if stale else ""),
                    queue_cell(r),
                    cell(r.worker_id, limit=32),
                    events_cell(r, counted),
                    cell(f"{fmt.size(r.bytes_sent)}{counted}", justify="right"),
                    cell(r.connection_id, limit=64),
                ], r.user_agent or "-"))
        room = self._ua_room(rows)
        columns = COLUMNS if room >= UA_MIN else COLUMNS[:-1]
        if columns != self._columns:
            self._columns = columns
            table.clear(columns=True)
            table.add_columns(*columns)
        else:
            table.clear()
        for row_key, cells, agent in rows:
            if room >= UA_MIN:
                cells.append(cell(agent, limit=min(room, UA_LIMIT)))
            table.add_row(*cells, key=row_key)
        keep_cursor(table, key, row)
        self._caption()

    def _ua_room(self, rows: list[tuple[str, list[Text], str]]) -> int:
        """Characters left for the user agent once the other columns have their width."""
        width = self.content_size.width - UA_SCROLLBAR
        used = 0
        for i, label in enumerate(COLUMNS[:-1]):
            used += max([len(label), *(cells[i].cell_len for _, cells, _ in rows)]) + 2  # a cell's padding
        return width - used - 2

    def show_caption(self) -> None:
        """Say what the list shows (also after ``error`` or ``recorded`` changed)."""
        self._caption()

    def _caption(self) -> None:
        q, page, rec = self.query_spec, self.page, self.recorded
        parts: list[object] = []
        if self.error:
            parts += [("connections unavailable: ", "bold $error"), (self.error, "")]
        elif page is None:
            parts.append(("loading…", "dim"))
        elif rec is not None:  # a replay: a page of the recorded page, and what that one was
            first = page.offset + 1 if page.connections else 0
            last = page.offset + len(page.connections)
            parts += [(f"{first}–{last} of {page.total}", "bold"),
                      f" · {STATE_LABEL.get(q.state, q.state)} of the {rec.count} recorded · ",
                      (f"page {rec.page} of {rec.pages} recorded", "bold $warning"),
                      f" ({rec.total}{'+' if rec.truncated else ''} {STATE_LABEL.get(rec.state, rec.state)}"
                      f" by {rec.sort} {'↓' if rec.order == 'desc' else '↑'}"]
            if rec.query:
                parts += [", search ", (rec.query, "bold")]
            parts.append(")")
            if rec.lag > 0:
                parts.append((f", {fmt.age(rec.lag)} before this frame", "$warning"))
        else:
            first = page.offset + 1 if page.connections else 0
            last = page.offset + len(page.connections)
            total = f"{page.total}+" if page.truncated else str(page.total)
            pages = max((page.total - 1) // max(page.limit, 1) + 1, 1)
            parts += [(f"{first}–{last} of {total}", "bold"),
                      f" · {STATE_LABEL.get(q.state, q.state)} · page {page.offset // max(page.limit, 1) + 1}/{pages}"]
            if page.truncated:
                parts.append((" (search stopped at its scan bound)", "$warning"))
        parts.append(f" · sort {q.sort} {'↓' if q.order == 'desc' else '↑'}")
        if q.q:
            parts += [" · search: ", (q.q, "bold")]
            if not self.query_one("#conn-filter", Input).has_focus:
                parts.append(" (Esc clears)")  # Enter was pressed: the keys are the dashboard's again
        parts.append(" · o O sort · s state · [ ] pages · / search · Enter detail")
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
