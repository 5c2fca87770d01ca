"""Events: alerts and warnings (when each started, whether still on) beside the fleet's
own events (cleanups, reaps, disconnects), all at the data's own time."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.reactive import var

from sse_tui import fmt
from sse_tui.literal import line
from sse_tui.model import AlertEvent, View
from sse_tui.widgets.common import apply_freshness
from sse_tui.widgets.rows import Rows

SEVERITY_STYLE = fmt.SEVERITY_STYLE
FLEET_LABEL = {"cleanup": "CLEAN", "reap": "REAP ", "disconnect": "DISC ", "store": "STORE"}


def clock_label(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ts))


def event_lines(events: list[AlertEvent], now: float) -> list[Content]:
    ongoing = [e for e in events if e.ongoing]
    rest = [e for e in events if not e.ongoing]
    ongoing.sort(key=lambda e: (e.kind != "alert", e.started_at))
    rest.sort(key=lambda e: e.ended_at or e.started_at, reverse=True)
    out: list[Content] = []
    for e in ongoing + rest:
        style = SEVERITY_STYLE.get(e.severity, "")
        if e.is_fleet_event:
            label = FLEET_LABEL.get(e.kind, e.kind.upper()[:5])
            out.append(line(("◆ " + label, f"bold {style}"), (f" {clock_label(e.started_at)} ({fmt.age(now - e.started_at)} ago)", "dim")))
            out.append(line("  ", (e.message, "")))
        elif e.ongoing:
            badge = "ALERT" if e.kind == "alert" else "WARN "
            since = f" since {clock_label(e.started_at)} ({fmt.age(now - e.started_at)}) ON"
            out.append(line((f"● {badge}", f"bold {style}"), (since, "dim")))
            out.append(line("  ", (e.message, style)))
        else:
            badge = "ALERT" if e.kind == "alert" else "WARN "
            span = f"○ {badge} {clock_label(e.started_at)}–{clock_label(e.ended_at or now)} ended"
            out.append(line((span, "dim")))
            out.append(line("  ", (e.message, "dim")))
    return out


class AlertsPanel(VerticalScroll):
    DEFAULT_CSS = "AlertsPanel #alerts-body { height: auto; }"

    view: var[View | None] = var(None, always_update=True)

    def compose(self) -> ComposeResult:
        yield Rows(id="alerts-body")

    def watch_view(self, view: View | None) -> None:
        if view is not None:
            self.show_view(view)

    def show_view(self, view: View) -> None:
        apply_freshness(self, view.assessment)
        body: list[Content] = []
        if view.assessment.source_up and not view.assessment.store_up:
            body.append(line(("? store down: rules that need the store cannot be judged; shown: what the service "
                              "could evaluate", "bold $warning")))
        elif not view.assessment.trusted:
            why = view.assessment.badge or "UNKNOWN"
            age = "" if view.assessment.age is None else f" as of {fmt.age(view.assessment.age)} ago"
            body.append(line((f"? alerts unknown now ({why}); last known{age}:", "bold $warning")))
        events = list(view.events)
        if not events:
            if view.assessment.trusted:
                body.append(line(("✓ no alerts or warnings", "$success")))
            else:
                body.append(line(("  (none seen)", "dim")))
        body.extend(event_lines(events, view.now))
        self.query_one("#alerts-body", Rows).set_rows(body)
