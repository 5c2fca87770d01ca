"""One connection, every field: its classes (core.classify through sse_tui.model.age_classes),
when its counts were taken, its worker's state; refreshed by the App at every poll."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from core.models import ConnectionRecord, WorkerInfo
from sse_tui import fmt, keys
from sse_tui.literal import line, lines
from sse_tui.model import WORKER_LABEL, Thresholds, age_classes, counts_age, queue_age, worker_state

__all__ = ["WORKER_STATE_STYLE", "ConnectionDetail", "as_of_line", "connection_lines", "queue_lines", "state_words"]


def stamp(ts: float) -> str:
    """A time as the detail prints it (UTC, to the second)."""
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


def _label(name: str) -> str:
    return f"{name:<14}"


# why a stream's queue is unknown (core.queues.annotate): its worker published no view lately,
# or its socket was not in the kernel's table (not Linux, a proxy that rewrites the client address)
QUEUE_UNKNOWN = "(not Linux, behind a proxy, or not read lately)"


def queue_lines(r: ConnectionRecord, now: float, th: Thresholds) -> list[Content]:
    """The kernel's send queue for the stream (issue 27, core.queues): the bytes waiting and
    their growth since the read before, whether the client reads (flagged NOT READING, and
    since when), and when the queue was read. Unknown says unknown, never 0; a read older
    than ``th.queue_current_within`` (the server's own not-reading time) before this view
    says it is old. A server that does not publish that time leaves the read's age shown
    but unjudged (``7s ago: current? unknown``; the Configuration tab's "not reading after"
    says ``? (not published)``), never judged by a default that may not be in force there
    (:attr:`sse_tui.model.Thresholds.queue_current_within`). Always three lines (the
    dialog keeps its height from one refresh to the next)."""
    if r.queued_bytes is None:
        return [line(_label("send queue"), ("? unknown", "bold"), ("  " + QUEUE_UNKNOWN, "dim")),
                line(_label("client reads"), ("? unknown", "bold"), ("  (judged from the send queue)", "dim")),
                line(_label("queue read at"), ("-", ""))]
    growth: tuple[str, str]
    if r.queue_growth_bytes is None:
        growth = ("  (growth since the read before: ?)", "dim")
    elif r.queue_growth_bytes:
        sign = "+" if r.queue_growth_bytes > 0 else "-"
        growth = (f"  {sign}{fmt.size(abs(r.queue_growth_bytes))} since the read before", "")
    else:
        growth = ("  (nothing waiting for the client)", "dim") if not r.queued_bytes else \
            ("  +0 B since the read before", "dim")
    size = f"{r.queued_bytes:,} B ({fmt.size(r.queued_bytes)})" if r.queued_bytes >= 1024 else f"{r.queued_bytes:,} B"
    queued = line(_label("send queue"), (size, "bold"), growth)

    behind = r.not_reading_seconds
    since = "?" if r.queue_at is None or behind is None else stamp(r.queue_at - behind)
    for_ = "?" if behind is None else fmt.age(behind)
    if r.not_reading is None:
        reads = line(_label("client reads"), ("? unknown", "bold"), ("  (the server did not judge it)", "dim"))
    elif r.not_reading:
        reads = line(_label("client reads"), ("✖ NOT READING", "bold $error"), (f" for {for_}", "bold"),
                     (f"  (since {since})", "dim"))
    elif behind is not None:
        reads = line(_label("client reads"), ("▲ not reading", "bold $warning"), (f" for {for_}", "bold"),
                     (f"  (since {since}; not flagged yet)", "dim"))
    else:
        reads = line(_label("client reads"), ("yes", "bold"), ("  (it takes what it is sent)", "dim"))

    age = queue_age(r, now)
    within = th.queue_current_within
    if r.queue_at is None or age is None:
        read_at = line(_label("queue read at"), ("unknown", "bold $warning"),
                       (" (the server does not say when it was read)", "dim"))
    elif within is None:  # short: the line fits the dialog at 80 columns (the Configuration tab says why)
        read_at = line(_label("queue read at"), stamp(r.queue_at), (f"  ({fmt.age(age)} ago: ", "dim"),
                       ("current? unknown", "bold $warning"), (")", "dim"))
    elif age <= within:
        read_at = line(_label("queue read at"), stamp(r.queue_at), (f"  ({fmt.age(age)} before this view: current)", "dim"))
    else:
        read_at = line(_label("queue read at"), stamp(r.queue_at),
                       (f"  ({fmt.age(age)} old: read then, not now)", "bold $warning"))
    return [queued, reads, read_at]


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
        counts = line(stamp(now - counted), (f"  ({fmt.age(counted)} before this view: current)", "dim"))
    else:
        counts = line(stamp(now - counted), (f"  ({fmt.age(counted)} old: counted then, not now)", "bold $warning"))
    # unknown is not zero: a worker that does not count events says so, and why
    events = [("? not counted", "bold"), (f"  ({r.events_sent_reason})", "dim")] if r.events_sent is None \
        else [(f"{r.events_sent:,}", "bold")]
    rows: list[Content] = [
        line(f"{'connection':<14}", (r.connection_id, "bold")),
        line(f"{'state':<14}", *[part for c in classes for part in (c, " ")]),
        line(f"{'client':<14}", (r.client_address or "-", "bold")),
        line(f"{'channel':<14}", (r.channel, "bold")),
        line(f"{'user agent':<14}", (r.user_agent or "-", "")),
        line(f"{'worker':<14}", (r.worker_id, "bold"), worker_note),
        line(f"{'host / pid':<14}", (r.host, ""), " / ", (str(r.pid), "")),
        line(f"{'connected':<14}", stamp(r.connected_at), (f"  ({fmt.age(age)} ago)", "bold")),
        line(f"{'last activity':<14}", stamp(r.last_activity), (f"  ({fmt.age(idle)} idle; stale after {th.stale_seconds:g}s)", "bold")),
        line(f"{'events sent':<14}", *events),
        line(f"{'bytes sent':<14}", (f"{r.bytes_sent:,} ({fmt.size(r.bytes_sent)})", "bold")),
        line(f"{'counted at':<14}", counts),
        *queue_lines(r, now, th),
    ]
    return lines(rows)


def as_of_line(now: float, age: float | None, error: str | None = None) -> Content:
    """When this view was taken (server clock) and how long ago; a failed refresh says so."""
    ago = "" if age is None else f" ({fmt.age(age)} ago)"
    parts: list[tuple[str, str] | str] = [("this view: as of ", "dim"), (stamp(now), "bold"), (ago, "dim"),
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
