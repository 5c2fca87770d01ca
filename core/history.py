"""PURE fleet history: the sample model, tiers, downsampling, series and trend verdicts.

The fleet appends one compact :class:`HistorySample` per interval (whichever worker holds
that interval's lease writes it; see ``StateStore.history_append``). Samples land in
*tiers*: the raw tier (one sample per interval, kept ``HISTORY_RAW_RETENTION_SECONDS``)
and a rollup tier (one point per ``HISTORY_ROLLUP_SECONDS``, kept
``HISTORY_ROLLUP_RETENTION_SECONDS``) whose points keep ``min`` / ``max`` / ``last`` of
every number, so a spike is never averaged away.

Stored point format (compact positional JSON, the same in both stores; the Redis Lua script
``history_append.lua`` and :func:`merge` below implement the same rollup):

* raw tier: ``[t, active, counter, stale, active_recent, long_lived, very_old, runs,
  cleaned, errors, last_ms, avg_ms, level (0/1/2), [alerts], [warnings]]`` plus
  ``{worker: connections}`` once a minute (``null``: unknown);
* rollup tier: ``[bucket start, samples, last row, min row, max row, worst level,
  [every alert type], [every warning type]]`` (min / max rows hold the same positions).

Everything here is a function of its arguments (no clock, no I/O): the trend verdicts
return their value *and* the window they looked at (:class:`~core.models.TrendEvidence`).
Unknown is never zero: a bucket without a sample is ``None``, a verdict without enough
data is ``None``.
"""

from __future__ import annotations

import bisect
import json
import math
import operator
import re
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import from_json

from .models import HEALTH_LEVELS, AlertSpan, HistorySeries, MonitoringStats, TrendEvidence

NUMERIC: tuple[str, ...] = ("active", "counter", "stale", "active_recent", "long_lived", "very_old",
                            "runs", "cleaned", "errors", "last_ms", "avg_ms")
MAX_WORKERS = 32  # per-worker counts kept per sample (the largest)
MAX_POINTS = 10_000  # buckets one series may hold
TREND_TYPES: tuple[str, ...] = ("cleanup_duration_sustained", "error_rate_trend", "baseline_deviation",
                                "days_to_capacity")  # each a HealthInputs field and a rule of core.health.RULES
TREND_REFRESH_SECONDS = 60.0  # how often a manager recomputes its trend verdicts
LEVEL_RANK: dict[str, int] = {level: i for i, level in enumerate(HEALTH_LEVELS)}  # stored as this code
LEVELS: tuple[str, ...] = HEALTH_LEVELS
INDEX: dict[str, int] = {f: i + 1 for i, f in enumerate(NUMERIC)}  # positions in a stored row (0 is t)
ROW_LEVEL, ROW_ALERTS, ROW_WARNINGS, ROW_WORKERS = 12, 13, 14, 15
WORKERS_EVERY_SECONDS = 60.0  # per-worker counts are stored once a minute (they dominate a sample's size)
DAY = 86_400.0


class HistorySample(BaseModel):
    """One fleet sample. ``None``: unknown at that time (the store could not be read)."""

    model_config = ConfigDict(extra="ignore")

    t: float  # the fleet's clock (Redis TIME), unix seconds
    active: int | None = None  # live workers' connections
    counter: int | None = None  # the registry counter
    stale: int | None = None
    active_recent: int | None = None  # connections that are not stale
    long_lived: int | None = None
    very_old: int | None = None
    workers: dict[str, int] = Field(default_factory=dict)  # the largest MAX_WORKERS workers' counts
    runs: int | None = None  # cleanup runs (cumulative)
    cleaned: int | None = None  # connections cleaned (cumulative)
    errors: int | None = None  # failed cleanup runs (cumulative)
    last_ms: float | None = None  # last cleanup's duration
    avg_ms: float | None = None  # average cleanup duration
    level: str | None = None  # healthy / degraded / unhealthy
    alerts: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)

    def to_row(self, with_workers: bool = True) -> list[Any]:
        """The compact stored row (see the module docstring)."""
        row: list[Any] = [self.t, *(getattr(self, f) for f in NUMERIC),
                          LEVEL_RANK.get(self.level) if self.level else None, self.alerts, self.warnings]
        if with_workers and self.workers:
            row.append(self.workers)
        return row

    def to_json(self, with_workers: bool = True) -> str:
        return json.dumps(self.to_row(with_workers), separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Tier:
    """One resolution: a point per ``step`` seconds, kept ``retention`` seconds."""

    step: float
    retention: float

    @property
    def name(self) -> str:
        return format_duration(self.step)


def tiers_from_config(cfg: Any) -> tuple[Tier, ...]:
    """The raw tier and the rollup tier from ``SSEConfig`` (the one place they are defined)."""
    return (Tier(float(cfg.HISTORY_INTERVAL_SECONDS), float(cfg.HISTORY_RAW_RETENTION_SECONDS)),
            Tier(float(cfg.HISTORY_ROLLUP_SECONDS), float(cfg.HISTORY_ROLLUP_RETENTION_SECONDS)))


# -- durations --------------------------------------------------------------------------
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": DAY, "w": 7 * DAY}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_duration(text: str) -> float:
    """``"90s"``, ``"5m"``, ``"1h"``, ``"7d"``, ``"2w"`` or plain seconds; ValueError otherwise."""
    m = _DURATION.match(text or "")
    if not m:
        raise ValueError(f"not a duration: {text[:40]!r} (use e.g. 90s, 5m, 1h, 7d)")
    value = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"duration must be positive: {text[:40]!r}")
    return value


