"""PURE fleet history: the sample model, tiers, downsampling, series and trend verdicts.

The fleet appends one compact :class:`HistorySample` per interval (whichever worker holds
that interval's lease writes it; see ``StateStore.history_append``). Samples land in
*tiers*: the raw tier (one sample per interval, kept ``HISTORY_RAW_RETENTION_SECONDS``)
and a rollup tier (one point per ``HISTORY_ROLLUP_SECONDS``, kept
``HISTORY_ROLLUP_RETENTION_SECONDS``) whose points keep ``min`` / ``max`` / ``last`` of
every number, so a spike is never averaged away.

Stored point format (compact positional JSON, the same in both stores; the Redis Lua script
``history_append.lua`` and :func:`merge` below implement the same rollup):

* a *row* (what :meth:`HistorySample.to_row` returns, what a rollup point keeps):
  ``[t, active, counter, stale, active_recent, long_lived, very_old, runs, cleaned,
  errors, last_ms, avg_ms, level (0/1/2), [alerts], [warnings]]`` plus
  ``{worker: connections}`` once a minute (``null``: unknown);
* raw tier member (:meth:`HistorySample.to_member`): the same values *without brackets*,
  always ``ROW_WIDTH`` (16) of them: the alert / warning types joined by ``,`` into one
  string each, then ``null`` (the per-worker counts live in their own key, below; members
  written before that hold them here, and are still read). A read joins the members with
  ``,`` and parses them in one pass into one flat list of scalars (one container for the
  whole answer instead of three per row: no garbage-collector work), and each column is a
  slice ``flat[k::16]`` (see :func:`decode_columns`). Raw members written before this
  format (a JSON array per row: ``[t, ..., [alerts], [warnings], {workers}?]``) are still
  read, alone or mixed with new ones (a deployed fleet keeps 24 h of them);
* rollup tier: ``[bucket start, samples, last row, min row, max row, worst level,
  [every alert type], [every warning type]]`` (min / max rows hold the same positions);
* per-worker counts (:meth:`HistorySample.workers_member`, ``{ns}:history:workers``, kept
  as long as the raw tier): ``t,{worker: connections}`` (two values without brackets, the
  sample's time first), once a minute. They were half of a raw read's bytes; a read asks
  for them only when it shows them (:func:`decode_workers`, :func:`attach_workers`).

Everything here is a function of its arguments (no clock, no I/O): the trend verdicts
return their value *and* the window they looked at (:class:`~core.models.TrendEvidence`).
Unknown is never zero: a bucket without a sample is ``None``, a verdict without enough
data is ``None``.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import json
import math
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import from_json, to_json

from .durations import DAY
from .durations import format_duration as format_duration  # re-exported for older callers (core.asgi)
from .durations import parse_duration as parse_duration
from .models import HEALTH_LEVELS, AlertSpan, HistorySeries, MonitoringStats, TrendEvidence

NUMERIC: tuple[str, ...] = ("active", "counter", "stale", "active_recent", "long_lived", "very_old",
                            "runs", "cleaned", "errors", "last_ms", "avg_ms")
MAX_WORKERS = 32  # per-worker counts kept per sample (the largest)
MAX_POINTS = 10_000  # buckets one series may hold
MAX_SERIES_WORKERS = 64  # workers one series lists (a range may span restarts and deploys)
TREND_TYPES: tuple[str, ...] = ("cleanup_duration_sustained", "error_rate_trend", "baseline_deviation",
                                "days_to_capacity")  # each a HealthInputs field and a rule of core.health.RULES
TREND_REFRESH_SECONDS = 60.0  # how often a manager recomputes its trend verdicts
LEVEL_RANK: dict[str, int] = {level: i for i, level in enumerate(HEALTH_LEVELS)}  # stored as this code
LEVELS: tuple[str, ...] = HEALTH_LEVELS
INDEX: dict[str, int] = {f: i + 1 for i, f in enumerate(NUMERIC)}  # positions in a stored row (0 is t)
ROW_LEVEL, ROW_ALERTS, ROW_WARNINGS, ROW_WORKERS = 12, 13, 14, 15
ROW_WIDTH = ROW_WORKERS + 1  # values in a raw tier member (the flat format)
TYPES_SEPARATOR = ","  # joins a raw member's alert / warning types (rule names: identifiers)
WORKERS_EVERY_SECONDS = 60.0  # per-worker counts are stored once a minute (they dominate a sample's size)


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
        """The row as a JSON array: how raw members were stored before :meth:`to_member`
        (still read: see :func:`decode_columns`)."""
        return json.dumps(self.to_row(with_workers), separators=(",", ":"))

    def to_member(self, with_workers: bool = True) -> str:
        """The stored raw tier member (the flat format, see the module docstring): the row's
        values without brackets, the types joined, the per-worker counts or null."""
        sep = TYPES_SEPARATOR
        values: list[Any] = [self.t, *(getattr(self, f) for f in NUMERIC),
                             LEVEL_RANK.get(self.level) if self.level else None,
                             sep.join(a.replace(sep, "_") for a in self.alerts),
                             sep.join(w.replace(sep, "_") for w in self.warnings),
                             self.workers if with_workers and self.workers else None]
        return json.dumps(values, separators=(",", ":"))[1:-1]

    def workers_member(self) -> str | None:
        """The stored per-worker counts (``t,{worker: connections}``, see the module
        docstring); None when the sample lists none (nothing is stored: unknown)."""
        if not self.workers:
            return None
        return json.dumps([self.t, self.workers], separators=(",", ":"))[1:-1]


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
    return isinstance(r, list) and len(r) >= ROW_WARNINGS + 1 and type(r[0]) in _NUM and math.isfinite(r[0])


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


def _types(joined: str) -> tuple[str, ...]:
    """A raw member's joined alert / warning types -> the types."""
    return tuple(t for t in joined.split(TYPES_SEPARATOR) if t) if joined else ()


