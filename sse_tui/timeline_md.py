"""PURE: the Markdown timeline of an incident, for the postmortem (issue 27).

One chronological table of what the fleet did and what held: store outages, worker
deaths, reaps, cleanups (routine ones grouped as the server groups them), disconnects and
other operator actions, alert and warning spans, and the periods whose numbers are
unknown; each row with its time in UTC and in the operator's zone, its count, its
duration, and the fleet's numbers just before it started and just after it ended.

Two inputs make the same :class:`TimelineInput`: the fleet history
(``GET /monitoring/history``: :func:`from_series`) and a recording's frames
(``--record`` / ``--export-history``: :func:`from_frames`). :func:`build` turns it into
Markdown. Nothing here reads a clock or a file: every time comes in as an argument.

Unknown is not zero: a number nobody measured is ``?`` with the reason, and a period whose
numbers are unknown (a store outage, no frame recorded) is a row of its own. Text from the
wire (worker ids, reasons) is escaped, so it reads literally in any Markdown viewer.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from core.durations import format_duration
from core.models import AlertSpan, FleetEvent, HistorySeries
from sse_tui.model import Snapshot

__all__ = ["Numbers", "Row", "TimelineInput", "Unknown", "build", "escape", "from_frames", "from_series", "rows",
           "zone_name_of"]

# what each fleet event is called, and whether an operator asked for it
EVENT_LABEL: dict[str, str] = {
    "outage": "store outage", "death": "worker death", "reap": "reap (operator)", "cleanup": "cleanup (routine)",
    "operator": "cleanup on request (operator)", "disconnect": "disconnect (operator)", "rebuild": "registry rebuild",
    "store": "store",
}
OPERATOR_EVENTS = frozenset({"reap", "operator", "disconnect"})
COUNT_NOUN: dict[str, str] = {"death": "cut", "reap": "cut", "cleanup": "removed", "operator": "removed",
                              "disconnect": "closed"}
GAP_FRAMES = 3.0  # a recording's frames further apart than this many usual intervals: nothing recorded between
MIN_GAP_SECONDS = 5.0
_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|~#])|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True, slots=True)
class Numbers:
    """The fleet's numbers at one moment (None: unknown). ``t`` .. ``until``: the moment, or
    the bucket it was read from (a history bucket: one step long)."""

    t: float
    until: float
    active: int | None = None
    counter: int | None = None
    stale: int | None = None

    @property
    def known(self) -> bool:
        return self.active is not None


@dataclass(frozen=True, slots=True)
class Unknown:
    """A period whose numbers nobody knows, and why."""

    start: float
    end: float
    why: str


@dataclass(frozen=True)
class TimelineInput:
    service: str
    source: str  # where it was read, never with a secret
    start: float
    end: float
    resolution: str  # "10s buckets", "a frame every 1s"
    step: float = 0.0  # a bucket's length, or the usual time between frames
    numbers: tuple[Numbers, ...] = ()
    events: tuple[FleetEvent, ...] = ()
    spans: tuple[AlertSpan, ...] = ()
    unknown: tuple[Unknown, ...] = ()
    data_from: float | None = None  # the first known data (None: none in the range)
    notes: tuple[str, ...] = field(default=())


# -- inputs ----------------------------------------------------------------------------
def _int(v: object) -> int | None:
    return int(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def from_series(series: HistorySeries, service: str, source: str) -> TimelineInput:
    """The fleet history as a timeline's input: a :class:`Numbers` per bucket holding a
    sample (unknown where its coverage is not ``ok``), the marks, the alert spans and the
    runs of buckets whose numbers are unknown after the history began."""
    step = series.step
    col = series.last
    numbers: list[Numbers] = []
    unknown: list[Unknown] = []
    run: float | None = None
    cov = series.coverage or ["ok" if n else "unknown" for n in series.samples]
    for i, t in enumerate(series.times):
        state = cov[i] if i < len(cov) else "none"
        if state == "ok":
            numbers.append(Numbers(t, t + step, *(_int(_at(col, f, i)) for f in ("active", "counter", "stale"))))
        elif series.samples[i]:
            numbers.append(Numbers(t, t + step))  # a sample whose numbers are unknown (an outage's)
        if state == "unknown":
            run = t if run is None else run
        elif run is not None:
            unknown.append(Unknown(run, t, "numbers unknown (the store was down, or no worker recorded)"))
            run = None
    last = series.times[-1] if series.times else series.end
    if run is not None and run < last:  # (the newest bucket alone: its sample is not due yet)
        unknown.append(Unknown(run, last + step, "numbers unknown (the store is down, or no worker records)"))
    first_ok = next((n.t for n in numbers if n.known), None)
    notes: list[str] = []
    if series.data_from is not None and series.data_from > series.start:
        notes.append(f"the history begins at {{t:{series.data_from}}}: nothing is known before it (not zero)")
    if series.data_from is None:
        notes.append("the fleet history holds no sample yet")
    if series.bad_points:
        notes.append(f"{series.bad_points} stored point(s) were malformed and skipped")
    return TimelineInput(service=service, source=source, start=series.start, end=series.end,
                         resolution=f"{format_duration(step)} buckets", step=step, numbers=tuple(numbers),
                         events=tuple(series.marks), spans=tuple(series.alerts), unknown=tuple(unknown),
                         data_from=first_ok, notes=tuple(notes))


def _at(col: dict[str, list[float | int | None]], name: str, i: int) -> float | int | None:
    values = col.get(name)
    return values[i] if values is not None and i < len(values) else None


def _frame_time(f: Snapshot) -> float:
    return f.recorded_at if f.recorded_at is not None else (f.stats.now or 0.0)


def from_frames(frames: Sequence[Snapshot], service: str, source: str, start: float | None = None,
                end: float | None = None) -> TimelineInput:
    """A recording's frames (oldest first) as a timeline's input, over ``start`` .. ``end``
    (None: the first / last frame): each frame's numbers (unknown while the store was down
    or the registry unsettled), the fleet events the frames carried (each once; a group of
    routine cleanups as its latest form), the alert and warning spans the frames show, and
    the periods without a frame (the source was down, or nobody polled) or with unknown
    numbers."""
    frames = sorted(frames, key=_frame_time)
    times = [_frame_time(f) for f in frames]
    lo = times[0] if start is None else start
    hi = times[-1] if end is None else end
    picked = [(t, f) for t, f in zip(times, frames, strict=True) if lo <= t <= hi]
    dts = [b - a for (a, _), (b, _) in zip(picked, picked[1:], strict=False) if b > a]
    usual = statistics.median(dts) if dts else 1.0
    gap = max(GAP_FRAMES * usual, MIN_GAP_SECONDS)
    numbers: list[Numbers] = []
    unknown: list[Unknown] = []
    events: dict[tuple[object, ...], FleetEvent] = {}
    open_: dict[tuple[str, str], float] = {}
    spans: list[AlertSpan] = []
    down_since: tuple[float, str] | None = None
    prev: float | None = None
    for t, f in picked:
        s = f.stats
        if prev is not None and t - prev > gap:
            if down_since is not None:  # the numbers were unknown up to the last frame, then nothing was recorded
                unknown.append(Unknown(down_since[0], prev, down_since[1]))
                down_since = None
            unknown.append(Unknown(prev, t, "no frame recorded (the source was down, or nobody polled)"))
        unsure = f.store_down or f.registry_state != "settled"
        cs = s.connection_stats
        numbers.append(Numbers(t, t) if unsure else Numbers(t, t, cs.active_connections, cs.redis_connection_counters,
                                                              s.cleanup_stats.stale))
        if unsure and down_since is None:
            state = s.store_status.state if s.store_status.state != "up" else "unavailable"
            why = f"store {state}" if f.store_down else f"registry {f.registry_state}"
            down_since = (t, f"numbers unknown ({why})")
        elif not unsure and down_since is not None:
            unknown.append(Unknown(down_since[0], t, down_since[1]))
            down_since = None
        for e in s.recent_events:
            key: tuple[object, ...] = (e.type, e.first_at, e.worker_id) if e.runs > 1 or e.first_at is not None \
                else (e.type, e.at, e.worker_id, e.message)
            have = events.get(key)
            if have is None or (e.at, e.runs) > (have.at, have.runs):
                events[key] = e
        hi_ = s.health_indicators
        now = {(a.type, "alert") for a in hi_.alerts} | {(a.type, "warning") for a in hi_.warnings}
        for typ, kind in sorted(set(open_) - now):
            spans.append(AlertSpan(type=typ, kind=kind, start=open_.pop((typ, kind)), end=t))
        for key2 in sorted(now - set(open_)):
            open_[key2] = t
        prev = t
    if down_since is not None:
        unknown.append(Unknown(down_since[0], hi, down_since[1]))
    spans += [AlertSpan(type=typ, kind=kind, start=s0, end=None) for (typ, kind), s0 in open_.items()]
    spans.sort(key=lambda s: (s.start, s.type))
    first_ok = next((n.t for n in numbers if n.known), None)
    return TimelineInput(service=service, source=source, start=lo, end=hi,
                         resolution=f"a frame every {span(usual)}" if dts else "one frame", step=usual,
                         numbers=tuple(numbers), events=tuple(sorted(events.values(), key=lambda e: e.at)),
                         spans=tuple(spans), unknown=tuple(unknown), data_from=first_ok)


# -- the Markdown -----------------------------------------------------------------------
def span(seconds: float) -> str:
    """A duration as a person reads it: ``4.2s``, ``18s``, ``2m 5s``, ``9m``, ``1h 3m``, ``2d 4h``."""
    if seconds < 10:
        return f"{round(seconds, 1):g}s"
    s = int(round(seconds))
    for big, small, bsize, ssize in (("d", "h", 86400, 3600), ("h", "m", 3600, 60), ("m", "s", 60, 1)):
        if s >= bsize:
            rest = (s % bsize) // ssize
            return f"{s // bsize}{big}" + (f" {rest}{small}" if rest else "")
    return f"{s}s"


def escape(text: str, limit: int = 300) -> str:
    """Wire text as literal Markdown on one line: control characters become spaces and
    ``\\ ` * _ [ ] < > | ~ #`` are backslash-escaped (no link, no markup, no table break)."""
    text = _CONTROL.sub(" ", text).strip()
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), text)


@dataclass(frozen=True)
class Row:
    start: float
    end: float | None  # None: a moment, or (ongoing) still on at the end of the range
    what: str
    count: str
    duration: str
    before: str
    after: str
    ongoing: bool = False


class _Clock:
    """Formats times in UTC and in the operator's zone (the date only when the range
    spans more than one day in that zone)."""

    def __init__(self, start: float, end: float, tz: tzinfo) -> None:
        self.tz = tz
        days = {datetime.fromtimestamp(t, z).date() for t in (start, end) for z in (UTC, tz)}
        self.fmt = "%H:%M:%S" if len(days) == 1 else "%m-%d %H:%M:%S"

    def utc(self, t: float) -> str:
        return datetime.fromtimestamp(t, UTC).strftime(self.fmt)

    def local(self, t: float) -> str:
        return datetime.fromtimestamp(t, self.tz).strftime(self.fmt)


def _numbers(n: Numbers | None, clock: _Clock, side: str) -> str:
    if n is None:
        return f"? (no known sample {side} it in the range)"
    parts = [f"{n.active} active"]
    if n.counter is not None:
        parts.append(f"{n.counter} counted")
    if n.stale is not None:
        parts.append(f"{n.stale} stale")
    return ", ".join(parts) + f" ({clock.utc(n.t)})"


def _before(numbers: Sequence[Numbers], t: float) -> Numbers | None:
    return next((n for n in reversed(numbers) if n.known and n.until <= t), None)


def _after(numbers: Sequence[Numbers], t: float) -> Numbers | None:
    return next((n for n in numbers if n.known and n.t >= t), None)


def _event_row(e: FleetEvent, inp: TimelineInput, clock: _Clock) -> Row:
    start = e.first_at if e.first_at is not None else e.at
    end = e.until if e.until is not None else e.at
    label = EVENT_LABEL.get(e.type, e.type)
    if e.type == "outage":
        label += " (numbers unknown over it)"
    who = f" · by {escape(e.worker_id, 120)}" if e.worker_id and e.type not in ("death", "reap") else ""
    what = f"**{label}**: {escape(e.message)}{who}"
    noun = COUNT_NOUN.get(e.type)
    count = f"{e.count} {noun}" if noun is not None else "–"
    if e.type == "cleanup" and e.runs > 1:
        count += f" in {e.runs} runs"
    if e.blast is not None:  # who came back (core.blast)
        b = e.blast
        count += f"; {b.back} back within {b.window_seconds:g} s"
        if b.median_back_seconds is not None:
            count += f" (median {b.median_back_seconds:g} s)"
        count += f", {b.not_back} not back" + (" yet" if b.open else "")
    duration = span(end - start) if end > start else "–"
    if e.type == "cleanup" and e.runs > 1 and end > start:
        duration = f"{duration} (runs {clock.utc(start)}–{clock.utc(end)})"
    return Row(start, end if end > start else None, what, count, duration,
               _numbers(_before(inp.numbers, start), clock, "before"),
               _numbers(_after(inp.numbers, end), clock, "after"))


def _span_row(s: AlertSpan, inp: TimelineInput, clock: _Clock) -> Row:
    end = s.end if s.end is not None else inp.end
    mark = "✖" if s.kind == "alert" else "▲"
    code = _CONTROL.sub(" ", s.type)[:80].replace("`", "").replace("|", "\\|")  # a code span: no other escape
    what = f"{mark} **{s.kind}** `{code}`" + ("" if s.end is not None else " (still on)")
    duration = span(max(end - s.start, 0.0))
    if s.end is None:
        duration = f"≥ {duration}"
    return Row(s.start, s.end, what, "–", duration, _numbers(_before(inp.numbers, s.start), clock, "before"),
               "? (still on at the end of the range)" if s.end is None
               else _numbers(_after(inp.numbers, end), clock, "after"), ongoing=s.end is None)


