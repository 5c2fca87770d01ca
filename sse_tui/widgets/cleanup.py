"""Cleanup: totals, error rate, efficiency, durations, per-run yield, periodic task."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Button, Static

from sse_tui import fmt
from sse_tui.sources import Snapshot
from sse_tui.widgets.text import set_static


def _rate_style(rate: float) -> str:
    return "$error" if rate > 10 else ("$warning" if rate > 5 else "$success")


class CleanupPanel(VerticalScroll):
    DEFAULT_CSS = """
    CleanupPanel #cleanup-body { height: auto; }
    CleanupPanel Button { margin-top: 0; min-width: 16; height: 1; border: none; }
    """

    def __init__(self, readonly: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.readonly = readonly

    def compose(self) -> ComposeResult:
        yield Static(id="cleanup-body")
        if not self.readonly:
            yield Button("Cleanup now (c)", id="cleanup-button", variant="warning", compact=True)

    def show(self, snapshot: Snapshot) -> None:
        s = snapshot.stats
        c, p, cfg = s.cleanup_stats, s.performance_metrics, s.configuration
        running = s.connection_stats.cleanup_task_running
        if cfg.periodic_cleanup_enabled:
            task = "[$success]running[/]" if running else "[$error]NOT running[/]"
            task += f" ({cfg.cleanup_interval_seconds:g}s)"
        else:
            task = "[dim]disabled[/dim]"
        rows = [
            ("runs / cleaned", f"[b]{c.total_cleanups}[/b] / [b]{c.total_connections_cleaned}[/b]"),
            ("errors / failed", f"[b]{c.cleanup_errors}[/b] / [b]{c.failed_connections}[/b] conns"),
            ("error rate", f"[b {_rate_style(c.error_rate)}]{fmt.pct(c.error_rate)}[/] (conns {fmt.pct(c.connection_failure_rate)})"),
            ("efficiency", f"[b]{fmt.pct(p.cleanup_efficiency_rate)}[/b], {c.connections_per_cleanup:.2f}/run"),
            ("last / avg", f"[b]{fmt.ms(c.last_cleanup_duration_ms)}[/b] / [b]{fmt.ms(p.avg_cleanup_duration_ms)}[/b]"),
            ("periodic task", task),
        ]
        lines = [f"[dim]{label:<16}[/dim]{value}" for label, value in rows]
        set_static(self.query_one("#cleanup-body", Static), "\n".join(lines))