def _row_layout(r: Any) -> list[Any] | None:
    """The decoded values of a flat raw member -> the row layout (see the module
    docstring); None unless they are ``ROW_WIDTH`` values with the types as strings."""
    if (type(r) is list and len(r) == ROW_WIDTH and type(r[ROW_ALERTS]) is str
            and type(r[ROW_WARNINGS]) is str):
        row = [*r[:ROW_ALERTS], list(_types(r[ROW_ALERTS])), list(_types(r[ROW_WARNINGS]))]
        if r[ROW_WORKERS] is not None:
            row.append(r[ROW_WORKERS])
        return row
    return None


def _decode(members: Sequence[str]) -> list[Any]:
    """Stored members of any format (flat raw members, old JSON-array raw rows, rollup
    points) -> rows in the row layout (None for a member that is not JSON). One parse of
    the whole answer when it is clean: pydantic_core's JSON parser (a dependency already)
    is about twice ``json.loads``'s speed. The general path (the trend reads, old rows,
    malformed members); a raw read of flat members takes :func:`_flat_columns`."""
    flat = [m[:1] != "[" for m in members]  # old rows and rollup points are JSON arrays
    wrapped = ["[" + m + "]" if f else m for m, f in zip(members, flat, strict=True)]
    try:
        rows = from_json("[" + ",".join(wrapped) + "]") if wrapped else []
    except ValueError:
        rows = []
        for m in wrapped:
            try:
                rows.append(json.loads(m))
            except ValueError:
                rows.append(None)
    return [_row_layout(r) if f else r for r, f in zip(rows, flat, strict=True)]


def _points(rows: Sequence[Any]) -> tuple[list[Point], list[int]]:
    """Decoded rows -> (points, indices of the rows that are malformed)."""
    out: list[Point] = []
    append = out.append
    bad: list[int] = []
    num = _NUM
    level_of = _LEVEL_OF
    for i, row in enumerate(rows):
        # the raw row, inlined; anything else goes the long way
        if (type(row) is list and len(row) > ROW_WARNINGS and type(row[0]) in num and type(row[2]) is not list
                and math.isfinite(row[0])):
            lv, al, wa = row[ROW_LEVEL], row[ROW_ALERTS], row[ROW_WARNINGS]
            append(Point(row[0], 1, row, None, None, level_of.get(lv) if type(lv) is int else None,
                         al if type(al) is list else (), wa if type(wa) is list else ()))
            continue
        p = point_from_row(row)
        if p is None:
            bad.append(i)
        else:
            append(p)
    return out, bad


def parse_points(members: Sequence[str]) -> tuple[list[Point], int]:
    """Stored members of any format (oldest first) -> (points, how many were malformed and skipped)."""
    points, bad = _points(_decode(members))
    return points, len(bad)


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


# -- columns: a read decoded once into a list per field ------------------------------------
_NUM_TYPES = frozenset((int, float))
_LEVEL_CODES = frozenset((*range(len(LEVELS)), None))
_INT_OR_NONE = frozenset((int, type(None)))
_INT = frozenset((int,))
_STR = frozenset((str,))
_DICT_OR_NONE = frozenset((dict, type(None)))
_NO_WORKERS: dict[str, int] = {}


