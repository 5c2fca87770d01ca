"""The fleet history's stored format: a sample, a stored point, the rollup rules.

Stored point format (compact positional JSON, the same in both stores; the Redis Lua script
the rollup rules are :func:`merge` / :func:`fold`, and both stores write what they give):

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
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import from_json

from ..models import HEALTH_LEVELS, MonitoringStats

NUMERIC: tuple[str, ...] = ("active", "counter", "stale", "active_recent", "long_lived", "very_old",
                            "runs", "cleaned", "errors", "last_ms", "avg_ms")
MAX_WORKERS = 32  # per-worker counts kept per sample (the largest)
MAX_POINTS = 10_000  # buckets one series may hold
MAX_SERIES_WORKERS = 64  # workers one series lists (a range may span restarts and deploys)
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


def fold(old: str | None, sample: HistorySample, bucket: float) -> str:
    """The stored rollup point of ``bucket`` with ``sample`` folded in (:func:`merge`; an old
    point that is missing or malformed starts a new one). Both stores write what this
    returns: the rollup rules live here only."""
    agg: list[Any] | None = None
    if old:
        try:
            dec = json.loads(old)
        except ValueError:
            dec = None
        if point_from_row(dec) is not None and isinstance(dec[2], list):
            agg = dec
    if agg is None:
        agg = new_rollup(bucket)
    return json.dumps(merge(agg, sample.to_row(False)), separators=(",", ":"))

