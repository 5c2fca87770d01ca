"""The guide's example numbers come out of the pure stats functions."""

from __future__ import annotations

import pytest

from core import stats
from core.models import AgeCounts, CleanupCounters


def guide_counters() -> CleanupCounters:
    return CleanupCounters(total_cleanups=45, total_connections_cleaned=89, cleanup_errors=1, failed_connections=3,
                           last_cleanup_duration_ms=12.5, total_duration_ms=45 * 12.5)


def test_guide_example_rates():
    s = stats.cleanup_stats(guide_counters(), AgeCounts(total=150, stale=2, long_lived=45, very_old=3))
    assert s.error_rate == 2.2
    assert s.connection_failure_rate == 3.3
    assert s.connections_per_cleanup == 1.98
    assert (s.stale, s.active, s.long_lived, s.very_old) == (2, 148, 45, 3)
    p = stats.performance_metrics(guide_counters())
    assert p.cleanup_efficiency_rate == 96.7
    assert p.avg_cleanup_duration_ms == 12.5
    assert p.cleanup_error_rate == 2.2
    assert p.connections_cleaned_per_operation == 1.98


def test_zero_division_is_zero():
    c = CleanupCounters()
    assert stats.error_rate(c) == 0.0
    assert stats.connection_failure_rate(c) == 0.0
    assert stats.efficiency_rate(c) == 100.0
    assert stats.avg_duration_ms(c) == 0.0


def test_cleanup_statistics_has_error_rate():
    d = stats.cleanup_statistics(guide_counters())
    assert d["error_rate"] == 2.2 and d["total_cleanups"] == 45


def test_age_histogram_buckets_partition_total():
    b = stats.age_histogram([10, 6, 2], 10, edges=(0, 60, 300))
    assert [(x.lower_seconds, x.upper_seconds, x.count) for x in b] == [(0, 60, 4), (60, 300, 4), (300, None, 2)]
    with pytest.raises(ValueError):
        stats.age_histogram([1], 1, edges=(0, 60))


@pytest.mark.parametrize("seconds, bound", [(0.0005, 0.001), (0.001, 0.001), (0.0011, 0.0025), (9.9, 10.0), (11, float("inf"))])
def test_duration_bucket(seconds, bound):
    assert stats.duration_bucket(seconds) == bound
