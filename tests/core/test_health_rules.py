"""Every health rule at its boundary (the guide's thresholds), as a table."""

from __future__ import annotations

import pytest

from core.health import DEFAULT_THRESHOLDS, HealthInputs, HealthThresholds, evaluate

BASE = dict(active_connections=100, redis_connection_counters=100, error_rate=0.0, cleanup_task_running=True,
            periodic_cleanup_enabled=True, stale=0, very_old=0)


def run(**over):
    return evaluate(HealthInputs(**{**BASE, **over}))


@pytest.mark.parametrize(
    "over, alerts, warnings, level",
    [
        ({}, [], [], "healthy"),
        # connection mismatch: alert only above 10
        (dict(active_connections=110, redis_connection_counters=100), [], [], "healthy"),
        (dict(active_connections=111, redis_connection_counters=100), ["connection_mismatch"], [], "unhealthy"),
        (dict(active_connections=89, redis_connection_counters=100), ["connection_mismatch"], [], "unhealthy"),
        # error rate: > 10 alert; (5, 10] warning; 5 exactly nothing
        (dict(error_rate=5.0), [], [], "healthy"),
        (dict(error_rate=5.1), [], ["elevated_error_rate"], "degraded"),
        (dict(error_rate=10.0), [], ["elevated_error_rate"], "degraded"),
        (dict(error_rate=10.1), ["high_cleanup_error_rate"], [], "unhealthy"),
        # periodic cleanup not running while enabled
        (dict(cleanup_task_running=False), ["cleanup_not_running"], [], "unhealthy"),
        (dict(cleanup_task_running=False, periodic_cleanup_enabled=False), [], [], "healthy"),
        # > 1000 active
        (dict(active_connections=1000, redis_connection_counters=1000), [], [], "healthy"),
        (dict(active_connections=1001, redis_connection_counters=1001), [], ["high_connection_count"], "degraded"),
        # > 50 stale
        (dict(stale=50), [], [], "healthy"),
        (dict(stale=51), [], ["stale_connection_accumulation"], "degraded"),
        # > 10 very old
        (dict(very_old=10), [], [], "healthy"),
        (dict(very_old=11), [], ["very_old_connections"], "degraded"),
        # alerts dominate warnings
        (dict(very_old=11, cleanup_task_running=False), ["cleanup_not_running"], ["very_old_connections"], "unhealthy"),
        # store down: its own alert, and no mismatch alert computed from missing numbers
        (dict(store_available=False, store_error="redis: ConnectionError", redis_connection_counters=0),
         ["state_store_unavailable"], [], "unhealthy"),
    ],
)
def test_rule_table(over, alerts, warnings, level):
    h = run(**over)
    assert [a.type for a in h.alerts] == alerts
    assert [w.type for w in h.warnings] == warnings
    assert h.overall_health == level
    for a in h.alerts:
        assert a.severity == "high"
    for w in h.warnings:
        assert w.severity == "medium"


def test_alert_shape_matches_guide():
    h = run(very_old=11)
    assert h.warnings[0].model_dump() == {"type": "very_old_connections",
                                          "message": "Connections older than 6 hours detected: 11",
                                          "severity": "medium", "value": 11}


def test_thresholds_are_configurable():
    th = HealthThresholds({**DEFAULT_THRESHOLDS, "ALERT_CONNECTION_MISMATCH": 0, "WARN_ACTIVE_CONNECTIONS": 5})
    h = evaluate(HealthInputs(**{**BASE, "active_connections": 6, "redis_connection_counters": 5}), th)
    assert [a.type for a in h.alerts] == ["connection_mismatch"]
    assert [w.type for w in h.warnings] == ["high_connection_count"]
