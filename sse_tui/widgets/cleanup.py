"""Cleanup: totals, error rate, efficiency, durations, per-run yield, periodic task."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Button

from sse_tui import fmt
from sse_tui.literal import line
from sse_tui.model import View
from sse_tui.widgets.common import apply_freshness, num
from sse_tui.widgets.panel import Panel
from sse_tui.widgets.rows import Rows


def _rate_style(rate: float | None) -> str:
    if rate is None:
        return "bold"
    return "bold $error" if rate > 10 else ("bold $warning" if rate > 5 else "bold $success")


def _pct(v: float | None) -> str:
    return "?" if v is None else fmt.pct(v)


def _ms(v: float | None) -> str:
    return "?" if v is None else fmt.ms(v)


class CleanupPanel(Panel, VerticalScroll):
    DEFAULT_CSS = """
    CleanupPanel #cleanup-body { height: auto; }
    CleanupPanel Button { margin-top: 0; min-width: 16; height: 1; border: none; }
    """

    def __init__(self, readonly: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.readonly = readonly

    def compose(self) -> ComposeResult:
        yield Rows(id="cleanup-body")
        if not self.readonly:
            yield Button("Cleanup now (c)", id="cleanup-button", variant="warning", compact=True)

    def show_view(self, view: View) -> None:
        apply_freshness(self, view.assessment)
        s = view.stats
        if s is None:
            return
        c, p, cfg = s.cleanup_stats, s.performance_metrics, s.configuration
        running = s.connection_stats.cleanup_task_running
        trusted = view.assessment.trusted
        rate_style = _rate_style(c.error_rate) if trusted else "bold"
        if not cfg.periodic_cleanup_enabled:
            task = line(("disabled", "dim"))
        elif not trusted or running is None:
            task = line(("unknown", "dim"), f" ({cfg.cleanup_interval_seconds:g}s)")
        elif running:
            task = line(("running", "$success"), f" ({cfg.cleanup_interval_seconds:g}s)")
        else:
            task = line(("NOT running", "$error"), f" ({cfg.cleanup_interval_seconds:g}s)")
        per_run = "?" if c.connections_per_cleanup is None else f"{c.connections_per_cleanup:.2f}"
        rows = [
            ("runs / cleaned", line((num(c.total_cleanups), "bold"), " / ", (num(c.total_connections_cleaned), "bold"))),
            ("errors / failed", line((num(c.cleanup_errors), "bold"), " / ", (num(c.failed_connections), "bold"), " conns")),
            ("error rate", line((_pct(c.error_rate), rate_style), f" (conns {_pct(c.connection_failure_rate)})")),
            ("efficiency", line((_pct(p.cleanup_efficiency_rate), "bold"), f", {per_run}/run")),
            ("last / avg", line((_ms(c.last_cleanup_duration_ms), "bold"), " / ", (_ms(p.avg_cleanup_duration_ms), "bold"))),
            ("periodic task", task),
        ]
        self.query_one("#cleanup-body", Rows).set_rows([line((f"{label:<16}", "dim"), value) for label, value in rows])
