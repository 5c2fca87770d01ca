"""Connections: active, Redis counters, mismatch, each with a zero-based sparkline + range;
the workers' states at a glance ("3 workers: 2 alive, 1 LATE (63 conns)")."""

from __future__ import annotations

from collections import deque
from itertools import islice

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content

from core.models import ConnectRate, WorkerInfo
from sse_tui import fmt
from sse_tui.literal import line
from sse_tui.model import WORKER_LABEL, View, worker_counts
from sse_tui.widgets.common import apply_freshness, num, range_label, spark
from sse_tui.widgets.panel import Panel
from sse_tui.widgets.rows import Rows

ROWS = (("active", "Active", "Active"), ("redis", "Redis counters", "Redis"), ("mismatch", "Mismatch", "Mismatch"))
SPARK_POINTS = 120


def tail(samples: deque[float | None], n: int) -> list[float | None]:
    """The last ``n`` samples (the history holds an hour: copy only what is drawn)."""
    return list(islice(samples, max(len(samples) - n, 0), None))


class ConnectionsPanel(Panel, VerticalScroll):
    # no scrollbar (it would narrow the rows it was sized for): rows that do not fit give way instead
    DEFAULT_CSS = """
    ConnectionsPanel { overflow-y: hidden; }
    ConnectionsPanel #conn-body { height: auto; }
    """

    def compose(self) -> ComposeResult:
        yield Rows(id="conn-body")

    def on_resize(self) -> None:  # the banner came or went: the rows that fit changed (once laid out)
        self.call_after_refresh(self._show_again)

    def _show_again(self) -> None:
        if self.view is not None:
            self.show_view(self.view)

    def show_view(self, view: View) -> None:
        apply_freshness(self, view.assessment)
        stats = view.stats
        if stats is None:
            self.query_one("#conn-body", Rows).set_rows([Content("no data yet")])
            return
        cs = stats.connection_stats
        trusted = view.assessment.trusted
        a, r = cs.active_connections, cs.redis_connection_counters
        mismatch = None if a is None or r is None else abs(a - r)
        values = {"active": a, "redis": r, "mismatch": mismatch}
        series = {"active": view.history.active, "redis": view.history.redis, "mismatch": view.history.mismatch}
        inner = self.scrollable_content_region.width or 40
        label_w = 15 if inner >= 56 else 9
        rows: list[Content] = []
        for key, title, short in ROWS:
            value = values[key]
            title = title if label_w == 15 else short
            style = "bold"
            if key == "mismatch" and value is not None and trusted:
                style = "bold $error" if value > 10 else ("bold $warning" if value else "bold")
            shown = num(value) if value is not None else "? unknown"
            head = f"{title:<{label_w}} "
            cells = f"{shown:>6}"
            # the range of past samples; "was" when the current value is unknown (never read as now)
            was = "was " if value is None else ""
            recent = tail(series[key], SPARK_POINTS)
            label = was + range_label(recent)
            width = max(inner - len(head) - len(cells) - len(label) - 3, 4)
            pts = recent[-min(SPARK_POINTS, width):]
            label = was + range_label(pts)
            rows.append(line(head, (cells, style), " ", (spark(pts, width), "$accent"), " ", (label, "dim")))
        if not trusted:
            task = line(("periodic cleanup task: unknown", "dim"))
        elif cs.cleanup_task_running is None:
            task = line(("periodic cleanup task: unknown", "dim"))
        elif cs.cleanup_task_running:
            task = line(("periodic cleanup task running", "$success"))
        else:
            task = line(("periodic cleanup task NOT running", "$error"))
        why: Content | None = None  # the banner says it too: it gives way first when room is short
        if view.snapshot is not None and view.snapshot.store_down:
            st = stats.store_status
            reason = f" ({st.reason})" if st.reason else ""
            why = line(("✖ state store ", "bold $error"), (st.state.replace("_", " ") + reason, "$error"))
        elif view.snapshot is not None and view.snapshot.registry_unsettled:
            state = view.snapshot.registry_state
            why = line((f"? {state}: ", "bold $warning"),
                       ("counts unknown" if state != "empty" else "nothing to count", "$warning"))
        n = len(view.history)
        history = line((f"history: {n} poll{'s' if n != 1 else ''}; bars from zero", "dim"))
        workers = workers_line(stats.workers, view.thresholds.heartbeat_ttl_seconds, trusted, inner)
        storm = any(w.type == "reconnect_storm" for w in stats.health_indicators.warnings)
        rate = connects_line(stats.connect_rate if trusted else None, storm,
                             stats.connect_rate_reason if trusted else None)
        height = self.scrollable_content_region.height
        keep = {"history": True, "rate": True, "why": why is not None, "task": True}  # gives way in this order

        def body() -> list[Content]:
            return [*rows, *([task] if keep["task"] else []), workers, *([rate] if keep["rate"] else []),
                    *([why] if why is not None and keep["why"] else []), *([history] if keep["history"] else [])]

        def fits(lines_: list[Content]) -> bool:
            return height <= 0 or sum(max(1, -(-row.cell_length // max(inner, 1))) for row in lines_) <= height

        for part in keep:
            if fits(body()):
                break
            keep[part] = False
        self.query_one("#conn-body", Rows).set_rows(body())


def connects_line(rate: ConnectRate | None, storm: bool, reason: str | None = None) -> Content:
    """The reconnect-storm meter (core.reconnects): "connects 41.2/s (96% reconnects)"
    ``▲ RECONNECT STORM`` while the warning holds; unknown (never 0) when not measured, with
    the server's reason ("connects/s: unknown (warming up: 3 s of 10 s counted)")."""
    text = fmt.connects(rate, reason)
    if rate is None:
        return line((text, "dim"))
    if storm:
        return line(("▲ RECONNECT STORM ", "bold $warning"), (text, "$warning"))
    return line((text, ""))


WORKER_STYLE = {"dead": "bold $error", "late": "bold $warning", "unknown": "bold", "alive": ""}


def workers_line(workers: list[WorkerInfo] | None, ttl: float, trusted: bool, width: int) -> Content:
    """The workers at a glance: "3 workers: 2 alive, 1 ▲ LATE (63 conns)" (the states that
    need a look first, each with the connections it holds; words, so no colour is needed)."""
    if workers is None:
        return line(("workers: unknown", "dim"))
    if not workers:
        return line(("no workers listed", "bold $warning" if trusted else "dim"))
    counts = worker_counts(workers, ttl)

    def parts(head: str, conns: str) -> Content:
        out: list[tuple[str, str] | str] = [head]
        for i, c in enumerate(counts):
            out.append(", " if i else "")
            if c.state == "alive":
                out.append(f"{c.workers} alive")
            else:
                out += [(f"{c.workers} {WORKER_LABEL[c.state]}", WORKER_STYLE[c.state]), f" ({c.connections}{conns})"]
        return line(*out)

    full = parts(f"{len(workers)} worker{'s' if len(workers) != 1 else ''}: ", " conns")
    return full if full.cell_length <= width else parts("workers: ", "")
