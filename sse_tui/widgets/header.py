"""The one-line header: state badge, data age, poll cost, interval, PAUSED / READONLY, source.

The badge is the health the service measured only while the data is current; otherwise
it is SOURCE DOWN / STORE DOWN / UNKNOWN and the last health is shown dim, never green.
Each level has its own word and symbol so 16 colours, TERM=screen and NO_COLOR read it.

The App sets the ``status`` reactive to a :class:`HeaderStatus`: what the header shows,
already at the resolution it is shown at (the age as "3s", the poll cost as "7.1 ms"), so
the 1 s tick and every poll repaint the header only when a shown character changes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from textual.content import Content
from textual.reactive import var

from sse_tui import fmt
from sse_tui.literal import line
from sse_tui.model import Assessment, Snapshot
from sse_tui.widgets.rows import Rows

HEALTH_BADGE = {"healthy": "✔ HEALTHY", "degraded": "▲ DEGRADED", "unhealthy": "✖ UNHEALTHY"}
SEP = Content.styled(" │ ", "dim")


@dataclass(frozen=True)
class HeaderStatus:
    """Everything the header shows, as shown (compared field by field to skip repaints)."""

    source: str = ""
    badge: str | None = "UNKNOWN"  # Assessment.badge: SOURCE DOWN / STORE DOWN / UNKNOWN, None when current
    health: str | None = None  # the service's overall health; None before the first snapshot
    recorded_at: float | None = None  # a replay frame's own time
    age: str | None = None  # "updated <age> ago"
    poll: str | None = None  # the poll's cost, as shown
    source_up: bool = True
    interval: float = 1.0
    paused: bool = False
    readonly: bool = False

    @classmethod
    def of(cls, *, source: str, snapshot: Snapshot | None, assessment: Assessment, data_age: float | None,
           interval: float, paused: bool, readonly: bool = False) -> HeaderStatus:
        stats = None if snapshot is None else snapshot.stats
        return cls(
            source=source,
            badge=assessment.badge,
            health=None if stats is None else stats.health_indicators.overall_health,
            recorded_at=None if snapshot is None else snapshot.recorded_at,
            age=fmt.age(data_age),
            poll=None if snapshot is None or snapshot.poll_ms is None else fmt.ms(snapshot.poll_ms),
            source_up=assessment.source_up,
            interval=interval,
            paused=paused,
            readonly=readonly,
        )


def header_line(st: HeaderStatus) -> Content:
    parts: list[Content] = []
    if st.badge is not None:
        parts.append(line((f" ? {st.badge} ", "bold reverse $error")))
    if st.health is None:
        if st.badge is None:
            parts.append(line(("waiting for data…", "$warning")))
    else:
        if st.badge is None:
            parts.append(line((f" {HEALTH_BADGE[st.health]} ", f"bold reverse {fmt.HEALTH_STYLE[st.health]}")))
        else:
            parts.append(line((f"last: {HEALTH_BADGE[st.health]}", "dim")))
        if st.recorded_at is not None:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(st.recorded_at))
            parts.append(line("recorded ", (stamp, "bold"), " UTC"))
        else:
            when = f"updated {st.age} ago"
            if st.poll is not None:
                when += f", poll {st.poll}"
            parts.append(line((when, "$error" if not st.source_up else "")))
    parts.append(line(f"every {st.interval:g}s"))
    if st.paused:
        parts.append(line((" PAUSED ", "bold reverse $warning")))
    if st.readonly:
        parts.append(line((" READONLY ", "bold reverse $accent")))
    parts.append(line((st.source, "")))
    return SEP.join(parts)


class HeaderBar(Rows):
    DEFAULT_CSS = "HeaderBar { height: 1; }"

    status: var[HeaderStatus] = var(HeaderStatus())

    def watch_status(self, status: HeaderStatus) -> None:
        self.set_rows([header_line(status)], layout=False)