def _unknown_row(u: Unknown, inp: TimelineInput, clock: _Clock) -> Row:
    return Row(u.start, u.end, f"? {escape(u.why)}", "–", span(max(u.end - u.start, 0.0)),
               _numbers(_before(inp.numbers, u.start), clock, "before"),
               _numbers(_after(inp.numbers, u.end), clock, "after"))


def _outage_covers(u: Unknown, inp: TimelineInput) -> bool:
    """An outage event says it already (its row: the store was down, so the numbers are unknown)."""
    slack = inp.step + 1.0
    return any(e.type == "outage" and (e.first_at or e.at) - slack <= u.start and u.end <= (e.until or e.at) + slack
               for e in inp.events)


def _in_range(start: float, end: float | None, inp: TimelineInput) -> bool:
    return start <= inp.end and (end if end is not None else start) >= inp.start


def rows(inp: TimelineInput, tz: tzinfo = UTC) -> list[Row]:
    """Every row of the timeline, oldest first (events, spans and unknown periods that
    overlap the range)."""
    clock = _Clock(inp.start, inp.end, tz)
    out = [_event_row(e, inp, clock) for e in inp.events]
    out += [_span_row(s, inp, clock) for s in inp.spans]
    out += [_unknown_row(u, inp, clock) for u in inp.unknown if not _outage_covers(u, inp)]
    out = [r for r in out if _in_range(r.start, r.end, inp)]
    out.sort(key=lambda r: (r.start, r.what))
    return out