@dataclass(slots=True)
class Columns:
    """Stored points of one read in columns, oldest first. A 24 h raw read is 8,640 points:
    a list per field (instead of an object per point) keeps the parse, the cache and the
    series build in C loops (zip, slices, map). Every value is checked once, when decoded: a
    stored value that is not a number reads as None (unknown). ``mn`` / ``mx`` are the very
    lists of ``last`` for raw samples (a sample is its own min and max). ``workers``: per
    point, the per-worker counts that sample stored (None: it stored none); None for a
    rollup tier, which keeps none."""

    t: list[float]
    n: list[int]  # samples folded into each point (1 for a raw sample)
    last: list[list[Any]]  # per NUMERIC field
    mn: list[list[Any]]
    mx: list[list[Any]]
    level: list[int | None]  # the (worst) level's code
    alerts: list[Sequence[str]]  # tuples (the same tuple for the same types: never mutated)
    warnings: list[Sequence[str]]
    workers: list[dict[str, int] | None] | None

    @classmethod
    def empty(cls, raw: bool) -> Columns:
        last: list[list[Any]] = [[] for _ in NUMERIC]
        return cls([], [], last, last if raw else [[] for _ in NUMERIC], last if raw else [[] for _ in NUMERIC],
                   [], [], [], [] if raw else None)

    def __len__(self) -> int:
        return len(self.t)

    def _map(self, fn: Any) -> Columns:
        """A Columns of ``fn(list)`` for every list (the shared min / max lists stay shared)."""
        last = [fn(c) for c in self.last]
        raw = self.mn is self.last
        return Columns(fn(self.t), fn(self.n), last, last if raw else [fn(c) for c in self.mn],
                       last if raw else [fn(c) for c in self.mx], fn(self.level), fn(self.alerts),
                       fn(self.warnings), None if self.workers is None else fn(self.workers))

    def _own(self) -> list[list[Any]]:
        """Every list once (a raw Columns' min / max lists are its ``last`` lists)."""
        lists: list[list[Any]] = [self.t, self.n, *self.last, self.level, self.alerts, self.warnings]
        if self.mn is not self.last:
            lists += [*self.mn, *self.mx]
        if self.workers is not None:
            lists.append(self.workers)
        return lists

    def splice(self, cut: int, more: Columns) -> None:
        """In place: drop the points from ``cut`` on, append ``more``'s (the same tier)."""
        for mine, theirs in zip(self._own(), more._own(), strict=True):
            del mine[cut:]
            mine.extend(theirs)

    def drop(self, first: int) -> None:
        """In place: forget the ``first`` oldest points."""
        for mine in self._own():
            del mine[:first]

    def take(self, lo: int, hi: int | None = None) -> Columns:
        """Points ``lo:hi`` (copies: the caller may keep or hand out the lists)."""
        return self._map(lambda c: c[lo:hi])


def _numbers(col: Sequence[Any]) -> list[Any]:
    """A column of numbers: anything that is not an int or a float (a bool, a string...) is
    None. A list is checked in place (the caller's own column)."""
    out = col if type(col) is list else list(col)
    if not set(map(type, out)) <= _NUM_OR_NONE:
        out = [v if type(v) in _NUM else None for v in out]
    return out


def _strings(col: Sequence[Any]) -> list[Sequence[str]]:
    """A column of alert / warning type lists -> tuples (() for anything that is not a
    list; only strings kept)."""
    out = list(col)
    if set(map(type, out)) != {list}:
        out = [v if type(v) is list else [] for v in out]
    for i in itertools.compress(range(len(out)), out):  # the non-empty ones (few)
        if not all(type(x) is str for x in out[i]):
            out[i] = [x for x in out[i] if type(x) is str]
    return list(map(tuple, out))


def _worker_counts(col: Sequence[Any]) -> list[dict[str, int] | None]:
    """A column of per-worker counts ({worker: connections}; None: none stored, or not counts)."""
    return [d if type(d) is dict and set(map(type, d.values())) <= {int} else None for d in col]


def _raw_columns(rows: list[Any]) -> Columns | None:
    """Raw rows -> Columns, all in C loops; None when a row is not of the raw shape (the
    caller then goes row by row)."""
    if set(map(type, rows)) != {list}:
        return None
    lengths = set(map(len, rows))
    if min(lengths) < ROW_WARNINGS + 1 or max(lengths) > ROW_WORKERS + 1:
        return None
    cols = list(itertools.zip_longest(*rows))  # a row without per-worker counts pads with None
    if (not set(map(type, cols[0])) <= _NUM_TYPES or not all(map(math.isfinite, cols[0]))
            or list in set(map(type, cols[2]))):
        return None
    level = list(cols[ROW_LEVEL])
    if not (set(map(type, level)) <= _INT_OR_NONE and set(level) <= _LEVEL_CODES):
        level = [v if type(v) is int and 0 <= v < len(LEVELS) else None for v in level]
    last = [_numbers(cols[i]) for i in range(1, ROW_LEVEL)]
    workers: list[dict[str, int] | None] = (_worker_counts(cols[ROW_WORKERS]) if len(cols) > ROW_WORKERS
                                             else [None] * len(rows))
    return Columns(list(map(float, cols[0])), [1] * len(rows), last, last, last, level,
                   _strings(cols[ROW_ALERTS]), _strings(cols[ROW_WARNINGS]), workers)


def columns_from_points(points: Sequence[Point], raw: bool = True) -> Columns:
    """Points (any tier, oldest first) -> Columns. ``raw``: the tier keeps per-worker counts."""
    if not points:
        return Columns.empty(raw)
    if raw and not any(map(_RMN, points)):
        cols = _raw_columns([p.row[:ROW_WORKERS + 1] for p in points])
        if cols is not None:
            return cols
    rows = [p.row for p in points]
    last = [_numbers(c) for c in list(zip(*rows, strict=False))[1:ROW_LEVEL]]
    mn = [_numbers(c) for c in list(zip(*[p.rmn or p.row for p in points], strict=False))[1:ROW_LEVEL]]
    mx = [_numbers(c) for c in list(zip(*[p.rmx or p.row for p in points], strict=False))[1:ROW_LEVEL]]
    return Columns([float(p.t) for p in points], [p.n for p in points], last, mn, mx,
                   [LEVEL_RANK.get(p.level) if p.level else None for p in points],
                   _strings([list(p.alerts) for p in points]), _strings([list(p.warnings) for p in points]),
                   _worker_counts([p.row[ROW_WORKERS] if len(p.row) > ROW_WORKERS else None for p in points])
                   if raw else None)


