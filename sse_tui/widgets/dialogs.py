"""Modal screens: cleanup / disconnect / reap confirmations, connection detail, replay seek, help.

Every value shown here that came from the wire (source name, addresses, ids, reasons) is
literal text (:mod:`sse_tui.literal`).
"""

from __future__ import annotations

import time

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from core.models import ConnectionRecord
from sse_tui import fmt
from sse_tui.literal import line, lines
from sse_tui.model import Thresholds


class CleanupDialog(ModalScreen[int | None]):
    """Asks for the batch size; dismisses with it (confirm) or None (cancel)."""

    BINDINGS = [
        Binding("y", "confirm", "Yes", priority=True),
        Binding("n", "cancel", "No", priority=True),
        Binding("escape", "cancel", "Cancel", priority=True),
    ]

    def __init__(self, source: str, batch_size: int, stale_warning: str | None = None,
                 stale_count: int | None = None) -> None:
        super().__init__()
        self.source = source
        self.batch_size = batch_size
        self.stale_warning = stale_warning
        self.stale_count = stale_count

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(line(("Run a cleanup now?", "bold")), id="dialog-title")
            yield Static(line("Removes stale connections from ", (self.source, "bold"), "."))
            count = "unknown (no current count)" if self.stale_count is None else str(self.stale_count)
            yield Static(line("Stale connections now: ", (count, "bold")), id="dialog-count")
            if self.stale_warning:
                yield Static(line(("▲ ", "bold $warning"), (self.stale_warning, "bold $warning")), id="dialog-stale")
            with Horizontal(id="dialog-batch"):
                yield Static("batch size ", classes="label")
                yield Input(str(self.batch_size), type="integer", id="batch-size", compact=True)
            with Horizontal(id="dialog-buttons"):
                yield Button("Clean up (y)", variant="warning", id="confirm", compact=True)
                yield Button("Cancel (n)", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#confirm", Button).focus()

    def _batch(self) -> int | None:
        try:
            value = int(self.query_one("#batch-size", Input).value)
        except ValueError:
            return None
        return value if value > 0 else None

    def action_confirm(self) -> None:
        batch = self._batch()
        if batch is None:
            self.notify("batch size must be a positive whole number", severity="error", markup=False)
            return
        self.dismiss(batch)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#confirm")
    def _confirm_pressed(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    @on(Input.Submitted, "#batch-size")
    def _submitted(self) -> None:
        self.action_confirm()


class ConfirmDialog(ModalScreen[bool]):
    """A yes/no question about one thing (disconnect this connection, reap this worker)."""

    BINDINGS = [
        Binding("y", "confirm", "Yes", priority=True),
        Binding("n", "cancel", "No", priority=True),
        Binding("escape", "cancel", "Cancel", priority=True),
    ]

    def __init__(self, title: str, body: Content, confirm_label: str) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(line((self.title_text, "bold")), id="dialog-title")
            yield Static(self.body, id="dialog-body")
            with Horizontal(id="dialog-buttons"):
                yield Button(f"{self.confirm_label} (y)", variant="error", id="confirm", compact=True)
                yield Button("Cancel (n)", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#confirm", Button).focus()

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#confirm")
    def _confirm_pressed(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()


def connection_lines(r: ConnectionRecord, now: float, th: Thresholds, *, worker_alive: bool | None = None) -> Content:
    """Every field of one connection; ages from the server's ``now``."""
    age, idle = now - r.connected_at, now - r.last_activity
    classes = []
    if idle > th.stale_seconds:
        classes.append(("STALE", "bold $error"))
    if age >= th.very_old_seconds:
        classes.append(("VERY OLD", "bold $error"))
    elif age >= th.long_lived_seconds:
        classes.append(("LONG-LIVED", "bold $warning"))
    if not classes:
        classes.append(("ACTIVE", "bold $success"))

    def stamp(ts: float) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))

    worker_state = "" if worker_alive is None else ("  (alive)" if worker_alive else "  (DEAD)")
    rows: list[Content] = [
        line(f"{'connection':<14}", (r.connection_id, "bold")),
        line(f"{'state':<14}", *[part for c in classes for part in (c, " ")]),
        line(f"{'client':<14}", (r.client_address or "-", "bold")),
        line(f"{'channel':<14}", (r.channel, "bold")),
        line(f"{'user agent':<14}", (r.user_agent or "-", "")),
        line(f"{'worker':<14}", (r.worker_id, "bold"), (worker_state, "bold $error" if worker_alive is False else "dim")),
        line(f"{'host / pid':<14}", (r.host, ""), " / ", (str(r.pid), "")),
        line(f"{'connected':<14}", stamp(r.connected_at), (f"  ({fmt.age(age)} ago)", "bold")),
        line(f"{'last activity':<14}", stamp(r.last_activity), (f"  ({fmt.age(idle)} idle; stale after {th.stale_seconds:g}s)", "bold")),
        line(f"{'events sent':<14}", (f"{r.events_sent:,}", "bold")),
        line(f"{'bytes sent':<14}", (f"{r.bytes_sent:,} ({fmt.size(r.bytes_sent)})", "bold")),
    ]
    return lines(rows)


class ConnectionDetail(ModalScreen[str | None]):
    """One connection, every field; ``d`` asks to disconnect it (dismisses with "disconnect")."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("q", "close", "Close"),
        Binding("d", "disconnect", "Disconnect"),
    ]

    def __init__(self, record: ConnectionRecord, now: float, thresholds: Thresholds, *, can_disconnect: bool,
                 why_not: str | None = None, worker_alive: bool | None = None) -> None:
        super().__init__()
        self.record = record
        self.now = now
        self.thresholds = thresholds
        self.can_disconnect = can_disconnect
        self.why_not = why_not
        self.worker_alive = worker_alive

    def compose(self) -> ComposeResult:
        with Vertical(id="detail"):
            yield Static(line(("Connection", "bold")), id="dialog-title")
            yield Static(connection_lines(self.record, self.now, self.thresholds, worker_alive=self.worker_alive),
                         id="detail-body")
            if self.can_disconnect:
                hint = line(("d", "bold"), " disconnect (asks first) · ", ("Esc", "bold"), " close")
            else:
                hint = line(("disconnect unavailable: ", "dim"), (self.why_not or "not possible here", "dim"),
                            " · ", ("Esc", "bold"), " close")
            yield Static(hint, id="detail-hint")

    def action_close(self) -> None:
        self.dismiss(None)

    def action_disconnect(self) -> None:
        if not self.can_disconnect:
            self.notify(f"disconnect unavailable: {self.why_not or 'not possible here'}", severity="warning",
                        markup=False)
            return
        self.dismiss("disconnect")


class SeekDialog(ModalScreen[float | None]):
    """Replay: jump to a recorded time (``HH:MM[:SS]`` UTC on the recording's day, or ``-5m`` / ``+30s``)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", priority=True)]

    def __init__(self, first: float, last: float, current: float) -> None:
        super().__init__()
        self.first, self.last, self.current = first, last, current

    def compose(self) -> ComposeResult:
        def fmt_t(t: float) -> str:
            return time.strftime("%H:%M:%S", time.gmtime(t))

        with Vertical(id="dialog"):
            yield Static(line(("Seek the replay", "bold")), id="dialog-title")
            yield Static(line(f"recording {fmt_t(self.first)}–{fmt_t(self.last)} UTC, now at ", (fmt_t(self.current), "bold")))
            yield Static("time (HH:MM[:SS] UTC) or offset (-5m, +30s):")
            yield Input(placeholder="10:31:00", id="seek-input", compact=True)

    def on_mount(self) -> None:
        self.query_one("#seek-input", Input).focus()

    def parse(self, text: str) -> float | None:
        text = text.strip()
        if not text:
            return None
        try:
            if text[0] in "+-":
                unit = {"s": 1, "m": 60, "h": 3600}.get(text[-1], 1)
                number = float(text[1:-1] if text[-1] in "smh" else text[1:])
                return self.current + (1 if text[0] == "+" else -1) * number * unit
            parts = [int(p) for p in text.split(":")]
            while len(parts) < 3:
                parts.append(0)
            h, m, s = parts[:3]
            day = self.first - (self.first % 86400)
            return day + h * 3600 + m * 60 + s
        except ValueError:
            return None

    @on(Input.Submitted, "#seek-input")
    def _submitted(self, event: Input.Submitted) -> None:
        when = self.parse(event.value)
        if when is None:
            self.notify("not a time: use HH:MM[:SS] or -5m / +30s", severity="error", markup=False)
            return
        self.dismiss(when)

    def action_cancel(self) -> None:
        self.dismiss(None)


HELP_ROWS: list[tuple[str, str]] = [
    ("?", "this help · q quit"),
    ("c", "cleanup now (asks first; says why not under --readonly)"),
    ("p / space", "pause / resume rendering (data age keeps ticking)"),
    ("r", "refresh now (also: retry now while the source is down)"),
    ("+ / -", "slower / faster refresh (replay: playback speed)"),
    ("e", "export the current snapshot as JSON (full path shown)"),
    ("1 2 3 4", "overview · workers & connections · channels · configuration"),
    ("/", "search every connection (server-side; Esc clears)"),
    ("s  o  O", "connections: state filter (all/stale/...) · sort · order"),
    ("[  ]", "connections: previous / next page"),
    ("Enter", "connection detail (d disconnects, asks first); DEAD worker: reap"),
    ("k", "workers table: reap the selected DEAD worker (asks first)"),
    (", / .", "replay: step back / forward (pauses)"),
    ("n / N", "replay: next / previous alert · g seek to a time"),
    ("ctrl+p", "command palette (themes, screenshot, actions)"),
]


def help_content() -> Content:
    rows = [line(("sse-dash", "bold"), " — live view of an SSE connection manager's /monitoring data"), line(""),
            line(("Keys", "bold"))]
    rows += [line("  ", (f"{k:<11}", "bold"), d) for k, d in HELP_ROWS]
    rows += [
        line(""),
        line(("Health  ", "bold"), ("✔ HEALTHY", "bold $success"), " no issues · ", ("▲ DEGRADED", "bold $warning"),
             " warnings · ", ("✖ UNHEALTHY", "bold $error"), " critical alerts"),
        line(("? SOURCE DOWN", "bold $error"), " last poll failed: panels are dimmed, aged, not current."),
        line(("? STORE DOWN", "bold $error"), " the service cannot read its store: numbers are ? (unknown)."),
        line(("✖ DEAD", "bold $error"), " worker: heartbeat older than the fleet's TTL or the API says not alive."),
    ]
    return lines(rows)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close"),
        Binding("q", "close", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(help_content())

    def action_close(self) -> None:
        self.dismiss(None)
