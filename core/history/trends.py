"""PURE trend verdicts on the fleet history, each with the window it looked at, and their
form in the store (computed once per period for the fleet)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

from ..durations import DAY, format_duration
from ..models import TrendEvidence
from .codec import (
    INDEX,
    Point,
)

TREND_TYPES: tuple[str, ...] = ("cleanup_duration_sustained", "error_rate_trend", "baseline_deviation",
                                "days_to_capacity")  # each a HealthInputs field and a rule of core.health.RULES
TREND_REFRESH_SECONDS = 60.0  # how often a manager recomputes its trend verdicts


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