def _zone_label(tz: tzinfo, zone_name: str, at: float) -> str:
    off = datetime.fromtimestamp(at, tz).strftime("%z")
    return f"{zone_name} (UTC{off[:3]}:{off[3:]})" if off else zone_name


def _summary(inp: TimelineInput) -> list[str]:
    kinds: dict[str, list[FleetEvent]] = {}
    for e in inp.events:
        start = e.first_at if e.first_at is not None else e.at
        if _in_range(start, e.until if e.until is not None else e.at, inp):
            kinds.setdefault(e.type, []).append(e)
    parts: list[str] = []
    for typ, label in (("outage", "store outage"), ("death", "worker death"), ("reap", "reap"),
                       ("disconnect", "disconnect"), ("operator", "cleanup on request"), ("rebuild", "registry rebuild"),
                       ("store", "store event"), ("cleanup", "routine cleanup")):
        es = kinds.get(typ, [])
        if not es:
            continue
        n = sum(e.runs for e in es) if typ == "cleanup" else len(es)
        text = f"{n} {label}{'s' if n != 1 else ''}"
        noun = COUNT_NOUN.get(typ)
        if noun is not None:
            text += f" ({sum(e.count for e in es)} {'streams ' if typ in ('death', 'reap') else ''}{noun})"
        elif typ in ("outage", "rebuild"):
            text += f" ({span(sum((e.until or e.at) - (e.first_at or e.at) for e in es))} in all)"
        parts.append(text)
    spans = [s for s in inp.spans if _in_range(s.start, s.end, inp)]
    if spans:
        alerts = sum(1 for s in spans if s.kind == "alert")
        parts.append(f"{alerts} alert span{'s' if alerts != 1 else ''}, {len(spans) - alerts} warning "
                     f"span{'s' if len(spans) - alerts != 1 else ''}")
    unknown = sum(min(u.end, inp.end) - max(u.start, inp.start) for u in inp.unknown if _in_range(u.start, u.end, inp))
    if unknown > 0:
        parts.append(f"numbers unknown for {span(unknown)}")
    return parts


