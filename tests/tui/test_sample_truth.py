"""The data behind the snapshot tests and screenshots/ is data a server can really send: the
Overview header's age counts (long-lived, very old) and the age histogram's bars describe the
same connections, and the healthy sample keeps the guide's example numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.config import load_config
from sse_tui.samples import sample_ages, sample_stats

GUIDE = json.loads((Path(__file__).parents[1] / "data" / "guide_monitoring_response.json").read_text())
CFG = load_config()


@pytest.mark.parametrize("health", ["healthy", "degraded", "unhealthy", "dead_worker", "late_worker"])
def test_the_header_counts_are_the_histograms(health: str) -> None:
    s = sample_stats(health)  # type: ignore[arg-type]
    b, cl = s.age_histogram, s.cleanup_stats
    assert b, "a histogram to compare"
    assert sum(x.count for x in b if x.lower_seconds >= CFG.LONG_LIVED_SECONDS) == cl.long_lived
    assert sum(x.count for x in b if x.lower_seconds >= CFG.VERY_OLD_SECONDS) == cl.very_old
    # no bucket straddles a threshold: each bar is wholly in or out of a class
    edges = {x.lower_seconds for x in b} | {x.upper_seconds for x in b}
    assert {CFG.LONG_LIVED_SECONDS, CFG.VERY_OLD_SECONDS} <= edges
    assert sum(x.count for x in b) == s.connection_stats.active_connections == (cl.active or 0) + (cl.stale or 0)


def test_the_healthy_sample_keeps_the_guides_numbers() -> None:
    cl = sample_stats("healthy").cleanup_stats
    assert (cl.long_lived, cl.very_old) == (GUIDE["cleanup_stats"]["long_lived"], GUIDE["cleanup_stats"]["very_old"])


def test_sample_ages_adds_up_at_its_edges() -> None:
    for active, long_lived, very_old in ((150, 45, 3), (7, 7, 7), (1, 0, 0), (0, 0, 0), (1000, 999, 1)):
        counts = [x.count for x in sample_ages(active, long_lived, very_old)]
        assert sum(counts) == active and min(counts) >= 0, counts
        assert sum(counts[5:]) == long_lived and sum(counts[7:]) == very_old, counts


@pytest.mark.parametrize(("health", "active"), [("healthy", 8), ("healthy", 80), ("healthy", 151),
                                               ("healthy", 2000), ("degraded", 80), ("degraded", 2000)])
def test_any_fleet_size_adds_up(health: str, active: int) -> None:
    """(The sample's fixed workers and stale counts need a few connections: 8, and 64 stale degraded.)"""
    s = sample_stats(health, active=active)  # type: ignore[arg-type]
    b, cl = s.age_histogram, s.cleanup_stats
    assert sum(x.count for x in b) == active
    assert sum(x.count for x in b if x.lower_seconds >= CFG.LONG_LIVED_SECONDS) == cl.long_lived
    assert sum(x.count for x in b if x.lower_seconds >= CFG.VERY_OLD_SECONDS) == cl.very_old