def format_duration(seconds: float) -> str:
    for unit, size in (("w", 7 * DAY), ("d", DAY), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


# -- samples ------------------------------------------------------------------------------
def sample_from_snapshot(snap: MonitoringStats, t: float | None = None) -> HistorySample:
    """The compact sample of one monitoring snapshot (numbers it lacks stay unknown)."""
    cs, cl, pm, hi = snap.connection_stats, snap.cleanup_stats, snap.performance_metrics, snap.health_indicators
    workers: dict[str, int] = {}
    if snap.workers:
        alive = sorted((w for w in snap.workers if w.alive), key=lambda w: (-w.connections, w.worker_id))
        workers = {w.worker_id[:64]: w.connections for w in alive[:MAX_WORKERS]}
    return HistorySample(
        t=float(t if t is not None else (snap.now or 0.0)),
        active=cs.active_connections, counter=cs.redis_connection_counters,
        stale=cl.stale, active_recent=cl.active, long_lived=cl.long_lived, very_old=cl.very_old,
        workers=workers, runs=cl.total_cleanups, cleaned=cl.total_connections_cleaned, errors=cl.cleanup_errors,
        last_ms=cl.last_cleanup_duration_ms, avg_ms=pm.avg_cleanup_duration_ms, level=hi.overall_health,
        alerts=[a.type for a in hi.alerts], warnings=[w.type for w in hi.warnings],
    )


# -- stored points ------------------------------------------------------------------------
def with_workers(t: float, interval: float) -> bool:
    """Whether the sample of the interval holding ``t`` stores per-worker counts."""
    every = max(int(round(WORKERS_EVERY_SECONDS / interval)), 1)
    return int(t // interval) % every == 0


def _level(code: Any) -> str | None:
    return LEVELS[code] if isinstance(code, int) and 0 <= code < len(LEVELS) else None


@dataclass(slots=True)
class Point:
    """A stored point of any tier: ``row`` is the (last) sample's row; ``rmn`` / ``rmx`` are
    None for a raw sample (its own values are its min and max)."""

    t: float
    n: int
    row: list[Any]
    rmn: list[Any] | None = None
    rmx: list[Any] | None = None
    level: str | None = None  # the worst level within the point
    alerts: Sequence[str] = ()  # every alert type seen within the point
    warnings: Sequence[str] = ()

    def value(self, name: str) -> Any:
        return self.row[INDEX[name]]

    @property
    def last(self) -> dict[str, Any]:
        return {f: self.row[i] for f, i in INDEX.items()}

    @property
    def mn(self) -> dict[str, Any]:
        return {f: (self.rmn or self.row)[i] for f, i in INDEX.items()}

    @property
    def mx(self) -> dict[str, Any]:
        return {f: (self.rmx or self.row)[i] for f, i in INDEX.items()}

    @property
    def workers(self) -> dict[str, int]:
        w = self.row[ROW_WORKERS] if len(self.row) > ROW_WORKERS else None
        return dict(w) if isinstance(w, dict) else {}


_NUM = (int, float)
_RMN = operator.attrgetter("rmn")
_LEVEL_OF: dict[int, str] = dict(enumerate(HEALTH_LEVELS))
_EMPTY: frozenset[str] = frozenset()
_NUM_OR_NONE = frozenset((int, float, type(None)))


def _valid_row(r: Any) -> bool:
    """A row of the stored shape (its numbers are checked where they are read: a value that
    is not a number reads as unknown)."""
    return isinstance(r, list) and len(r) >= ROW_WARNINGS + 1 and type(r[0]) in _NUM


def _number(v: Any) -> float | int | None:
    return v if type(v) in _NUM else None


def point_from_row(r: Any) -> Point | None:
    """A Point from one stored row (raw sample or rollup); None when malformed."""
    if not isinstance(r, list) or len(r) < 3:
        return None
    try:
        if isinstance(r[2], list):  # rollup
            if len(r) < 8 or not (_valid_row(r[2]) and _valid_row(r[3]) and _valid_row(r[4])):
                return None
            return Point(t=float(r[0]), n=int(r[1]), row=r[2], rmn=r[3], rmx=r[4], level=_level(r[5]),
                         alerts=tuple(r[6]) if isinstance(r[6], list) else (),
                         warnings=tuple(r[7]) if isinstance(r[7], list) else ())
        if not _valid_row(r):
            return None
        return Point(t=float(r[0]), n=1, row=r, level=_level(r[ROW_LEVEL]),
                     alerts=tuple(r[ROW_ALERTS]) if isinstance(r[ROW_ALERTS], list) else (),
                     warnings=tuple(r[ROW_WARNINGS]) if isinstance(r[ROW_WARNINGS], list) else ())
    except (TypeError, ValueError):
        return None


def parse_points(members: Sequence[str]) -> tuple[list[Point], int]:
    """Stored JSON members (oldest first) -> (points, how many were malformed and skipped).
    One ``json.loads`` for the whole answer when it is clean (the fast path)."""
    try:  # pydantic_core's JSON parser (a dependency already): about twice json.loads's speed
        rows = from_json("[" + ",".join(members) + "]") if members else []
    except ValueError:
        rows = []
        for m in members:
            try:
                rows.append(json.loads(m))
            except ValueError:
                rows.append(None)
    out: list[Point] = []
    append = out.append
    bad = 0
    num = _NUM
    level_of = _LEVEL_OF
    for row in rows:
        # the raw row, inlined (a 24 h read is 8,640 of them); anything else goes the long way
        if type(row) is list and len(row) > ROW_WARNINGS and type(row[0]) in num and type(row[2]) is not list:
            lv, al, wa = row[ROW_LEVEL], row[ROW_ALERTS], row[ROW_WARNINGS]
            append(Point(row[0], 1, row, None, None, level_of.get(lv) if type(lv) is int else None,
                         al if type(al) is list else (), wa if type(wa) is list else ()))
            continue
        p = point_from_row(row)
        if p is None:
            bad += 1
        else:
            append(p)
    return out, bad


def new_rollup(bucket: float) -> list[Any]:
    return [bucket, 0, None, [None] * (ROW_WARNINGS + 1), [None] * (ROW_WARNINGS + 1), None, [], []]


def merge(agg: list[Any], row: Sequence[Any]) -> list[Any]:
    """Fold one stored raw row into a rollup point (the same rules as ``history_append.lua``):
    count, min and max of every number, the last row (without per-worker counts), the worst
    level, every alert and warning type."""
    agg[1] = int(agg[1]) + 1
    last = list(row[:ROW_WARNINGS + 1])
    mn, mx = agg[3], agg[4]
    for i in range(1, ROW_LEVEL):
        v = last[i]
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if mn[i] is None or v < mn[i]:
                mn[i] = v
            if mx[i] is None or v > mx[i]:
                mx[i] = v
    mn[0] = mx[0] = last[0]
    agg[2] = last
    lv = last[ROW_LEVEL]
    if isinstance(lv, int) and (agg[5] is None or lv > agg[5]):
        agg[5] = lv
    for src, dst in ((ROW_ALERTS, 6), (ROW_WARNINGS, 7)):
        for typ in last[src] or ():
            if typ not in agg[dst]:
                agg[dst].append(typ)
    return agg


class PointCache:
    """The raw tier's points a reader already holds. A raw row never changes once written
    (it is only trimmed), so a repeated read fetches only what is newer than the cache
    (re-reading ``overlap`` seconds, for a sample its lease winner wrote late) and keeps the
    rest: the 24 h read the dashboard repeats costs a few rows of transport and parsing.
    The cache covers ``[start, newest]``; a range starting earlier is read whole. Callers
    serialize ``read_from`` .. ``update`` (the manager holds a lock)."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.points: list[Point] = []

    def clear(self) -> None:
        self.start = None
        self.points = []

    def read_from(self, start: float, overlap: float) -> float:
        """Where the next store read must start for a range beginning at ``start``."""
        if self.start is None or start < self.start or not self.points:
            return start
        return max(start, self.points[-1].t - overlap)

    def update(self, start: float, read_from: float, fresh: list[Point], keep_from: float) -> list[Point]:
        """Merge a store read of ``[read_from, end]``; forget what is older than
        ``keep_from`` (the tier's retention); return the points of ``[start, end]``."""
        if read_from == start:  # read whole: the cache restarts there (it never holds a hole)
            merged = list(fresh)
            start_cached = start
        else:
            cut = bisect.bisect_left([p.t for p in self.points], read_from)
            merged = self.points[:cut] + fresh
            start_cached = self.start if self.start is not None else start
        keep_from = min(keep_from, start)  # never forget what this range asked for
        first = bisect.bisect_left([p.t for p in merged], keep_from)
        self.points = merged[first:]
        self.start = max(start_cached, keep_from)
        lo = bisect.bisect_left([p.t for p in self.points], start)
        return self.points[lo:]


# -- reads: range and step -> tier, series --------------------------------------------
def choose_tier(tiers: Sequence[Tier], range_s: float, step: float) -> Tier:
    """The coarsest tier whose step fits ``step`` and whose retention covers ``range_s``;
    else the finest tier covering the range; else the longest-kept tier."""
    covering = [t for t in tiers if t.retention >= range_s]
    fitting = [t for t in covering if t.step <= step]
    if fitting:
        return max(fitting, key=lambda t: t.step)
    if covering:
        return min(covering, key=lambda t: t.step)
    return max(tiers, key=lambda t: t.retention)


def check_range(tiers: Sequence[Tier], range_s: float, step: float) -> None:
    """ValueError (a clear message) for a range/step no tier can answer."""
    longest = max(t.retention for t in tiers)
    if range_s > longest:
        raise ValueError(f"range {format_duration(range_s)} exceeds the history kept ({format_duration(longest)})")
    if step < min(t.step for t in tiers):
        raise ValueError(f"step {format_duration(step)} is finer than the sample interval "
                         f"({format_duration(min(t.step for t in tiers))})")
    if range_s / step > MAX_POINTS:
        raise ValueError(f"range/step is {range_s / step:.0f} points (at most {MAX_POINTS})")


def default_step(tiers: Sequence[Tier], range_s: float, width: int = 360) -> float:
    """A step giving about ``width`` points, never finer than the tier that answers."""
    tier = choose_tier(tiers, range_s, range_s / width)
    return max(tier.step, math.ceil(range_s / width / tier.step) * tier.step)


def series(points: Sequence[Point], start: float, end: float, step: float, tier_step: float,
           fields: Sequence[str] = NUMERIC, rate_window: float = 600.0) -> HistorySeries:
    """Points (oldest first) -> columns on buckets ``[start + i*step, start + (i+1)*step)``
    up to and including the one that holds ``end`` (a sample taken at ``end`` is shown):
    ``last`` / ``min`` / ``max`` per field (a bucket without a sample is None), the worst
    level, the cleanup error rate (failed runs / runs over the trailing ``rate_window``
    seconds, from the cumulative totals), and every alert's start and end."""
    nb = max(int((end - start) // step) + 1, 1)
    times = [start + i * step for i in range(nb)]
    last: dict[str, list[Any]] = {f: [None] * nb for f in fields}
    lo: dict[str, list[Any]] = {f: [None] * nb for f in fields}
    hi: dict[str, list[Any]] = {f: [None] * nb for f in fields}
    levels: list[str | None] = [None] * nb
    bucket_alerts: list[Any] = [None] * nb  # set of types per bucket (None: no sample)
    bucket_warnings: list[Any] = [None] * nb
    count = [0] * nb
    idx = [int((p.t - start) // step) for p in points]
    if idx and idx[0] >= 0 and idx[-1] < nb and not any(map(_RMN, points)) and all(map(operator.lt, idx, idx[1:])):
        # the common case: raw samples, at most one per bucket: place the rows on a grid and
        # transpose it in C (zip), instead of a Python loop per field and point
        empty: list[Any] = [None] * (ROW_WARNINGS + 1)
        grid: list[Any] = [empty] * nb
        for i, p in zip(idx, points, strict=False):
            grid[i] = p.row
            levels[i] = p.level
            if p.alerts or p.warnings:
                bucket_alerts[i], bucket_warnings[i] = set(p.alerts), set(p.warnings)
        count = [0 if r is empty else 1 for r in grid]
        bucket_alerts = [(None if r is empty else _EMPTY) if a is None else a for a, r in zip(bucket_alerts, grid, strict=False)]
        bucket_warnings = [(None if r is empty else _EMPTY) if a is None else a for a, r in zip(bucket_warnings, grid, strict=False)]
        cols = list(zip(*grid, strict=False))  # rows are at least ROW_WARNINGS + 1 long: zip stops there
        for f in fields:
            col = list(cols[INDEX[f]])
            if not set(map(type, col)) <= _NUM_OR_NONE:
                col = [_number(v) for v in col]  # bad data reads as unknown
            last[f] = lo[f] = hi[f] = col
        points = ()
    for p in points:
        i = int((p.t - start) // step)
        if i < 0 or i >= nb:
            continue
        count[i] += p.n
        src = p.row
        pmn = p.rmn if p.rmn is not None else src
        pmx = p.rmx if p.rmx is not None else src
        for f in fields:
            k = INDEX[f]
            v = _number(src[k])
            if v is not None:
                last[f][i] = v
            a = _number(pmn[k])
            b = _number(pmx[k])
            if a is not None:
                cur = lo[f][i]
                lo[f][i] = a if cur is None or a < cur else cur
            if b is not None:
                cur = hi[f][i]
                hi[f][i] = b if cur is None or b > cur else cur
        if p.level is not None and LEVEL_RANK.get(p.level, -1) > LEVEL_RANK.get(levels[i] or "", -1):
            levels[i] = p.level
        if bucket_alerts[i] is None:
            bucket_alerts[i], bucket_warnings[i] = set(), set()
        bucket_alerts[i].update(p.alerts)
        bucket_warnings[i].update(p.warnings)
    return HistorySeries.model_construct(  # built here from checked rows: no per-value validation
        bad_points=0, start=start, end=end, step=step, tier_step=tier_step, times=times, samples=count,
        last=last, min=lo, max=hi, level=levels,
        error_rate=_bucket_error_rate(times, last.get("runs"), last.get("errors"), max(rate_window, step)),
        alerts=alert_spans(times, step, bucket_alerts, "alert") + alert_spans(times, step, bucket_warnings, "warning"),
    )


def _bucket_error_rate(times: Sequence[float], runs: list[Any] | None, errors: list[Any] | None,
                       window: float) -> list[float | None]:
    """Percent of cleanup runs that failed over the trailing ``window`` seconds of each
    bucket (from the cumulative totals: the latest bucket with data at least ``window``
    before, or the first one). None: no run in the window, unknown, or a counter reset."""
    if runs is None or errors is None or not times:
        return []
    n = len(times)
    step = times[1] - times[0] if n > 1 else window
    w = max(int(math.ceil(window / step - 1e-9)), 1)
    latest: list[int] = []  # index of the latest bucket with both totals, at or before each index
    last = -1
    for i, r, e in zip(range(n), runs, errors, strict=False):
        if r is not None and e is not None:
            last = i
        latest.append(last)
    first = next((i for i in range(n) if latest[i] == i), -1)
    out: list[float | None] = [None] * n
    for i in range(n):
        if latest[i] != i:
            continue
        j = latest[i - w] if i >= w else first
        if j < 0 or j == i:
            continue
        dr, de = runs[i] - runs[j], errors[i] - errors[j]
        if dr > 0 and 0 <= de <= dr:
            out[i] = 100.0 * de / dr
    return out


def alert_spans(times: Sequence[float], step: float, per_bucket: Sequence[AbstractSet[str] | None],
                kind: str) -> list[AlertSpan]:
    """Start / end of every alert type on the buckets (a bucket without data neither starts
    nor ends one; ``end`` None: still firing at the last bucket with data)."""
    open_: dict[str, float] = {}
    spans: list[AlertSpan] = []
    for t, types in zip(times, per_bucket, strict=False):
        if types is None or (not types and not open_):
            continue
        for typ in list(open_):
            if typ not in types:
                spans.append(AlertSpan(type=typ, kind=kind, start=open_.pop(typ), end=t))
        for typ in types:
            open_.setdefault(typ, t)
    spans.extend(AlertSpan(type=typ, kind=kind, start=s, end=None) for typ, s in open_.items())
    spans.sort(key=lambda s: (s.start, s.type))
    return spans


# -- trends and baselines (pure verdicts with their evidence) ------------------------------
def _values(points: Iterable[Point], field_: str, start: float, end: float) -> list[tuple[float, float]]:
    out = []
    for p in points:
        if start <= p.t <= end:
            v = p.row[INDEX[field_]]
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out.append((p.t, float(v)))
    return out


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of a non-empty sequence."""
    s = sorted(values)
    if len(s) == 1:
        return s[0]
    pos = (len(s) - 1) * q / 100.0
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def slope(xy: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope (y per x); None for fewer than two distinct x."""
    n = len(xy)
    if n < 2:
        return None
    mx = sum(x for x, _ in xy) / n
    my = sum(y for _, y in xy) / n
    sxx = sum((x - mx) ** 2 for x, _ in xy)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in xy) / sxx


def cleanup_duration_sustained(points: Sequence[Point], now: float, window: float, threshold_ms: float,
                               interval: float) -> TrendEvidence:
    """"Cleanup duration > threshold consistently": the *smallest* last-cleanup duration
    over the window (it exceeds the threshold only when every sample did). Unknown when the
    samples cover less than 80 % of the window."""
    vals = _values(points, "last_ms", now - window, now)
    ev = TrendEvidence(type="cleanup_duration_sustained", window_start=now - window, window_end=now,
                       samples=len(vals), threshold=threshold_ms)
    if len(vals) < 2 or vals[-1][0] - vals[0][0] + interval < 0.8 * window:
        ev.detail = "not enough history in the window"
        return ev
    low = min(v for _, v in vals)
    ev.value = round(low, 3)
    ev.fired = low > threshold_ms
    ev.detail = f"min {low:g} ms, max {max(v for _, v in vals):g} ms over {format_duration(window)}"
    return ev


def error_rate_trend(points: Sequence[Point], now: float, window: float, threshold_per_hour: float,
                     segments: int = 6) -> TrendEvidence:
    """"Error rate trending upward": the window is cut into ``segments``; each segment's
    cleanup error rate (failed runs / runs, from the cumulative totals) is a point, and the
    least-squares slope in percentage points per hour is the value. Unknown with fewer than
    three segments holding runs."""
    ev = TrendEvidence(type="error_rate_trend", window_start=now - window, window_end=now, threshold=threshold_per_hour)
    seg = window / segments
    pts: list[tuple[float, float]] = []
    runs = _values(points, "runs", now - window - seg, now)
    errs = dict(_values(points, "errors", now - window - seg, now))
    ev.samples = len(runs)
    rates: list[float] = []
    for k in range(segments):
        a, b = now - window + k * seg, now - window + (k + 1) * seg
        inside = [(t, r) for t, r in runs if a - seg / 2 <= t <= b and t in errs]
        before = [(t, r) for t, r in inside if t <= a] or inside[:1]
        if not inside or not before:
            continue
        t0, r0 = before[-1]
        t1, r1 = inside[-1]
        dr, de = r1 - r0, errs[t1] - errs[t0]
        if dr > 0 and 0 <= de <= dr:
            rate = 100.0 * de / dr
            pts.append(((a + b) / 2, rate))
            rates.append(rate)
    if len(pts) < 3:
        ev.detail = "fewer than 3 segments with cleanup runs"
        return ev
    s = slope(pts)
    if s is None:
        return ev
    ev.value = round(s * 3600.0, 3)
    ev.fired = ev.value > threshold_per_hour
    ev.detail = "segment error rates %: " + ", ".join(f"{r:.1f}" for r in rates)
    return ev


def baseline_band(points: Sequence[Point], now: float, days: int, half_window: float,
                  low_pct: float = 10.0, high_pct: float = 90.0) -> tuple[float, float, int, list[float]]:
    """Connections at the same time of day over the previous ``days`` days (±``half_window``):
    (p-low, p-high, days that had data, the values). Band is (nan, nan) without data."""
    vals: list[float] = []
    days_with = 0
    for d in range(1, days + 1):
        c = now - d * DAY
        got = [v for _, v in _values(points, "active", c - half_window, c + half_window)]
        if got:
            days_with += 1
            vals.extend(got)
    if not vals:
        return math.nan, math.nan, 0, []
    return percentile(vals, low_pct), percentile(vals, high_pct), days_with, vals


def baseline_deviation(points: Sequence[Point], now: float, current: int | None, days: int, half_window: float,
                       min_days: int, threshold_pct: float) -> TrendEvidence:
    """"Connections outside the baseline band": how far (percent of the band's edge) the
    current count lies outside p10-p90 of the same time of day over the previous days; 0
    inside the band. Unknown with fewer than ``min_days`` days of data or no current count."""
    lo, hi, days_with, vals = baseline_band(points, now, days, half_window)
    ev = TrendEvidence(type="baseline_deviation", window_start=now - days * DAY - half_window, window_end=now,
                       samples=len(vals), threshold=threshold_pct)
    if days_with < min_days or current is None:
        ev.detail = f"{days_with} day(s) of baseline (need {min_days})" if current is not None else "current count unknown"
        return ev
    ev.band_low, ev.band_high = round(lo, 3), round(hi, 3)
    if current > hi:
        dev = 100.0 * (current - hi) / max(hi, 1.0)
    elif current < lo:
        dev = 100.0 * (lo - current) / max(lo, 1.0)
    else:
        dev = 0.0
    ev.value = round(dev, 3)
    ev.fired = dev > threshold_pct
    ev.detail = f"{current} now vs p10-p90 {lo:g}-{hi:g} over {days_with} day(s) at this time of day"
    return ev


def capacity_forecast(points: Sequence[Point], now: float, window_days: float, capacity: int,
                      threshold_days: float, min_span: float = DAY) -> TrendEvidence:
    """Growth per day (least-squares slope of active connections over the window) and the
    days until ``capacity`` at that rate. Value: days to capacity (None when not growing,
    no capacity configured, or less than ``min_span`` of history)."""
    window = window_days * DAY
    vals = _values(points, "active", now - window, now)
    ev = TrendEvidence(type="days_to_capacity", window_start=now - window, window_end=now, samples=len(vals),
                       threshold=threshold_days)
    if capacity <= 0:
        ev.detail = "no capacity configured (SSE_CAPACITY_CONNECTIONS)"
        return ev
    if len(vals) < 2 or vals[-1][0] - vals[0][0] < min_span:
        ev.detail = "less than a day of history"
        return ev
    s = slope(vals)
    per_day = (s or 0.0) * DAY
    ev.growth_per_day = round(per_day, 3)
    current = vals[-1][1]
    if current >= capacity:
        ev.value = 0.0
    elif per_day <= 0:
        ev.detail = f"not growing ({per_day:+.1f}/day); capacity {capacity}"
        ev.fired = False
        return ev
    else:
        ev.value = round((capacity - current) / per_day, 2)
    ev.fired = ev.value < threshold_days
    ev.detail = f"{per_day:+.1f} connections/day, {current:g} now, capacity {capacity}"
    return ev


def trends(raw: Sequence[Point], rollup: Sequence[Point], now: float, cfg: Any, current: int | None) -> dict[str, TrendEvidence]:
    """Every trend verdict from the raw tier (recent hour) and the rollup tier (days)."""
    interval = float(cfg.HISTORY_INTERVAL_SECONDS)
    return {
        "cleanup_duration_sustained": cleanup_duration_sustained(
            raw, now, cfg.CLEANUP_DURATION_SUSTAINED_SECONDS, cfg.ALERT_CLEANUP_DURATION_MS, interval),
        "error_rate_trend": error_rate_trend(raw, now, cfg.ERROR_RATE_TREND_WINDOW_SECONDS,
                                             cfg.ALERT_ERROR_RATE_SLOPE_PERCENT_PER_HOUR),
        "baseline_deviation": baseline_deviation(rollup, now, current, cfg.BASELINE_DAYS,
                                                 cfg.BASELINE_WINDOW_SECONDS / 2, cfg.BASELINE_MIN_DAYS,
                                                 cfg.WARN_BASELINE_DEVIATION_PERCENT),
        "days_to_capacity": capacity_forecast(rollup, now, cfg.GROWTH_WINDOW_DAYS, cfg.CAPACITY_CONNECTIONS,
                                              cfg.WARN_DAYS_TO_CAPACITY),
    }
