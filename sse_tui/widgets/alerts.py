"""Alerts and warnings: severity-coloured, when each started, whether it is still on."""

from __future__ import annotations

import time

from textual.containers import VerticalScroll
from textual.app import ComposeResult
from textual.markup import escape
from textual.widgets import Static

from sse_tui import fmt
from sse_tui.state import AlertEvent
from sse_tui.widgets.text import set_static


def clock_label(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ts))


class AlertsPanel(VerticalScroll):
    DEFAULT_CSS = "AlertsPanel #alerts-body { height: auto; }"

    def compose(self) -> ComposeResult:
        yield Static(id="alerts-body")

    def show(self, events: list[AlertEvent], now: float) -> None:
        if not events:
            set_static(self.query_one("#alerts-body", Static), "[$success]✓ no alerts or warnings[/]")
            return
        ongoing = [e for e in events if e.ongoing]
        done = [e for e in events if not e.ongoing]
        ongoing.sort(key=lambda e: (e.kind != "alert", e.started_at))
        done.sort(key=lambda e: e.ended_at or 0, reverse=True)
        lines = []
        for e in ongoing + done:
            style = fmt.SEVERITY_STYLE.get(e.severity, "")
            badge = "ALERT" if e.kind == "alert" else "WARN "
            since = f"since {clock_label(e.started_at)} ({fmt.age(now - e.started_at)})"
            if e.ongoing:
                head = f"[b {style}]● {badge}[/] [dim]{since} ON[/dim]"
                lines.append(f"{head}\n  [{style}]{escape(e.message)}[/]")
            else:
                head = f"[dim]○ {badge} {clock_label(e.started_at)}–{clock_label(e.ended_at or now)} ended[/dim]"
                lines.append(f"{head}\n  [dim]{escape(e.message)}[/dim]")
        set_static(self.query_one("#alerts-body", Static), "\n".join(lines))
