"""PURE functions: from counters to the guide's rates and sections. No I/O, no clock."""

from __future__ import annotations

import dataclasses

from .models import AgeBucket, AgeCounts, CleanupCounters, CleanupStats, PerformanceMetrics

# Age histogram edges in seconds (finer than the guide's four classes; 5 min, 1 h and 6 h
# are edges so the dashboard can mark the stale, long-lived and very-old lines).
AGE_EDGES: tuple[float, ...] = (0, 60, 300, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400)


def percent(part: float, whole: float) -> float:
    """part/whole as a percentage rounded to 0.1; 0 when whole is 0."""
    if whole <= 0:
        return 0.0
    return round(part * 100.0 / whole, 1)


def ratio(part: float, whole: float, digits: int = 2) -> float:
    if whole <= 0:
        return 0.0
    return round(part / whole, digits)


def error_rate(counters: CleanupCounters) -> float:
    """Percent of cleanup runs that raised (guide: 1 error in 45 runs -> 2.2)."""
    return percent(counters.cleanup_errors, counters.total_cleanups)


def connection_failure_rate(counters: CleanupCounters) -> float:
    """Percent of attempted removals that failed (guide: 3 of 92 -> 3.3)."""
    return percent(counters.failed_connections, counters.total_connections_cleaned + counters.failed_connections)


def efficiency_rate(counters: CleanupCounters) -> float:
    """Percent of attempted removals that succeeded (guide: 89 of 92 -> 96.7); 100 when nothing was attempted."""
    attempted = counters.total_connections_cleaned + counters.failed_connections
    if attempted == 0:
        return 100.0
    return percent(counters.total_connections_cleaned, attempted)


def run_efficiency(cleaned: int, failed: int) -> float:
    """Efficiency of one run, for the log line."""
    return 100.0 if cleaned + failed == 0 else percent(cleaned, cleaned + failed)


def avg_duration_ms(counters: CleanupCounters) -> float:
    if counters.total_cleanups <= 0:
        return 0.0
    return round(counters.total_duration_ms / counters.total_cleanups, 2)


def cleanup_statistics(counters: CleanupCounters) -> dict[str, float | int]:
    """The guide's ``get_cleanup_statistics()`` dict (counters and rates, no age classes)."""
    return {
        "total_cleanups": counters.total_cleanups,
        "total_connections_cleaned": counters.total_connections_cleaned,
        "cleanup_errors": counters.cleanup_errors,
        "failed_connections": counters.failed_connections,
        "error_rate": error_rate(counters),
        "connection_failure_rate": connection_failure_rate(counters),
        "last_cleanup_duration_ms": round(counters.last_cleanup_duration_ms, 2),
        "avg_cleanup_duration_ms": avg_duration_ms(counters),
        "connections_per_cleanup": ratio(counters.total_connections_cleaned, counters.total_cleanups),
        "cleanup_efficiency_rate": efficiency_rate(counters),
        "consecutive_errors": counters.consecutive_errors,
    }


def cleanup_stats(counters: CleanupCounters | None, ages: AgeCounts | None) -> CleanupStats:
    """The guide's cleanup_stats section; numbers the store could not give are None (unknown)."""
    if counters is None or ages is None:
        known = cleanup_stats(counters or CleanupCounters(), ages or AgeCounts(0, 0, 0, 0))
        drop = set()
        if counters is None:
            drop |= {"total_cleanups", "total_connections_cleaned", "cleanup_errors", "failed_connections", "error_rate",
                     "connection_failure_rate", "last_cleanup_duration_ms", "connections_per_cleanup"}
        if ages is None:
            drop |= {"stale", "active", "long_lived", "very_old"}
        return known.model_copy(update={k: None for k in drop})
    s = cleanup_statistics(counters)
    return CleanupStats(
        total_cleanups=counters.total_cleanups,
        total_connections_cleaned=counters.total_connections_cleaned,
        cleanup_errors=counters.cleanup_errors,
        failed_connections=counters.failed_connections,
        error_rate=s["error_rate"],
        connection_failure_rate=s["connection_failure_rate"],
        last_cleanup_duration_ms=s["last_cleanup_duration_ms"],
        connections_per_cleanup=s["connections_per_cleanup"],
        stale=ages.stale,
        active=ages.active,
        long_lived=ages.long_lived,
        very_old=ages.very_old,
    )


