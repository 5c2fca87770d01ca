"""The one-line header: source, health badge, data age, poll cost, interval, PAUSED."""

from __future__ import annotations

from textual.markup import escape
from textual.widgets import Static

from sse_tui import fmt
from sse_tui.sources import Snapshot
from sse_tui.widgets.text import set_static


class HeaderBar(Static):
    DEFAULT_CSS = "HeaderBar { height: 1; }"

    def show(
        self,
        *,
        source: str,
        snapshot: Snapshot | None,
        data_age: float | None,
        interval: float,
        paused: bool,
        error: bool,
    ) -> None:
        parts: list[str] = []
        if snapshot is None:
            parts.append("[$warning]waiting for data…[/]")
        else:
            health = snapshot.stats.health_indicators.overall_health
            style = fmt.HEALTH_STYLE[health]
            parts.append(f"[b reverse {style}] {health.upper()} [/]")
            if snapshot.recorded_at is not None:
                parts.append(f"recorded {escape(snapshot.stats.timestamp)}")
            else:
                when = f"updated {fmt.age(data_age)} ago"
                if snapshot.poll_ms is not None:
                    when += f", poll {fmt.ms(snapshot.poll_ms)}"
                parts.append(f"[$error]{when}[/]" if error else when)
        parts.append(f"every {interval:g}s")
        if paused:
            parts.append("[b reverse $warning] PAUSED [/]")
        parts.append(escape(source))
        set_static(self, " [dim]│[/dim] ".join(parts), layout=False)
