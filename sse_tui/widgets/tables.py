"""Workers table and the oldest/stale connections table (sortable, filterable)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.markup import escape
from textual.widgets import DataTable, Input, Static

from core.models import ConnectionRecord, WorkerInfo
from sse_tui import fmt
from sse_tui.widgets.text import set_static


class WorkersTable(DataTable):
    DEFAULT_CSS = "WorkersTable { height: auto; max-height: 8; }"

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_columns("worker", "host", "pid", "conns", "heartbeat")

    def show(self, workers: list[WorkerInfo], stale_after: float = 30.0) -> None:
        self.clear()
        for w in sorted(workers, key=lambda w: w.worker_id):
            hb = fmt.age(w.heartbeat_age_seconds)
            beat = Text(hb, style="bold red") if w.heartbeat_age_seconds > stale_after else Text(hb)
            self.add_row(w.worker_id, w.host, str(w.pid), Text(str(w.connections), justify="right"), beat)


@dataclass(frozen=True)
class SortKey:
    label: str
    key: object


SORTS = ("age", "idle", "worker", "channel", "events")


class ConnectionsView(Vertical):
    """The connections page from the source, with ``/`` filtering and ``o`` sorting."""

    DEFAULT_CSS = """
    ConnectionsView #conn-filter { display: none; height: 1; border: none; padding: 0 1; }
    ConnectionsView #conn-filter.-shown { display: block; }
    ConnectionsView #conn-caption { height: 1; color: $text-muted; }
    ConnectionsView DataTable { height: 1fr; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.records: tuple[ConnectionRecord, ...] = ()
        self.total: int | None = None
        self.state_name = "all"
        self.now = 0.0
        self.sort_by = "age"
        self.filter_text = ""
        self.available = True

    def compose(self) -> ComposeResult:
        yield Static(id="conn-caption")
        yield Input(placeholder="filter: id, worker, channel, client… (Enter to keep, Esc to clear)", id="conn-filter")
        yield DataTable(id="conn-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one("#conn-table", DataTable)
        table.add_columns("connection", "worker", "channel", "client", "age", "idle", "events")

    def show(self, records: tuple[ConnectionRecord, ...] | None, total: int | None, state: str, now: float) -> None:
        self.available = records is not None
        self.records = records or ()
        self.total = total
        self.state_name = state
        self.now = now
        self._rebuild()

    def visible(self) -> list[ConnectionRecord]:
        rows = list(self.records)
        if self.filter_text:
            needle = self.filter_text.lower()
            rows = [
                r
                for r in rows
                if needle in f"{r.connection_id} {r.worker_id} {r.host} {r.channel} {r.client_address} {r.user_agent}".lower()
            ]
        keys = {
            "age": lambda r: r.connected_at,  # oldest first
            "idle": lambda r: r.last_activity,  # most idle first
            "worker": lambda r: (r.worker_id, r.connected_at),
            "channel": lambda r: (r.channel, r.connected_at),
            "events": lambda r: -r.events_sent,
        }
        return sorted(rows, key=keys[self.sort_by])

    def cycle_sort(self) -> str:
        self.sort_by = SORTS[(SORTS.index(self.sort_by) + 1) % len(SORTS)]
        self._rebuild()
        return self.sort_by

    def open_filter(self) -> None:
        box = self.query_one("#conn-filter", Input)
        box.add_class("-shown")
        box.focus()

    @on(Input.Changed, "#conn-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self._rebuild()

    @on(Input.Submitted, "#conn-filter")
    def _filter_done(self) -> None:
        box = self.query_one("#conn-filter", Input)
        if not box.value:
            box.remove_class("-shown")
        self.query_one("#conn-table", DataTable).focus()

    def clear_filter(self) -> None:
        box = self.query_one("#conn-filter", Input)
        box.value = ""
        box.remove_class("-shown")
        self.filter_text = ""
        self._rebuild()
        self.query_one("#conn-table", DataTable).focus()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        mapping = {"age": "age", "idle": "idle", "worker": "worker", "channel": "channel", "events": "events"}
        label = str(event.label)
        if label in mapping:
            self.sort_by = mapping[label]
            self._rebuild()

    def _rebuild(self) -> None:
        table = self.query_one("#conn-table", DataTable)
        table.clear()
        rows = self.visible()
        for r in rows:
            idle = self.now - r.last_activity
            table.add_row(
                r.connection_id,
                r.worker_id,
                r.channel,
                r.client_address,
                Text(fmt.age(self.now - r.connected_at), justify="right"),
                Text(fmt.age(idle), justify="right"),
                Text(str(r.events_sent), justify="right"),
            )
        if not self.available:
            caption = "[dim]this source does not list connections[/dim]"
        else:
            total = self.total if self.total is not None else len(self.records)
            shown = f"{len(rows)} of {len(self.records)}" if self.filter_text else f"{len(rows)}"
            caption = f"{shown} shown ({total} {self.state_name}) · sorted by [b]{self.sort_by}[/b] (o) · filter (/)"
            if self.filter_text:
                caption += f" · filter: [b]{escape(self.filter_text)}[/b]"
        set_static(self.query_one("#conn-caption", Static), caption)
