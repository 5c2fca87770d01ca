"""Connections: active, Redis counters, mismatch, each with a sparkline of recent polls."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Sparkline, Static

from sse_tui.sources import Snapshot
from sse_tui.state import History
from sse_tui.widgets.text import set_static

ROWS = (("active", "Active"), ("redis", "Redis counters"), ("mismatch", "Mismatch"))
SPARK_POINTS = 120


class ConnectionsPanel(VerticalScroll):
    DEFAULT_CSS = """
    ConnectionsPanel .row { height: 1; }
    ConnectionsPanel .label { width: 24; }
    ConnectionsPanel Sparkline { height: 1; width: 1fr; }
    ConnectionsPanel #conn-note { height: auto; color: $text-muted; }
    """

    def compose(self) -> ComposeResult:
        for key, _ in ROWS:
            with Horizontal(classes="row"):
                yield Static(id=f"conn-{key}-label", classes="label")
                yield Sparkline([], id=f"conn-{key}-spark", summary_function=max)
        yield Static(id="conn-note")

    def show(self, snapshot: Snapshot, history: History) -> None:
        cs = snapshot.stats.connection_stats
        mismatch = abs(cs.active_connections - cs.redis_connection_counters)
        values = {"active": cs.active_connections, "redis": cs.redis_connection_counters, "mismatch": mismatch}
        series = {"active": history.active, "redis": history.redis, "mismatch": history.mismatch}
        for key, title in ROWS:
            value = values[key]
            style = ""
            if key == "mismatch":
                style = "$error" if mismatch > 10 else ("$warning" if mismatch else "$success")
            shown = f"[b {style}]{value:>6}[/]" if style else f"[b]{value:>6}[/b]"
            set_static(self.query_one(f"#conn-{key}-label", Static), f"{title:<15} {shown}", layout=False)
            self.query_one(f"#conn-{key}-spark", Sparkline).data = list(series[key])[-SPARK_POINTS:]
        notes = []
        if not cs.cleanup_task_running:
            notes.append("[$error]periodic cleanup task NOT running[/]")
        else:
            notes.append("[$success]periodic cleanup task running[/]")
        if not cs.store_available:
            notes.append("[$error]state store unavailable[/]")
        n = len(history.active)
        notes.append(f"[dim]history: last {n} poll{'s' if n != 1 else ''}[/dim]")
        set_static(self.query_one("#conn-note", Static), "\n".join(notes))
