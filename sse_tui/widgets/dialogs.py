"""Modal screens: cleanup / disconnect / reap confirmations, connection detail, replay seek, help.

Every value shown here that came from the wire (source name, addresses, ids, reasons) is
literal text (:mod:`sse_tui.literal`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from core.models import ConnectionRecord, WorkerInfo
from sse_tui import fmt, keys
from sse_tui.literal import line, lines
from sse_tui.model import WORKER_LABEL, Thresholds, age_classes, counts_age, worker_state


class CleanupDialog(ModalScreen[int | None]):
    """Asks for the batch size; dismisses with it (confirm) or None (cancel)."""

    BINDINGS = [*keys.CONFIRM]

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

    BINDINGS = [*keys.CONFIRM]

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


def _stamp(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


WORKER_STATE_STYLE = {"dead": "bold $error", "late": "bold $warning", "unknown": "bold", "alive": "dim"}


def state_words(classes: frozenset[str]) -> list[tuple[str, str]]:
    """A connection's classes (:func:`sse_tui.model.age_classes`) as the detail says them:
    STALE, then VERY OLD or else LONG-LIVED; ACTIVE when none of those."""
    words = [("STALE", "bold $error")] if "stale" in classes else []
    if "very_old" in classes:
        words.append(("VERY OLD", "bold $error"))
    elif "long_lived" in classes:
        words.append(("LONG-LIVED", "bold $warning"))
    return words or [("ACTIVE", "bold $success")]


def connection_lines(r: ConnectionRecord, now: float, th: Thresholds, *, worker: WorkerInfo | None = None,
                     gone: bool = False) -> Content:
    """Every field of one connection; ages from the server's ``now`` (when this view was
    taken); the events and bytes with when they were counted; its worker's state."""
    age, idle = now - r.connected_at, now - r.last_activity
    classes = state_words(age_classes(r, now, th))
    if gone:  # gone says it instead of ACTIVE
        classes = [("GONE (no longer in the registry; the last fields seen)", "bold $error"),
                   *[c for c in classes if c[0] != "ACTIVE"]]

    worker_note: tuple[str, str] = ("", "")
    if worker is not None:
        state = worker_state(worker, th.heartbeat_ttl_seconds)
        why = f": {worker.state_reason}" if worker.state_reason else ""
        worker_note = (f"  ({WORKER_LABEL[state]}{why})", WORKER_STATE_STYLE[state])
    counted = counts_age(r, now)
    if counted is None:
        counts = line(("unknown", "bold $warning"), (" (the server does not know when they were taken)", "dim"))
    elif counted <= th.current_within:
        counts = line(_stamp(now - counted), (f"  ({fmt.age(counted)} before this view: current)", "dim"))
    else:
        counts = line(_stamp(now - counted), (f"  ({fmt.age(counted)} old: counted then, not now)", "bold $warning"))
    rows: list[Content] = [
        line(f"{'connection':<14}", (r.connection_id, "bold")),
        line(f"{'state':<14}", *[part for c in classes for part in (c, " ")]),
        line(f"{'client':<14}", (r.client_address or "-", "bold")),
        line(f"{'channel':<14}", (r.channel, "bold")),
        line(f"{'user agent':<14}", (r.user_agent or "-", "")),
        line(f"{'worker':<14}", (r.worker_id, "bold"), worker_note),
        line(f"{'host / pid':<14}", (r.host, ""), " / ", (str(r.pid), "")),
        line(f"{'connected':<14}", _stamp(r.connected_at), (f"  ({fmt.age(age)} ago)", "bold")),
        line(f"{'last activity':<14}", _stamp(r.last_activity), (f"  ({fmt.age(idle)} idle; stale after {th.stale_seconds:g}s)", "bold")),
        line(f"{'events sent':<14}", (f"{r.events_sent:,}", "bold")),
        line(f"{'bytes sent':<14}", (f"{r.bytes_sent:,} ({fmt.size(r.bytes_sent)})", "bold")),
        line(f"{'counted at':<14}", counts),
    ]
    return lines(rows)


def as_of_line(now: float, age: float | None, error: str | None = None) -> Content:
    """When this view was taken (server clock) and how long ago; a failed refresh says so."""
    ago = "" if age is None else f" ({fmt.age(age)} ago)"
    parts: list[tuple[str, str] | str] = [("this view: as of ", "dim"), (_stamp(now), "bold"), (ago, "dim"),
                                          (" · refreshed at every poll", "dim")]
    if error:
        parts += [(" · refresh failed: ", "bold $error"), (error, "$error")]
    return line(*parts)


