"""The one-line header: state badge, data age, poll cost, interval, PAUSED / READONLY, source.

The badge is the health the service measured only while the data is current; otherwise
it is SOURCE DOWN / STORE DOWN / UNKNOWN and the last health is shown dim, never green.
Each level has its own word and symbol so 16 colours, TERM=screen and NO_COLOR read it.
"""

from __future__ import annotations

import time

from textual.content import Content
from textual.widgets import Static

from sse_tui import fmt
from sse_tui.literal import line
from sse_tui.model import Assessment, Snapshot
from sse_tui.widgets.common import set_content

HEALTH_BADGE = {"healthy": "✔ HEALTHY", "degraded": "▲ DEGRADED", "unhealthy": "✖ UNHEALTHY"}
SEP = Content.styled(" │ ", "dim")


class HeaderBar(Static):
    DEFAULT_CSS = "HeaderBar { height: 1; }"

    def show(
        self,
        *,
        source: str,
        snapshot: Snapshot | None,
        assessment: Assessment,
        data_age: float | None,
        interval: float,
        paused: bool,
        readonly: bool = False,
    ) -> None:
        parts: list[Content] = []
        if assessment.badge is not None:
            parts.append(line((f" ? {assessment.badge} ", "bold reverse $error")))
        if snapshot is None:
            if assessment.badge is None:
                parts.append(line(("waiting for data…", "$warning")))
        else:
            health = snapshot.stats.health_indicators.overall_health
            if assessment.badge is None:
                parts.append(line((f" {HEALTH_BADGE[health]} ", f"bold reverse {fmt.HEALTH_STYLE[health]}")))
            else:
                parts.append(line((f"last: {HEALTH_BADGE[health]}", "dim")))
            if snapshot.recorded_at is not None:
                stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(snapshot.recorded_at))
                parts.append(line("recorded ", (stamp, "bold"), " UTC"))
            else:
                when = f"updated {fmt.age(data_age)} ago"
                if snapshot.poll_ms is not None:
                    when += f", poll {fmt.ms(snapshot.poll_ms)}"
                parts.append(line((when, "$error" if not assessment.source_up else "")))
        parts.append(line(f"every {interval:g}s"))
        if paused:
            parts.append(line((" PAUSED ", "bold reverse $warning")))
        if readonly:
            parts.append(line((" READONLY ", "bold reverse $accent")))
        parts.append(line((source, "")))
        set_content(self, SEP.join(parts), layout=False)