def _flat_columns(members: Sequence[str]) -> Columns | None:
    """Raw members, every one of the flat format and well formed -> Columns with no Python
    loop per member: the members joined with ``,`` are parsed in one pass into one flat
    list of scalars (no container per row: nothing for the garbage collector), each column
    is a slice ``flat[k::ROW_WIDTH]`` and is type-checked whole (C loops). None otherwise
    (an old-format row, a malformed member): the caller then goes the general way.

    Alignment: the values must number ``ROW_WIDTH`` per member, and a member of the wrong
    width would shift every later value into a neighbouring column, where the check fails
    (t is a finite number, the two type columns strings, the last column an object or
    null: no shift keeps all of them)."""
    body = ",".join(members)
    if "[" in body:  # an old-format row (or a "[" inside a string: the general way is still right)
        return None
    try:
        flat = from_json("[" + body + "]")
    except ValueError:
        return None
    if type(flat) is not list or len(flat) != ROW_WIDTH * len(members):
        return None
    cols = [flat[k::ROW_WIDTH] for k in range(ROW_WIDTH)]
    t, alerts, warnings, workers = cols[0], cols[ROW_ALERTS], cols[ROW_WARNINGS], cols[ROW_WORKERS]
    t_types = set(map(type, t))
    if (not t_types <= _NUM_TYPES or not math.isfinite(sum(t))  # any inf or nan makes the sum so
            or not set(map(type, alerts)) | set(map(type, warnings)) <= _STR
            or not set(map(type, workers)) <= _DICT_OR_NONE):
        return None
    level = cols[ROW_LEVEL]
    if not (set(map(type, level)) <= _INT_OR_NONE and set(level) <= _LEVEL_CODES):
        level = [v if type(v) is int and 0 <= v < len(LEVELS) else None for v in level]
    last = [_numbers(cols[i]) for i in range(1, ROW_LEVEL)]
    for i in itertools.compress(range(len(workers)), workers):  # the per-worker samples (one a minute)
        if not set(map(type, workers[i].values())) <= _INT:
            workers[i] = None
    types = {joined: _types(joined) for joined in set(alerts) | set(warnings)}  # one tuple per distinct value
    return Columns(t if float in t_types and len(t_types) == 1 else list(map(float, t)), [1] * len(t), last, last,
                   last, level, list(map(types.__getitem__, alerts)), list(map(types.__getitem__, warnings)),
                   workers)


def decode_columns(members: Sequence[str], raw: bool = True) -> tuple[Columns, list[int]]:
    """Stored members (oldest first) -> (Columns, indices of the malformed members, skipped).
    ``raw``: the raw tier (its points keep per-worker counts). Raw members of the flat
    format take :func:`_flat_columns`; old-format rows (alone or mixed with flat ones),
    malformed members and rollup points are decoded row by row (:func:`_decode`)."""
    if raw and members:
        flat = _flat_columns(members)
        if flat is not None:
            return flat, []
    rows = _decode(members)
    if raw and rows:
        cols = _raw_columns(rows)
        if cols is not None:
            return cols, []
    points, bad = _points(rows)
    return columns_from_points(points, raw), bad


def _counts(d: Any) -> bool:
    return type(d) is dict and set(map(type, d.values())) <= _INT


def decode_workers(members: Sequence[str]) -> tuple[list[float], list[dict[str, int]]]:
    """Stored per-worker members (``t,{worker: connections}``, oldest first) -> (times,
    counts). One parse of the joined members when they are clean (every second value a
    time, every other an object of ints); otherwise member by member, a malformed one
    skipped (its minute's per-worker counts read as unknown, like a minute without them)."""
    if not members:
        return [], []
    try:
        flat = from_json("[" + ",".join(members) + "]")
    except ValueError:
        flat = None
    if type(flat) is list and len(flat) == 2 * len(members):
        t, counts = flat[0::2], flat[1::2]
        if (set(map(type, t)) <= _NUM_TYPES and math.isfinite(sum(t)) and set(map(type, counts)) == {dict}
                and all(map(_counts, counts))):
            return list(map(float, t)), counts
    times: list[float] = []
    out: list[dict[str, int]] = []
    for m in members:
        try:
            pair = from_json("[" + m + "]")
        except ValueError:
            continue
        if (type(pair) is list and len(pair) == 2 and type(pair[0]) in _NUM_TYPES and math.isfinite(pair[0])
                and _counts(pair[1])):
            times.append(float(pair[0]))
            out.append(pair[1])
    return times, out