def _cell(text: str) -> str:
    return text.replace("\n", " ")


def build(inp: TimelineInput, tz: tzinfo = UTC, zone_name: str = "UTC", written_at: float | None = None) -> str:
    """The Markdown timeline of ``inp``, times in UTC and in ``tz`` (named ``zone_name``;
    one column only when that zone is UTC all along the range)."""
    clock = _Clock(inp.start, inp.end, tz)
    same = all(datetime.fromtimestamp(t, tz).utcoffset() == datetime.fromtimestamp(t, UTC).utcoffset()
               for t in (inp.start, inp.end))
    day_utc = datetime.fromtimestamp(inp.start, UTC)
    lines = [f"# Timeline: {escape(inp.service, 120)}", ""]
    whole = (f"{day_utc:%Y-%m-%d %H:%M:%S} → {datetime.fromtimestamp(inp.end, UTC):%Y-%m-%d %H:%M:%S} UTC "
            f"({span(max(inp.end - inp.start, 0.0))})")
    lines.append(f"- **Range:** {whole}")
    if not same:
        lz = datetime.fromtimestamp(inp.start, tz)
        lines.append(f"- **Operator's zone:** {_zone_label(tz, zone_name, inp.start)}: "
                     f"{lz:%Y-%m-%d %H:%M:%S} → {datetime.fromtimestamp(inp.end, tz):%Y-%m-%d %H:%M:%S}")
    else:
        lines.append(f"- **Operator's zone:** {escape(zone_name, 60)} (the same as UTC over this range)")
    lines.append(f"- **Source:** {escape(inp.source, 300)} ({inp.resolution})")
    if written_at is not None:
        lines.append(f"- **Written:** {datetime.fromtimestamp(written_at, UTC):%Y-%m-%d %H:%M:%S} UTC")
    summary = _summary(inp)
    lines.append(f"- **Summary:** {'; '.join(summary) if summary else 'nothing happened in this range'}")
    lines.append("- **Numbers:** connections the registry held (active), its counter (counted) and the stale ones, "
                 "from the last sample (or bucket) that ended before a row started and the first one that began after "
                 "it ended; "
                 "`?` is unknown, never zero")
    for note in inp.notes:
        lines.append(f"- **Note:** {_notes(note, clock)}")
    lines.append("")
    table = rows(inp, tz)
    if not table:
        lines.append("No event, alert or unknown period in this range.")
        return "\n".join(lines) + "\n"
    head = ["#", "UTC"] + ([] if same else [escape(zone_name, 40)]) + ["what", "count", "duration", "before", "after"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join("---" for _ in head) + "|")
    for i, r in enumerate(table, 1):
        when_utc = clock.utc(r.start) + (f"–{clock.utc(r.end)}" if r.end is not None and r.end > r.start else "")
        when_local = clock.local(r.start) + (f"–{clock.local(r.end)}" if r.end is not None and r.end > r.start else "")
        cells = [str(i), when_utc] + ([] if same else [when_local]) + [r.what, r.count, r.duration, r.before, r.after]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _notes(note: str, clock: _Clock) -> str:
    """A note's ``{t:<epoch>}`` placeholders as UTC times."""
    return re.sub(r"\{t:([0-9.]+)\}", lambda m: clock.utc(float(m.group(1))) + " UTC", note)


def zone_name_of(tz: tzinfo, at: float) -> str:
    """A readable name for ``tz`` (its IANA key when it has one, else its abbreviation)."""
    key = getattr(tz, "key", None)
    if isinstance(key, str) and key:
        return key
    return datetime.fromtimestamp(at, tz).tzname() or "local"