class ConnectionDetail(ModalScreen[str | None]):
    """One connection, every field, refreshed at every poll while open (:meth:`show`, by the
    App: widgets never fetch); ``d`` asks to disconnect it (dismisses with "disconnect")."""

    BINDINGS = [*keys.DETAIL]

    def __init__(self, record: ConnectionRecord, now: float, thresholds: Thresholds, *, can_disconnect: bool,
                 why_not: str | None = None, worker: WorkerInfo | None = None, fetched_at: float | None = None) -> None:
        super().__init__()
        self.record = record
        self.now = now  # the server's clock when this view was taken
        self.thresholds = thresholds
        self.can_disconnect = can_disconnect
        self.why_not = why_not
        self.worker = worker
        self.fetched_at = fetched_at  # the dashboard's clock then (the as-of age ticks from it)
        self.gone = False
        self.error: str | None = None
        self.age: float | None = 0.0 if fetched_at is not None else None

    def compose(self) -> ComposeResult:
        with Vertical(id="detail"):
            yield Static(line(("Connection", "bold")), id="dialog-title")
            yield Static(self._body(), id="detail-body")
            yield Static(as_of_line(self.now, self.age, self.error), id="detail-asof")
            if self.can_disconnect:
                hint = line(("d", "bold"), " disconnect (asks first) · ", ("Esc", "bold"), " close")
            else:
                hint = line(("disconnect unavailable: ", "dim"), (self.why_not or "not possible here", "dim"),
                            " · ", ("Esc", "bold"), " close")
            yield Static(hint, id="detail-hint")

    def _body(self) -> Content:
        return connection_lines(self.record, self.now, self.thresholds, worker=self.worker, gone=self.gone)

    def show(self, record: ConnectionRecord | None, now: float, thresholds: Thresholds, *,
             worker: WorkerInfo | None, fetched_at: float) -> None:
        """A new look at the connection (``None``: it is gone from the registry)."""
        self.gone = record is None
        if record is not None:
            self.record = record
        self.now, self.thresholds, self.worker, self.fetched_at = now, thresholds, worker, fetched_at
        self.error = None
        self.age = 0.0
        self.query_one("#detail-body", Static).update(self._body())
        self.query_one("#detail-asof", Static).update(as_of_line(self.now, self.age))

    def refresh_failed(self, reason: str) -> None:
        self.error = reason
        self.query_one("#detail-asof", Static).update(as_of_line(self.now, self.age, reason))

    def tick(self, dashboard_now: float) -> None:
        """The as-of age moves on the dashboard's clock (whole seconds, repainted on change)."""
        if self.fetched_at is None:
            return
        age = float(int(max(dashboard_now - self.fetched_at, 0.0)))
        if age != self.age:
            self.age = age
            self.query_one("#detail-asof", Static).update(as_of_line(self.now, age, self.error))

    def action_close(self) -> None:
        self.dismiss(None)

    def action_disconnect(self) -> None:
        if not self.can_disconnect:
            self.notify(f"disconnect unavailable: {self.why_not or 'not possible here'}", severity="warning",
                        markup=False)
            return
        if self.gone:
            self.notify("this connection is already gone from the registry", severity="warning", markup=False)
            return
        self.dismiss("disconnect")


class SeekDialog(ModalScreen[float | None]):
    """Replay: jump to a recorded time (``HH:MM[:SS]`` UTC on the recording's day, or ``-5m`` / ``+30s``)."""

    BINDINGS = [*keys.SEEK]

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


HELP_LEGEND: list[Content] = [
    line(("Health  ", "bold"), ("✔ HEALTHY", "bold $success"), " no issues · ", ("▲ DEGRADED", "bold $warning"),
         " warnings · ", ("✖ UNHEALTHY", "bold $error"), " critical alerts"),
    line(("? SOURCE DOWN", "bold $error"), " last poll failed: panels are dimmed, aged, not current."),
    line(("? STORE DOWN", "bold $error"), " the service cannot read its store: numbers are ? (unknown)."),
    line(("✖ DEAD", "bold $error"), " worker: heartbeat older than the fleet's TTL, or its process seen gone; ",
         ("▲ LATE", "bold $warning"), " heartbeat older than two flushes (hung, slow, or dead and not yet sure); ",
         ("? UNKNOWN", "bold"), " its heartbeat cannot tell (the store refuses writes or has just come back)."),
    line(("? REBUILDING", "bold $error"), " the store lost the fleet's data; ", ("? SETTLING", "bold $warning"),
         " it is back after an outage; ", ("? EMPTY", "bold $error"),
         " nothing under the namespace: the registry's numbers are ? until it settles."),
    line(("18 · 4s ago", "bold"), " a connection's events / bytes as counted 4s before the list was taken (not now)."),
]


def help_text(key_display: Callable[[Binding], str], palette_key: str = "ctrl+p") -> str:
    """Help as plain text (what the help screen shows, one line per key; for tests and docs)."""
    out = []
    for section in keys.help_sections(palette_key):
        out.append(section.title)
        out += [f"  {r.keys:<12}{r.text}" for r in keys.help_rows(section, key_display)]
    return "\n".join(out)


class HelpScreen(ModalScreen[None]):
    """Every key, made from the bindings themselves (:mod:`sse_tui.keys`), then the legend.
    Each row is a key column and a text column that wraps within itself."""

    BINDINGS = [*keys.HELP]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(line(("sse-dash", "bold"), " — live view of an SSE connection manager's /monitoring data"))
            for section in keys.help_sections(self.app.COMMAND_PALETTE_BINDING):
                yield Static(line((section.title, "bold")), classes="help-section")
                for row in keys.help_rows(section, self.app.get_key_display):
                    with Horizontal(classes="help-row"):
                        yield Static(line((row.keys, "bold")), classes="help-keys")
                        yield Static(line(row.text), classes="help-text")
            yield Static(lines(HELP_LEGEND), classes="help-section")

    def action_close(self) -> None:
        self.dismiss(None)