def attach_workers(cols: Columns, times: Sequence[float], counts: Sequence[dict[str, int]]) -> Columns:
    """``cols`` (raw points, oldest first) with the per-worker counts of their own key put
    on the points of the same time (``times`` sorted). A point that already carries counts
    (a row written before they had their own key) keeps them; counts whose sample is not
    among the points (trimmed, malformed) are left out: they belong to a sample."""
    col: list[dict[str, int] | None] = list(cols.workers) if cols.workers is not None else [None] * len(cols.t)
    t = cols.t
    n = len(t)
    if n and times:
        lo, hi = bisect.bisect_left(times, t[0]), bisect.bisect_right(times, t[-1])
        for wt, d in zip(times[lo:hi], counts[lo:hi], strict=True):  # once a minute: 1,440 in 24 h
            i = bisect.bisect_left(t, wt)
            if i < n and t[i] == wt and col[i] is None:
                col[i] = d
    return Columns(cols.t, cols.n, cols.last, cols.mn, cols.mx, cols.level, cols.alerts, cols.warnings, col)


def without_workers(cols: Columns) -> Columns:
    """``cols`` without per-worker counts (a series of it has ``workers`` None: not asked)."""
    return Columns(cols.t, cols.n, cols.last, cols.mn, cols.mx, cols.level, cols.alerts, cols.warnings, None)


