"""The fleet history as a series: tiers, which tier answers a range, buckets, the error
rate (one definition for every range), alert spans, coverage (unknown is not zero, nor
'no data yet'), and the wire form."""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic_core import to_json

from ..durations import format_duration
from ..models import AlertSpan, FleetEvent, HistorySeries
from .codec import (
    _EMPTY,
    _LEVEL_OF,
    _NUM,
    _RMN,
    INDEX,
    MAX_POINTS,
    MAX_SERIES_WORKERS,
    NUMERIC,
    Point,
)
from .columns import (
    Columns,
    columns_from_points,
)


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
                   max_workers: int = MAX_SERIES_WORKERS, *, data_from: float | None = None,
                   marks: Sequence[FleetEvent] = ()) -> HistorySeries:
    """Columns (oldest first) -> columns on buckets ``[start + i*step, start + (i+1)*step)``
    up to and including the one that holds ``end`` (a sample taken at ``end`` is shown):
    ``last`` / ``min`` / ``max`` per field (a bucket without a sample is None), the worst
    level, the cleanup error rate (:func:`point_error_rates` at every stored point, the
    highest in each bucket; points read from before ``start`` only serve the rate's window),
    every alert's start and end, the per-worker counts of the last sample in each bucket
    that stored them (see :func:`_workers`), each bucket's :func:`coverage` (``data_from``:
    the tier's first stored sample) and the fleet events marked in the range.

    When each bucket holds at most one point (the 24 h read at the sample interval) the
    columns are placed on the buckets in C (one ``itemgetter`` per column, or the column
    itself when no bucket is empty); otherwise each bucket's slice is folded."""
    nb = max(int((end - start) // step) + 1, 1)
    times = list(map(operator.add, itertools.repeat(start), map(operator.mul, range(nb), itertools.repeat(step))))
    idx = list(map(int, map(operator.floordiv, map(operator.sub, c.t, itertools.repeat(start)),
                            itertools.repeat(step))))
    lo, hi = bisect.bisect_left(idx, 0), bisect.bisect_left(idx, nb)
    rate_points: list[float | None] | None = None
    if lo:  # points before the range (read for the error rate's window) count for the rate only
        rate_points = point_error_rates(c.t, c.last[INDEX["runs"] - 1], c.last[INDEX["errors"] - 1], rate_window)
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
    rates = point_error_rates(c.t, c.last[INDEX["runs"] - 1], c.last[INDEX["errors"] - 1], rate_window) \
        if rate_points is None else rate_points[lo:hi]
    first_known = next((f for f in ("active", "counter") if f in last), fields[0] if fields else None)
    return HistorySeries.model_construct(  # built here from checked columns: no per-value validation
        bad_points=bad_points, start=start, end=end, step=step, tier_step=tier_step, times=times, samples=count,
        last=last, min=lo_, max=hi_, level=list(map(_LEVEL_OF.get, codes)),
        error_rate=_bucket_max(rates, idx, nb),
        alerts=alert_spans(times, step, bucket_alerts, "alert") + alert_spans(times, step, bucket_warnings, "warning"),
        workers=workers, workers_omitted=omitted, error_rate_window=rate_window,
        coverage=coverage(count, last[first_known] if first_known else [None] * nb, times, step, data_from),
        data_from=data_from, marks=list(marks),
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


def point_error_rates(t: Sequence[float], runs: Sequence[Any], errors: Sequence[Any],
                      window: float) -> list[float | None]:
    """The cleanup error rate at every stored point, as ``/monitoring`` defines it: percent
    of the runs within the trailing ``window`` seconds that failed (from the cumulative
    totals: this point's against the latest point at least ``window`` older; a point with
    none that old compares with the first point read). None: no run in the window, a total
    unknown, or a counter reset. Every range reads the same rate for the same moment."""
    n = len(t)
    out: list[float | None] = [None] * n
    if not n:
        return out
    back = list(map(bisect.bisect_right, itertools.repeat(t), map(operator.sub, t, itertools.repeat(window))))
    for i in range(n):
        j = back[i] - 1
        if j < 0:
            j = 0
        if j >= i:
            continue
        r1, e1, r0, e0 = runs[i], errors[i], runs[j], errors[j]
        if type(r1) not in _NUM or type(e1) not in _NUM or type(r0) not in _NUM or type(e0) not in _NUM:
            continue
        dr, de = r1 - r0, e1 - e0
        if dr > 0 and 0 <= de <= dr:
            out[i] = 100.0 * de / dr
    return out


def _bucket_max(values: list[float | None], idx: Sequence[int], nb: int) -> list[float | None]:
    """The highest known value of each bucket (``idx``: each value's bucket; None: none)."""
    out: list[float | None] = [None] * nb
    for v, b in zip(values, idx, strict=True):
        if v is not None and 0 <= b < nb:
            cur = out[b]
            if cur is None or v > cur:
                out[b] = v
    return out


def coverage(samples: Sequence[int], known: Sequence[Any], times: Sequence[float], step: float,
             data_from: float | None) -> list[str]:
    """Per bucket: ``ok`` (a sample with known numbers), ``unknown`` (no sample, or a sample
    whose numbers are unknown, after the history began: an outage, the fleet down), or
    ``none`` (before the first stored sample: no data yet). Unknown is not zero, and not
    'no data yet' either."""
    out = []
    for n, v, t in zip(samples, known, times, strict=True):
        if n and v is not None:
            out.append("ok")
        elif data_from is None or t + step <= data_from:
            out.append("none")
        else:
            out.append("unknown")
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

