"""The fleet history read back: stored members decoded once into a list per field
(:class:`Columns`), and kept between reads (:class:`ColumnCache`: raw rows never change)."""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic_core import from_json

from .codec import (
    _NUM,
    _NUM_OR_NONE,
    _RMN,
    LEVEL_RANK,
    LEVELS,
    NUMERIC,
    ROW_ALERTS,
    ROW_LEVEL,
    ROW_WARNINGS,
    ROW_WIDTH,
    ROW_WORKERS,
    Point,
    _decode,
    _points,
    _types,
)

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

