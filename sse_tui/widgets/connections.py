"""Connections: active, Redis counters, mismatch, each with a zero-based sparkline + range."""

from __future__ import annotations

from collections import deque
from itertools import islice

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.reactive import var

from sse_tui.literal import line
from sse_tui.model import View
from sse_tui.widgets.common import apply_freshness, num, range_label, spark
from sse_tui.widgets.rows import Rows

ROWS = (("active", "Active", "Active"), ("redis", "Redis counters", "Redis"), ("mismatch", "Mismatch", "Mismatch"))
SPARK_POINTS = 120


def tail(samples: deque[float | None], n: int) -> list[float | None]:
    """The last ``n`` samples (the history holds an hour: copy only what is drawn)."""
    return list(islice(samples, max(len(samples) - n, 0), None))


class ConnectionsPanel(VerticalScroll):
    DEFAULT_CSS = """
    ConnectionsPanel #conn-body { height: auto; }
    """

    view: var[View | None] = var(None, always_update=True)

    def compose(self) -> ComposeResult:
        yield Rows(id="conn-body")

    def watch_view(self, view: View | None) -> None:
        if view is not None:
            self.show_view(view)

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
        rows.append(task)
        if view.snapshot is not None and view.snapshot.store_down:
            st = stats.store_status
            why = f" ({st.reason})" if st.reason else ""
            rows.append(line(("✖ state store ", "bold $error"), (st.state.replace("_", " ") + why, "$error")))
        n = len(view.history)
        rows.append(line((f"history: {n} poll{'s' if n != 1 else ''}; bars from zero", "dim")))
        self.query_one("#conn-body", Rows).set_rows(rows)