def performance_metrics(counters: CleanupCounters | None) -> PerformanceMetrics:
    if counters is None:
        return PerformanceMetrics(avg_cleanup_duration_ms=None, cleanup_efficiency_rate=None, cleanup_error_rate=None,
                                  connections_cleaned_per_operation=None)
    return PerformanceMetrics(
        avg_cleanup_duration_ms=avg_duration_ms(counters),
        cleanup_efficiency_rate=efficiency_rate(counters),
        cleanup_error_rate=error_rate(counters),
        connections_cleaned_per_operation=ratio(counters.total_connections_cleaned, counters.total_cleanups),
    )


def age_histogram(cumulative_older: list[int], total: int, edges: tuple[float, ...] = AGE_EDGES) -> list[AgeBucket]:
    """Turn "connections older than edge[i]" counts into [lower, upper) buckets.

    ``cumulative_older[i]`` is the number of connections whose age is >= ``edges[i]``
    (``cumulative_older[0]`` should equal ``total`` when edges[0] is 0).
    """
    if len(cumulative_older) != len(edges):
        raise ValueError("one count per edge is required")
    buckets: list[AgeBucket] = []
    for i, lower in enumerate(edges):
        older_than_lower = total if lower <= 0 else cumulative_older[i]
        older_than_upper = cumulative_older[i + 1] if i + 1 < len(edges) else 0
        upper = edges[i + 1] if i + 1 < len(edges) else None
        buckets.append(AgeBucket(lower_seconds=lower, upper_seconds=upper, count=max(older_than_lower - older_than_upper, 0)))
    return buckets


DURATION_BUCKETS_SECONDS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def duration_bucket(seconds: float) -> float:
    """The smallest histogram bound >= seconds (``inf`` past the last)."""
    for bound in DURATION_BUCKETS_SECONDS:
        if seconds <= bound:
            return bound
    return float("inf")


def window_error_rate(runs: tuple[tuple[float, bool], ...], now: float, window: float) -> float | None:
    """Percent of cleanup runs that failed within ``window`` seconds before ``now``,
    unrounded (None when no run fell in the window: no evidence either way)."""
    recent = [failed for at, failed in runs if now - window <= at <= now + 60.0]
    if not recent:
        return None
    return sum(recent) * 100.0 / len(recent)


def window_runs(runs: tuple[tuple[float, bool], ...], now: float, window: float) -> int:
    """How many cleanup runs fell within ``window`` seconds before ``now`` (what
    :func:`window_error_rate` is a rate over)."""
    return sum(1 for at, _ in runs if now - window <= at <= now + 60.0)


def never_back(floor: CleanupCounters | None, current: CleanupCounters) -> CleanupCounters:
    """``current`` with every cumulative counter at least what ``floor`` had (a counter kept
    in a store that lost its data restarts from 0; what a pod exports must not go back)."""
    if floor is None:
        return current
    buckets = dict(current.duration_buckets)
    for b, n in floor.duration_buckets.items():
        buckets[b] = max(buckets.get(b, 0), n)
    return dataclasses.replace(
        current, total_cleanups=max(current.total_cleanups, floor.total_cleanups),
        total_connections_cleaned=max(current.total_connections_cleaned, floor.total_connections_cleaned),
        cleanup_errors=max(current.cleanup_errors, floor.cleanup_errors),
        failed_connections=max(current.failed_connections, floor.failed_connections),
        total_duration_ms=max(current.total_duration_ms, floor.total_duration_ms), duration_buckets=buckets)
