"""Events: alerts and warnings (when each started, whether still on) beside the fleet's
own events, all at the data's own time: notable ones (deaths, reaps, disconnects, outages,
operator cleanups) as ◆ rows with their cause, routine cleanups as one ◇ row per group."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content

from sse_tui import fmt
from sse_tui.literal import line
from sse_tui.model import AlertEvent, View
from sse_tui.widgets.common import apply_freshness
from sse_tui.widgets.panel import Panel
from sse_tui.widgets.rows import Rows

SEVERITY_STYLE = fmt.SEVERITY_STYLE
# a fleet event's word (core.models.EVENT_TYPES); notable ones are ◆, routine cleanups ◇
FLEET_LABEL = {"cleanup": "CLEAN", "operator": "CLEANUP", "reap": "REAP", "disconnect": "DISCONNECT", "store": "STORE",
               "death": "DIED", "outage": "OUTAGE", "rebuild": "REBUILD"}


def clock_label(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ts))


def fleet_sentence(e: AlertEvent) -> str:
    """What a fleet event's row says: grouped routine cleanups as one ("12 cleanups removed
    34"), a death as "worker X died: 63 streams cut", anything else the server's message."""
    if e.kind == "cleanup" and e.runs > 1:
        return f"{e.runs} cleanups removed {e.count}"
    if e.kind == "death":
        if e.blast is not None:
            return f"worker {e.worker_id or '?'} died: {e.blast.summary}"
        return f"worker {e.worker_id or '?'} died: {e.count} stream{'s' if e.count != 1 else ''} cut"
    return e.message


NOT_BACK_LINES = 5  # clients not back named beneath an event (the rest counted)


def blast_lines(e: AlertEvent) -> list[Content]:
    """Who an event cut and did not come back (core.blast), beneath its row."""
    b = e.blast
    if b is None:
        return []
    out: list[Content] = []
    if e.kind != "death":  # a death's sentence carries the figures already
        out.append(line("  ", (b.summary, "")))
    for c in b.not_back_clients[:NOT_BACK_LINES]:
        out.append(line("    ", ("not back: ", "dim"), (c.user_agent or "(no user agent)", ""),
                        (f" · {c.channel} · age {fmt.age(c.age_seconds)} · {c.client}", "dim")))
    more = b.not_back - min(len(b.not_back_clients), NOT_BACK_LINES)
    if more > 0:
        out.append(line("    ", (f"+{more} more not back", "dim")))
    return out


def _span(e: AlertEvent, fmt_: str) -> str:
    start, end = e.started_at, e.ended_at if e.ended_at is not None else e.started_at
    first = time.strftime(fmt_, time.gmtime(start))
    last = time.strftime(fmt_, time.gmtime(end))
    return first if last == first else f"{first}–{last}"


def event_lines(events: list[AlertEvent], now: float) -> list[Content]:
    ongoing = [e for e in events if e.ongoing]
    rest = [e for e in events if not e.ongoing]
    ongoing.sort(key=lambda e: (e.kind != "alert", e.started_at))
    rest.sort(key=lambda e: e.ended_at or e.started_at, reverse=True)
    out: list[Content] = []
    for e in ongoing + rest:
        style = SEVERITY_STYLE.get(e.severity, "")
        if e.is_fleet_event and not e.notable:  # routine: one row (a group of runs is one row)
            out.append(line(("◇ ", "dim"), (fleet_sentence(e), ""), (f" · {_span(e, '%H:%M')}", "dim")))
        elif e.is_fleet_event:
            label = FLEET_LABEL.get(e.kind, e.kind.upper())
            ago = fmt.age(now - (e.ended_at if e.ended_at is not None else e.started_at))
            out.append(line(("◆ " + label, f"bold {style}"), (f" {_span(e, '%H:%M:%S')} ({ago} ago)", "dim")))
            sentence = fleet_sentence(e)
            out.append(line("  ", (sentence, style if e.severity == "high" else "")))
            if sentence != e.message:  # the server's own words (the cause) beneath
                out.append(line("  ", (e.message, "dim")))
            out.extend(blast_lines(e))
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


class AlertsPanel(Panel, VerticalScroll):
    DEFAULT_CSS = "AlertsPanel #alerts-body { height: auto; }"

    def compose(self) -> ComposeResult:
        yield Rows(id="alerts-body")

    def show_view(self, view: View) -> None:
        apply_freshness(self, view.assessment)
        body: list[Content] = []
        if view.assessment.numbers_unknown:
            if not view.assessment.store_up:
                what = "store down: rules that need the store"
            else:
                what = {"rebuilding": "registry rebuilding", "settling": "registry settling",
                        "empty": "nothing under this namespace"}.get(view.assessment.registry, "numbers unknown")
                what += ": rules that need the registry's numbers"
            body.append(line((f"? {what} cannot be judged; shown: what the service could evaluate", "bold $warning")))
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