class ColumnCache:
    """The raw tier's points a reader already holds, in columns. A raw row never changes
    once written (it is only trimmed), so a repeated read fetches only what is newer than
    the cache (re-reading ``overlap`` seconds, for a sample its lease winner wrote late) and
    keeps the rest: the 24 h read the dashboard repeats costs a few rows of transport and
    parsing. The times of malformed stored points are kept too, so ``bad_points`` counts
    the whole range on every read. The cache covers ``[start, newest]``; a range starting
    earlier is read whole. The per-worker counts (their own key) are cached alike, apart
    (``workers_read_from`` .. ``update_workers``), and read only by the reads that show
    them. Callers serialize ``read_from`` .. ``update`` (the manager holds a lock)."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.cols = Columns.empty(True)
        self.bad: list[float] = []  # times of malformed stored points, sorted
        self.workers_start: float | None = None
        self.workers_t: list[float] = []  # the per-worker counts' times, sorted
        self.workers: list[dict[str, int]] = []

    def clear(self) -> None:
        self.start = None
        self.cols = Columns.empty(True)
        self.bad = []
        self.workers_start = None
        self.workers_t, self.workers = [], []

    def workers_read_from(self, start: float, overlap: float) -> float:
        """Where the next read of the per-worker counts must start (as :meth:`read_from`)."""
        if self.workers_start is None or start < self.workers_start or not self.workers_t:
            return start
        return max(start, self.workers_t[-1] - overlap)

    def update_workers(self, start: float, read_from: float, times: list[float], counts: list[dict[str, int]],
                       keep_from: float) -> tuple[list[float], list[dict[str, int]]]:
        """Merge a read of the per-worker counts of ``[read_from, end]`` (as :meth:`update`);
        return the cached (times, counts) (the caller takes the range's part)."""
        if read_from == start:
            self.workers_t, self.workers = times, counts
            start_cached = start
        else:
            cut = bisect.bisect_left(self.workers_t, read_from)
            del self.workers_t[cut:], self.workers[cut:]
            self.workers_t.extend(times)
            self.workers.extend(counts)
            start_cached = self.workers_start if self.workers_start is not None else start
        keep_from = min(keep_from, start)
        if (first := bisect.bisect_left(self.workers_t, keep_from)) > 0:
            del self.workers_t[:first], self.workers[:first]
        self.workers_start = max(start_cached, keep_from)
        return self.workers_t, self.workers

    def read_from(self, start: float, overlap: float) -> float:
        """Where the next store read must start for a range beginning at ``start``."""
        if self.start is None or start < self.start or not self.cols.t:
            return start
        return max(start, self.cols.t[-1] - overlap)

    def update(self, start: float, read_from: float, fresh: Columns, fresh_bad: Sequence[float],
               keep_from: float) -> tuple[Columns, int]:
        """Merge a store read of ``[read_from, end]`` (``fresh_bad``: the times of the
        malformed points it skipped); forget what is older than ``keep_from`` (the tier's
        retention); return the points of ``[start, end]`` and how many malformed points
        that range holds."""
        if read_from == start:  # read whole: the cache restarts there (it never holds a hole)
            self.cols, bad = fresh, sorted(fresh_bad)
            start_cached = start
        else:  # in place: the cost is the new points', not the day's
            self.cols.splice(bisect.bisect_left(self.cols.t, read_from), fresh)
            bad = self.bad[:bisect.bisect_left(self.bad, read_from)] + sorted(fresh_bad)
            start_cached = self.start if self.start is not None else start
        keep_from = min(keep_from, start)  # never forget what this range asked for
        if (first := bisect.bisect_left(self.cols.t, keep_from)) > 0:
            self.cols.drop(first)
        self.bad = bad[bisect.bisect_left(bad, keep_from):]
        self.start = max(start_cached, keep_from)
        return (self.cols.take(bisect.bisect_left(self.cols.t, start)),
                len(self.bad) - bisect.bisect_left(self.bad, start))


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
    """:func:`series_columns` of points (oldest first; raw samples or rollup points)."""
    raw = not any(map(_RMN, points))
    return series_columns(columns_from_points(points, raw), start, end, step, tier_step, fields, rate_window)


def _place(idx: list[int], n: int, nb: int) -> Any:
    """For at most one point per bucket (``idx`` strictly increasing): a function putting a
    column's values on the ``nb`` buckets (``fill`` where a bucket has no point)."""
    if n == nb:  # every bucket has its point: the column is the grid
        return lambda col, fill=None: list(col)
    if n and idx[-1] - idx[0] == n - 1:  # no hole inside (the common case: the newest bucket is empty)
        head, tail = idx[0], nb - idx[0] - n

        def padded(col: Sequence[Any], fill: Any = None) -> list[Any]:
            out = [fill] * head
            out += col  # one copy of the column
            out += [fill] * tail
            return out
        return padded
    pos = [n] * nb  # bucket -> index of its point (n: none, the fill value appended)
    for j, i in enumerate(idx):
        pos[i] = j
    if nb == 1:
        return lambda col, fill=None: [[*col, fill][pos[0]]]
    get = operator.itemgetter(*pos)
    return lambda col, fill=None: list(get([*col, fill]))


def _per_bucket(col: list[Any], starts: list[int], ends: list[int], how: str) -> list[Any]:
    """The ``how`` (last / min / max) of each bucket's known values (None: none)."""
    parts = [col[a:b] for a, b in zip(starts, ends, strict=True)]
    if None in col:
        parts = [[v for v in p if v is not None] for p in parts]
    if how == "last":
        return [p[-1] if p else None for p in parts]
    fn = min if how == "min" else max
    return [fn(p) if p else None for p in parts]


def series_columns(c: Columns, start: float, end: float, step: float, tier_step: float,
                   fields: Sequence[str] = NUMERIC, rate_window: float = 600.0, bad_points: int = 0,
                   max_workers: int = MAX_SERIES_WORKERS) -> HistorySeries:
    """Columns (oldest first) -> columns on buckets ``[start + i*step, start + (i+1)*step)``
    up to and including the one that holds ``end`` (a sample taken at ``end`` is shown):
    ``last`` / ``min`` / ``max`` per field (a bucket without a sample is None), the worst
    level, the cleanup error rate (failed runs / runs over the trailing ``rate_window``
    seconds, from the cumulative totals), every alert's start and end, and the per-worker
    counts of the last sample in each bucket that stored them (see :func:`_workers`).

    When each bucket holds at most one point (the 24 h read at the sample interval) the
    columns are placed on the buckets in C (one ``itemgetter`` per column, or the column
    itself when no bucket is empty); otherwise each bucket's slice is folded."""
    nb = max(int((end - start) // step) + 1, 1)
    times = list(map(operator.add, itertools.repeat(start), map(operator.mul, range(nb), itertools.repeat(step))))
    idx = list(map(int, map(operator.floordiv, map(operator.sub, c.t, itertools.repeat(start)),
                            itertools.repeat(step))))
    lo, hi = bisect.bisect_left(idx, 0), bisect.bisect_left(idx, nb)
    if lo or hi < len(idx):
        c, idx = c.take(lo, hi), idx[lo:hi]
    n = len(idx)
    pick = [INDEX[f] - 1 for f in fields]
    raw = c.mn is c.last
    bucket_workers: list[dict[str, int] | None] | None
    if all(map(operator.lt, idx, itertools.islice(idx, 1, None))):  # at most one point per bucket
        place = _place(idx, n, nb)
        last = {f: place(c.last[k]) for f, k in zip(fields, pick, strict=True)}
        lo_ = last if raw else {f: place(c.mn[k]) for f, k in zip(fields, pick, strict=True)}
        hi_ = last if raw else {f: place(c.mx[k]) for f, k in zip(fields, pick, strict=True)}
        count = place(c.n, 0)
        codes = place(c.level)
        bucket_alerts: list[Any] = place(c.alerts)
        bucket_warnings: list[Any] = place(c.warnings)
        bucket_workers = place(c.workers) if c.workers is not None else None
    else:  # several points in a bucket: fold each bucket's slice
        bounds = [bisect.bisect_left(idx, b) for b in range(nb + 1)]
        starts, ends = bounds[:-1], bounds[1:]
        last = {f: _per_bucket(c.last[k], starts, ends, "last") for f, k in zip(fields, pick, strict=True)}
        lo_ = {f: _per_bucket(c.mn[k], starts, ends, "min") for f, k in zip(fields, pick, strict=True)}
        hi_ = {f: _per_bucket(c.mx[k], starts, ends, "max") for f, k in zip(fields, pick, strict=True)}
        count = [sum(c.n[a:b]) for a, b in zip(starts, ends, strict=True)]
        codes = _per_bucket(c.level, starts, ends, "max")
        bucket_alerts = [None if a == b else set().union(*c.alerts[a:b]) if any(c.alerts[a:b]) else _EMPTY
                         for a, b in zip(starts, ends, strict=True)]
        bucket_warnings = [None if a == b else set().union(*c.warnings[a:b]) if any(c.warnings[a:b]) else _EMPTY
                           for a, b in zip(starts, ends, strict=True)]
        bucket_workers = _per_bucket(c.workers, starts, ends, "last") if c.workers is not None else None
    workers, omitted = _workers(bucket_workers, max_workers) if bucket_workers is not None else (None, 0)
    return HistorySeries.model_construct(  # built here from checked columns: no per-value validation
        bad_points=bad_points, start=start, end=end, step=step, tier_step=tier_step, times=times, samples=count,
        last=last, min=lo_, max=hi_, level=list(map(_LEVEL_OF.get, codes)),
        error_rate=_bucket_error_rate(times, last.get("runs"), last.get("errors"), max(rate_window, step)),
        alerts=alert_spans(times, step, bucket_alerts, "alert") + alert_spans(times, step, bucket_warnings, "warning"),
        workers=workers, workers_omitted=omitted,
    )


def _workers(per_bucket: list[dict[str, int] | None], limit: int) -> tuple[dict[str, list[int | None]], int]:
    """worker -> its connections in each bucket, for the workers the range's samples list
    (at most ``limit``: those with the most connections at their peak; the number left out
    is returned too). None where unknown: the bucket has no per-worker sample (they are
    stored once a minute), or that sample did not list the worker (it was not alive then,
    or not among the MAX_WORKERS largest)."""
    nb = len(per_bucket)
    present = list(itertools.compress(range(nb), map(operator.is_not, per_bucket, itertools.repeat(None))))
    samples: list[dict[str, int]] = [per_bucket[i] for i in present]  # type: ignore[misc]
    seen: set[str] = set().union(*samples)
    known = functools.partial(operator.is_not, None)
    values: dict[str, list[int | None]] = {w: list(map(dict.get, samples, itertools.repeat(w))) for w in seen}
    peak: dict[str, int] = {w: max(v) if None not in v else max(filter(known, v))  # type: ignore[type-var,misc]
                            for w, v in values.items()}
    chosen = sorted(sorted(peak, key=lambda w: (-peak[w], w))[:limit])
    if len(present) == nb:
        return {w: values[w] for w in chosen}, len(seen) - len(chosen)
    k = present[1] - present[0] if len(present) > 1 else 1
    if present and present == list(range(present[0], present[-1] + 1, k)):  # evenly spaced (once a minute)
        sl = slice(present[0], present[-1] + 1, k)
        out: dict[str, list[int | None]] = {}
        for w in chosen:
            col = out[w] = [None] * nb
            col[sl] = values[w]
        return out, len(seen) - len(chosen)
    pos = [len(present)] * nb  # bucket -> its sample (len(present): none, None appended)
    for j, i in enumerate(present):
        pos[i] = j
    get = operator.itemgetter(*pos)
    out = {w: list(get([*values[w], None])) if nb > 1 else [[*values[w], None][pos[0]]] for w in chosen}
    return out, len(seen) - len(chosen)


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
    bounds = _known_span(runs)
    if bounds is not None and bounds == _known_span(errors):  # the common case: no gap within the data
        return _dense_error_rate(runs, errors, bounds[0], bounds[1], w, n)
    # in C loops (a 24 h read is 8,640 buckets): the latest bucket with both totals at or
    # before each bucket (``latest``), the bucket each one is compared with (``before``)
    ok = list(map(operator.and_, map(operator.is_not, runs, itertools.repeat(None)),
                  map(operator.is_not, errors, itertools.repeat(None))))
    if True not in ok:
        return [None] * n
    first = ok.index(True)
    gaps = list(itertools.compress(range(n), map(operator.not_, ok)))
    last = n - 1 - ok[::-1].index(True)
    if (inside := bisect.bisect_right(gaps, first)) == len(gaps) or gaps[inside] > last:  # no gap within the data
        return _dense_error_rate(runs, errors, first, last, w, n)
    marks = list(range(n))
    for i in gaps:
        marks[i] = -1
    latest = list(itertools.accumulate(marks, max))
    before = [first] * min(w, n) + latest[:max(n - w, 0)]
    a, b = min(w, n), min(w + first, n)  # compared with nothing: a window back lies before any data
    before[a:b] = [first] * (b - a)
    filled = [first] * first + latest[first:]  # a gap reads its latest bucket's totals (masked below)
    rf = list(map(runs.__getitem__, filled))
    ef = list(map(errors.__getitem__, filled))
    dr = map(operator.sub, rf, map(rf.__getitem__, before))
    de = map(operator.sub, ef, map(ef.__getitem__, before))
    out = _rates(list(dr), list(de))
    for i in gaps:
        out[i] = None
    out[a:b] = [None] * (b - a)
    return out


def _known_span(col: list[Any]) -> tuple[int, int] | None:
    """(first, last) index of the known values when none is missing between them; else None."""
    known = map(operator.is_not, col, itertools.repeat(None))
    first = next(itertools.compress(itertools.count(), known), None)
    if first is None:
        return None
    last = len(col) - 1 - next(itertools.compress(itertools.count(), map(operator.is_not, reversed(col),
                                                                         itertools.repeat(None))))
    return (first, last) if None not in col[first:last + 1] else None


def _rates(dr: list[Any], de: list[Any]) -> list[float | None]:
    """Percent of the runs that failed, per bucket (None: no run, or a counter reset);
    in C when every bucket is valid (the common case)."""
    if dr and min(dr) > 0 and min(de) >= 0 and all(map(operator.le, de, dr)):
        return list(map(operator.truediv, map(operator.mul, itertools.repeat(100.0), de), dr))
    return [100.0 * e / r if r > 0 and 0 <= e <= r else None for r, e in zip(dr, de, strict=True)]


def _dense_error_rate(runs: list[Any], errors: list[Any], first: int, last: int, w: int,
                      n: int) -> list[float | None]:
    """:func:`_bucket_error_rate` when the totals are known on every bucket from ``first``
    to ``last`` (gaps only before and after): the same values, with slices instead of the
    latest-bucket bookkeeping. Bucket i compares with bucket i - w; one whose window
    reaches before bucket 0 compares with ``first``; one whose window reaches before
    ``first`` (but not before bucket 0) is None."""
    out: list[float | None] = [None] * n
    lo, hi = first, min(w, last + 1)  # windows reaching before bucket 0: compared with the first bucket
    if lo < hi:
        r0, e0 = runs[first], errors[first]
        out[lo:hi] = _rates([r - r0 for r in runs[lo:hi]], [e - e0 for e in errors[lo:hi]])
    lo = max(first + w, w)
    if lo <= last:
        out[lo:last + 1] = _rates(list(map(operator.sub, runs[lo:last + 1], runs[lo - w:last + 1 - w])),
                                  list(map(operator.sub, errors[lo:last + 1], errors[lo - w:last + 1 - w])))
    return out


def alert_spans(times: Sequence[float], step: float, per_bucket: Sequence[Iterable[str] | None],
                kind: Literal["alert", "warning"]) -> list[AlertSpan]:
    """Start / end of every alert type on the buckets (a bucket without data neither starts
    nor ends one; ``end`` None: still firing at the last bucket with data). Runs of buckets
    of buckets holding the very same object are visited once: a 24 h read is 8,640 buckets,
    and the decoded columns share one tuple per distinct value (equal objects that are not
    the same one are merely visited again: nothing opens or closes then)."""
    open_: dict[str, float] = {}
    spans: list[AlertSpan] = []
    m = min(len(per_bucket), len(times))
    changes = itertools.compress(range(1, m), map(operator.is_not, itertools.islice(per_bucket, 1, m), per_bucket))
    for i in itertools.chain((0,) if m else (), changes):
        types = per_bucket[i]
        if types is None or (not types and not open_):
            continue
        t = times[i]
        for typ in list(open_):
            if typ not in types:  # model_construct: the fields are checked strings and times
                spans.append(AlertSpan.model_construct(type=typ, kind=kind, start=open_.pop(typ), end=t))
        for typ in types:
            open_.setdefault(typ, t)
    spans.extend(AlertSpan.model_construct(type=typ, kind=kind, start=s, end=None) for typ, s in open_.items())
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


# -- the wire ------------------------------------------------------------------------------
def series_json(s: HistorySeries) -> bytes:
    """``s.model_dump_json()``, the same JSON, several times cheaper for a 24 h read: every
    column is encoded by pydantic-core with no schema (no per-value union check), and a list
    the series holds under several names (``min`` / ``max`` are ``last``'s lists when each
    bucket holds one sample) is encoded once."""
    done: dict[int, bytes] = {}

    def enc(value: Any) -> bytes:
        if type(value) is list:
            got = done.get(id(value))
            if got is None:
                got = done[id(value)] = to_json(value, inf_nan_mode="null")
            return got
        if type(value) is dict:
            return b"{" + b",".join(to_json(k) + b":" + enc(v) for k, v in value.items()) + b"}"
        return to_json(value, inf_nan_mode="null")

    return b"{" + b",".join(to_json(name) + b":" + enc(getattr(s, name)) for name in type(s).model_fields) + b"}"


# -- the fleet's trend verdicts, computed once per period and shared through the store ------
def trends_to_json(verdicts: dict[str, TrendEvidence], at: float, by: str) -> str:
    """The stored form of one period's verdicts: when (the fleet's clock), who computed
    them, and every verdict with its evidence."""
    return json.dumps({"at": at, "by": by, "verdicts": [v.model_dump(mode="json") for v in verdicts.values()]},
                      separators=(",", ":"))


def trends_from_json(body: str | None, now: float, max_age: float) -> tuple[dict[str, TrendEvidence], float] | None:
    """(verdicts, computed at) from :func:`trends_to_json`; None when missing, malformed or
    older than ``max_age`` seconds at ``now`` (unknown: never a stale or false "fine")."""
    if not body:
        return None
    try:
        doc = json.loads(body)
        at = float(doc["at"])
        verdicts = {v.type: v for v in (TrendEvidence.model_validate(x) for x in doc["verdicts"])}
    except (ValueError, TypeError, KeyError):  # pydantic's ValidationError is a ValueError
        return None
    if not math.isfinite(at) or now - at > max_age or at - now > max_age:
        return None
    return verdicts, at
