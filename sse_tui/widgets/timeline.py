"""The history charts' time axis, pure: where each bucket, gap, alert span and fleet event
of a :class:`core.models.HistorySeries` falls on the plot's columns. No plotting and no
widget here (tests/tui/test_timeline.py); :mod:`sse_tui.widgets.history` draws with it.

The axis runs from the series' first bucket to its ``end``, which is *now* (the last
bucket holds ``end`` and reaches past it: the axis does not). Each bucket's coverage
(``ok``, ``unknown``, ``none``) decides how its columns are drawn: values, a hatched band
(unknown: an outage, the fleet down; never zero), or blank ("no data yet"). A trailing
bucket whose sample is not yet due is ``pending`` (blank, no label).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from core.models import AlertSpan, FleetEvent, HistorySeries

OK, UNKNOWN, NONE, PENDING = "ok", "unknown", "none", "pending"
STORE_ALERT = "state_store_unavailable"  # the alert span a store outage leaves in the history


@dataclass(frozen=True, slots=True)
class Axis:
    """``width`` columns from ``start`` to ``end`` (seconds); column ``c`` holds the times
    ``[start + c*dt, start + (c+1)*dt)``, and ``end`` itself is in the last column."""

    start: float
    end: float
    width: int

    @property
    def dt(self) -> float:
        return (self.end - self.start) / self.width if self.width > 0 else 0.0

    def column(self, t: float) -> int | None:
        """The column holding ``t``; None outside ``[start, end]``."""
        if self.width <= 0 or self.end <= self.start or t < self.start or t > self.end:
            return None
        return min(int((t - self.start) / self.dt), self.width - 1)

    def columns(self, a: float, b: float) -> range:
        """The columns that ``[a, b)`` overlaps (none when it lies outside the axis)."""
        if self.width <= 0 or self.end <= self.start or b <= self.start or a > self.end:
            return range(0)
        lo = int((max(a, self.start) - self.start) / self.dt)
        hi = math.ceil((min(b, self.end) - self.start) / self.dt)
        lo = min(lo, self.width - 1)
        return range(lo, min(max(hi, lo + 1), self.width))

    def time_at(self, column: int) -> float:
        """The time a tick at ``column`` reads: ``start`` at the first, ``end`` (now) at the last."""
        if self.width <= 1:
            return self.end
        return self.start + (self.end - self.start) * column / (self.width - 1)


def axis_of(series: HistorySeries, width: int) -> Axis:
    start = series.times[0] if series.times else series.start
    return Axis(min(start, series.end), series.end, width)


def to_columns(axis: Axis, times: Sequence[float], step: float, values: Sequence[float | int | None],
               pick: Callable[[list[float]], float] = max) -> list[float | None]:
    """Buckets ``[t, t + step)`` -> one value per column: the ``pick`` of the known values of
    the buckets it overlaps (None: none known there)."""
    acc: list[list[float]] = [[] for _ in range(max(axis.width, 0))]
    for t, v in zip(times, values, strict=False):
        if v is None:
            continue
        for c in axis.columns(t, t + step):
            acc[c].append(float(v))
    return [pick(a) if a else None for a in acc]


def bucket_states(series: HistorySeries) -> list[str]:
    """Each bucket's coverage as the server says it; a server without ``coverage`` (older)
    leaves a bucket without a known sample unknown. The newest bucket, still without a
    sample and younger than a sample interval, is ``pending`` (its sample is not due yet)."""
    n = len(series.times)
    states = list(series.coverage[:n]) if len(series.coverage) >= n else [
        OK if series.samples[i] and _known(series, i) else UNKNOWN for i in range(n)]
    if n and states[-1] != OK and not series.samples[-1] and series.end - series.times[-1] < 1.5 * series.tier_step:
        states[-1] = PENDING
    return states


def _known(series: HistorySeries, i: int) -> bool:
    col = series.last.get("active") or series.last.get("counter") or []
    return i < len(col) and col[i] is not None


def coverage_columns(axis: Axis, series: HistorySeries) -> list[str]:
    """Per column: ``ok`` if any bucket in it has known numbers, else ``unknown`` if any is
    unknown, else ``pending`` / ``none``."""
    rank = {OK: 3, UNKNOWN: 2, PENDING: 1, NONE: 0}
    out = [NONE] * max(axis.width, 0)
    for t, state in zip(series.times, bucket_states(series), strict=True):
        for c in axis.columns(t, t + series.step):
            if rank.get(state, 0) > rank[out[c]]:
                out[c] = state
    return out


def runs(values: Sequence[str], want: str) -> list[tuple[int, int]]:
    """Maximal runs ``[lo, hi)`` of ``want`` in ``values``."""
    out: list[tuple[int, int]] = []
    lo: int | None = None
    for i, v in enumerate([*values, None]):
        if v == want and lo is None:
            lo = i
        elif v != want and lo is not None:
            out.append((lo, i))
            lo = None
    return out


def gap_labels(axis: Axis, columns: Sequence[str], marks: Iterable[FleetEvent],
               alerts: Iterable[AlertSpan]) -> list[tuple[int, int, str]]:
    """The hatched (unknown) and blank (no data yet) runs, each with what it says:
    ``store down`` where a store outage (its mark or its alert span) overlaps the run,
    ``no sample`` for another gap, ``no data yet`` before the history began."""
    outages = [(m.first_at if m.first_at is not None else m.at, m.until if m.until is not None else m.at)
               for m in marks if m.type == "outage"]
    outages += [(a.start, a.end if a.end is not None else axis.end) for a in alerts if a.type == STORE_ALERT]
    down = [axis.columns(a, max(b, a + axis.dt * 1e-3)) for a, b in outages]
    out = []
    for lo, hi in runs(columns, UNKNOWN):
        store = any(r.start < hi and r.stop > lo for r in down if r)
        out.append((lo, hi, "store down" if store else "no sample"))
    out += [(lo, hi, "no data yet") for lo, hi in runs(columns, NONE)]
    return sorted(out)


# fleet events on the timeline: type -> (glyph, theme style, legend word); earlier wins a column
MARKS: dict[str, tuple[str, str, str]] = {
    "death": ("✖", "$error", "worker died"),
    "outage": ("S", "$error", "store outage"),
    "reap": ("R", "$warning", "reaped"),
    "rebuild": ("B", "$warning", "registry rebuilt"),
    "store": ("s", "$warning", "store"),
    "disconnect": ("D", "$accent", "disconnected"),
    "operator": ("O", "$accent", "operator action"),
    "cleanup": ("c", "$text-muted", "cleanups"),
}
SPAN_FILL = {"outage": "─", "rebuild": "─", "cleanup": "·"}  # after the glyph, over the rest of a span


def mark_columns(axis: Axis, marks: Iterable[FleetEvent]) -> dict[int, tuple[str, str, str]]:
    """column -> (glyph, style, event type) for the fleet's events in range. A span (an
    outage, a rebuild, routine cleanups grouped from ``first_at`` to ``at``) puts its glyph
    at its first column and a fill over the rest; a more important event wins a column
    (:data:`MARKS` order: a death over everything)."""
    order = list(MARKS)
    out: dict[int, tuple[str, str, str]] = {}
    for m in sorted(marks, key=lambda e: order.index(e.type) if e.type in MARKS else len(order), reverse=True):
        if m.type not in MARKS:
            continue
        glyph, style, _ = MARKS[m.type]
        first = m.first_at if m.first_at is not None else m.at
        last = m.until if m.until is not None else m.at
        cols = list(axis.columns(first, max(last, first) + axis.dt * 1e-3)) if last > first else []
        if not cols and (c := axis.column(m.at if m.type not in ("outage", "rebuild") else first)) is not None:
            cols = [c]
        for i, c in enumerate(cols):
            out[c] = (glyph if i == 0 else SPAN_FILL.get(m.type, glyph), style, m.type)
    return out


def alert_columns(axis: Axis, spans: Iterable[AlertSpan]) -> list[tuple[str, str] | None]:
    """Per column, where an alert or warning held: (glyph, kind), alerts over warnings.
    ``▲`` where one started, ``▼`` where one ended (within the axis), ``━`` in between."""
    out: list[tuple[str, str] | None] = [None] * max(axis.width, 0)
    for span in sorted(spans, key=lambda s: s.kind == "alert"):
        end = span.end if span.end is not None else axis.end
        cols = axis.columns(span.start, max(end, span.start + axis.dt * 1e-3))
        for c in cols:
            out[c] = ("━", span.kind)
        if not cols:
            continue
        if axis.column(span.start) is not None:
            out[cols[0]] = ("▲", span.kind)
        if span.end is not None and axis.column(span.end) is not None and len(cols) > 1:
            out[cols[-1]] = ("▼", span.kind)
    return out


def time_label(t: float, range_s: float) -> str:
    d = datetime.fromtimestamp(t, UTC)
    return d.strftime("%a %H:%M") if range_s > 86400 else d.strftime("%H:%M")


def time_ticks(axis: Axis, range_s: float) -> list[tuple[int, str]]:
    """(column, label) of the x ticks: the first column, the last (which reads ``end``:
    now) and evenly spaced ones between as the width allows."""
    if axis.width <= 0:
        return []
    size = len(time_label(axis.end, range_s)) + 4
    n = max(min(axis.width // max(size, 1), 5), 2) if axis.width >= 2 * size else 1
    if n == 1:
        return [(axis.width - 1, time_label(axis.end, range_s))]
    cols = [round(k * (axis.width - 1) / (n - 1)) for k in range(n)]
    return [(c, time_label(axis.time_at(c), range_s)) for c in cols]
