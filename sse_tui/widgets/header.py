"""The one-line header: state badge, data age, poll cost, interval, PAUSED / READONLY, source.

The badge is the health the service measured only while the data is current; otherwise
it is SOURCE DOWN / STORE DOWN (STORE REFUSES WRITES, STORE ERROR) / UNKNOWN and the last
health is shown dim, never green. While the registry's numbers are unknown but the service
answers now (REBUILDING, SETTLING, EMPTY: ``Assessment.verdict_current``), its verdict is
shown beside the badge as current (it is never healthy then). Each level has its own word
and symbol so 16 colours, TERM=screen and NO_COLOR read it.

The App sets the ``status`` reactive to a :class:`HeaderStatus`: what the header shows,
already at the resolution it is shown at (the age as "3s", the poll cost as "7.1 ms"), so
the 1 s tick and every poll repaint the header only when a shown character changes.

When the line is wider than the terminal (80 columns), parts give way in a fixed order
(:data:`SHRINK_ORDER`): the source name is cut, then the replay's file name, the poll cost,
the interval, the last health and the date go. The state badges (SOURCE DOWN, STORE DOWN...,
REBUILDING, SETTLING, EMPTY, UNKNOWN, PAUSED, READONLY, the replay's frame ``[n/N]``) and the
current health never do.
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
BADGE_STYLE = {"SETTLING": "$warning"}  # every other state badge: $error
SEP = Content.styled(" │ ", "dim")


@dataclass(frozen=True)
class HeaderStatus:
    """Everything the header shows, as shown (compared field by field to skip repaints)."""

    source: str = ""
    badge: str | None = "UNKNOWN"  # Assessment.badge (SOURCE DOWN, STORE DOWN, REBUILDING...), None when current
    health: str | None = None  # the service's overall health; None before the first snapshot
    verdict_current: bool = False  # with a badge: the health is the service's word for now (not "last:")
    recorded_at: float | None = None  # a replay frame's own time
    age: str | None = None  # "updated <age> ago"
    poll: str | None = None  # the poll's cost, as shown
    source_up: bool = True
    interval: float = 1.0
    paused: bool = False
    readonly: bool = False
    replay: tuple[str, str] | None = None  # a replay's (file name, "[n/N]"): shown instead of the source

    @classmethod
    def of(cls, *, source: str, snapshot: Snapshot | None, assessment: Assessment, data_age: float | None,
           interval: float, paused: bool, readonly: bool = False,
           replay: tuple[str, str] | None = None, latest: bool = True) -> HeaderStatus:
        """``latest``: ``snapshot`` is the newest one (not a frame frozen by pause); only then
        can its verdict be shown as current beside a badge the newest data earned."""
        stats = None if snapshot is None else snapshot.stats
        return cls(
            source=source,
            badge=assessment.badge,
            health=None if stats is None else stats.health_indicators.overall_health,
            verdict_current=assessment.verdict_current and latest,
            recorded_at=None if snapshot is None else snapshot.recorded_at,
            age=fmt.age(data_age),
            poll=None if snapshot is None or snapshot.poll_ms is None else fmt.ms(snapshot.poll_ms),
            source_up=assessment.source_up,
            interval=interval,
            paused=paused,
            readonly=readonly,
            replay=replay,
        )


# Which part gives way next when the line does not fit (each entry: one step shorter; a
# part's last step removes it). Parts not named here are state badges: never cut.
SHRINK_ORDER = ("source", "replay", "when", "interval", "last", "when", "when")
MIN_SOURCE = 12  # a source name cut shorter than this says nothing: it goes instead


def _parts(st: HeaderStatus) -> dict[str, list[Content]]:
    """Each part's forms, longest first; an empty Content is the part left out."""
    gone = Content("")
    parts: dict[str, list[Content]] = {}
    if st.badge is not None:
        parts["badge"] = [line((f" ? {st.badge} ", f"bold reverse {BADGE_STYLE.get(st.badge, '$error')}"))]
    if st.health is None:
        if st.badge is None:
            parts["health"] = [line(("waiting for data…", "$warning"))]
    elif st.badge is None or (st.verdict_current and st.health != "healthy"):  # green only for current numbers
        parts["health"] = [line((f" {HEALTH_BADGE[st.health]} ", f"bold reverse {fmt.HEALTH_STYLE[st.health]}"))]
    else:
        parts["last"] = [line((f"last: {HEALTH_BADGE[st.health]}", "dim")), gone]
    if st.health is not None:
        if st.recorded_at is not None:
            day = time.strftime("%Y-%m-%d", time.gmtime(st.recorded_at))
            clock = time.strftime("%H:%M:%S", time.gmtime(st.recorded_at))
            parts["when"] = [line("recorded ", (f"{day} {clock}", "bold"), " UTC"),
                             line("recorded ", (clock, "bold"), " UTC"), line((clock, "bold"), " UTC"), gone]
        else:
            style = "$error" if not st.source_up else ""
            when = f"updated {st.age} ago"
            parts["when"] = [line((f"{when}, poll {st.poll}" if st.poll is not None else when, style)),
                             line((when, style)), line((f"{st.age} ago", style)), gone]
    parts["interval"] = [line(f"every {st.interval:g}s"), gone]
    if st.paused:
        parts["paused"] = [line((" PAUSED ", "bold reverse $warning"))]
    if st.readonly:
        parts["readonly"] = [line((" READONLY ", "bold reverse $accent"))]
    if st.replay is not None:
        name, frame = st.replay
        parts["replay"] = [line((f" replay {name} {frame} ", "bold reverse $primary")),
                           line((f" replay … {frame} ", "bold reverse $primary"))]
    else:
        parts["source"] = [line((st.source, "")), gone]
    return parts


def _joined(chosen: list[Content]) -> Content:
    # line(), not SEP.join: Content.join adds the separator's cached cell length once too many
    # (Textual 8.2), and the width is what this module measures
    kept = [c for c in chosen if c.plain]
    return line(*(part for i, c in enumerate(kept) for part in ((SEP, c) if i else (c,))))


def header_line(st: HeaderStatus, width: int | None = None) -> Content:
    """The header; with ``width``, fitted to it by :data:`SHRINK_ORDER` (badges never go)."""
    parts = _parts(st)
    level = dict.fromkeys(parts, 0)

    def chosen() -> list[Content]:
        return [forms[level[name]] for name, forms in parts.items()]

    line_ = _joined(chosen())
    if width is None:
        return line_
    for name in SHRINK_ORDER:
        if line_.cell_length <= width:
            break
        if name not in parts or level[name] >= len(parts[name]) - 1:
            continue
        if name == "source":
            full = parts["source"][0]
            level["source"] = 1
            room = width - _joined(chosen()).cell_length - len(SEP.plain)
            if room >= MIN_SOURCE:
                parts["source"] = [full.truncate(room, ellipsis=True), parts["source"][1]]
                level["source"] = 0
        else:
            level[name] += 1
        line_ = _joined(chosen())
    return line_ if line_.cell_length <= width else line_.truncate(width, ellipsis=True)  # narrower than 80


class HeaderBar(Rows):
    DEFAULT_CSS = "HeaderBar { height: 1; }"

    status: var[HeaderStatus] = var(HeaderStatus())

    def watch_status(self, status: HeaderStatus) -> None:
        self._show(status)

    def on_resize(self) -> None:
        self._show(self.status)

    def _show(self, status: HeaderStatus) -> None:
        self.set_rows([header_line(status, self.content_size.width or None)], layout=False)
