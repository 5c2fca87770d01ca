"""ops/prometheus/sse_alerts.yml judges with core.health's rule table: each alert that mirrors a
rule compares the same metric the same way against the rule's default threshold (SSEConfig's),
and its words (summary, description) say that threshold; the health levels are
core.health.HEALTH_STATUS_CODE's. Pure file reads: no Prometheus needed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from core import health
from core.config import SSEConfig

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "ops" / "prometheus" / "sse_alerts.yml"
ERROR_RATE = r"max by \(job\) \(rate\(sse_cleanup_total\[5m\]\)\) \* 100"
DURATION = r"max by \(job\) \(rate\(sse_cleanup_duration_seconds_count\[15m\]\)\)"

# alert -> (the end of its expression before the comparison (a regex), the rule type, the unit's scale)
MIRRORS: dict[str, tuple[str, str, float]] = {
    "SSEConnectionMismatch": (r"max by \(job\) \(sse_connection_mismatch\)", "connection_mismatch", 1.0),
    "SSEStaleConnectionsHigh": (r"max by \(job\) \(sse_stale_connections\)", "stale_connection_accumulation", 1.0),
    "SSEVeryOldConnections": (r"max by \(job\) \(sse_very_old_connections\)", "very_old_connections", 1.0),
    "SSEHighConnectionCount": (r"max by \(job\) \(sse_active_connections\)", "high_connection_count", 1.0),
    "SSECleanupErrorRateCritical": (ERROR_RATE, "high_cleanup_error_rate", 1.0),
    "SSECleanupErrorRateElevated": (ERROR_RATE, "elevated_error_rate", 1.0),
    "SSECleanupDurationHigh": (DURATION, "cleanup_duration_sustained", 1e-3),  # the rule is in ms, the metric in s
}


def _alerts(text: str) -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load(text)
    return {r["alert"]: r for g in doc["groups"] for r in g["rules"] if "alert" in r}


def _words(threshold: float, rule: health.Rule) -> str:
    """How an annotation says the threshold: "threshold 10", "threshold 5%", "threshold 100ms"."""
    unit = {"ALERT_CLEANUP_DURATION_MS": "ms"}.get(rule.config_field or "", "")
    if rule.input == "error_rate_window":
        unit = "%"
    return f"threshold {threshold:g}{unit}"


def mismatches(text: str) -> list[str]:
    """Every way the alert file departs from the rule table (empty: none)."""
    alerts = _alerts(text)
    rules = {r.type: r for r in health.RULES}
    out: list[str] = []
    for alert, (lhs, rule_type, scale) in MIRRORS.items():
        rule = rules[rule_type]
        assert rule.config_field is not None, rule_type
        default = float(health.DEFAULT_THRESHOLDS[rule.config_field])
        expr = " ".join(alerts[alert]["expr"].split())
        m = re.fullmatch(rf".*{lhs}\s*(>=|>|<|==|!=)\s*([0-9.]+)", expr)
        if m is None:
            out.append(f"{alert}: expression not of the form <{rule.input}> <op> <number>: {expr}")
            continue
        if m.group(1) != rule.comparison:
            out.append(f"{alert}: compares with {m.group(1)}, the rule {rule_type} with {rule.comparison}")
        if float(m.group(2)) != default * scale:
            out.append(f"{alert}: threshold {m.group(2)}, the rule {rule_type}'s default {default * scale:g}")
        notes = alerts[alert]["annotations"]["description"]
        if _words(default, rule) not in notes:
            out.append(f"{alert}: the description does not say {_words(default, rule)!r}: {notes}")
    # the levels: sse_health_status > 1 is unhealthy, == 1 degraded
    codes = health.HEALTH_STATUS_CODE
    for alert, want in (("SSEHealthUnhealthy", f"> {codes['degraded']}"), ("SSEHealthDegraded", f"== {codes['degraded']}")):
        if not alerts[alert]["expr"].strip().endswith(f"(sse_health_status) {want}"):
            out.append(f"{alert}: not sse_health_status {want}: {alerts[alert]['expr']}")
    # "older than 6 hours" is VERY_OLD_SECONDS's default in words (core.health.format_age)
    very_old = health.format_age(float(SSEConfig.model_fields["VERY_OLD_SECONDS"].default))
    for field in ("summary", "description"):
        said = alerts["SSEVeryOldConnections"]["annotations"][field]
        if f"older than {very_old}" not in said:
            out.append(f"SSEVeryOldConnections: the {field} does not say 'older than {very_old}': {said}")
    return out


def test_every_alert_threshold_is_the_rule_tables_default() -> None:
    assert mismatches(ALERTS.read_text()) == []


def test_every_rule_with_a_threshold_and_an_alert_is_checked() -> None:
    """A rule whose metric an alert compares is in MIRRORS (a new alert must be added here)."""
    alerts = _alerts(ALERTS.read_text())
    assert set(MIRRORS) <= set(alerts)
    compared = {a for a, r in alerts.items() if re.search(r"(>|<|==)\s*[0-9.]+\s*$", r["expr"].strip())}
    levels = {"SSEHealthUnhealthy", "SSEHealthDegraded", "SSEStoreDown", "SSEPeriodicCleanupNotRunning",
              "SSEPeriodicCleanupStalled"}  # 0 / 1 states, not thresholds
    assert compared - levels == set(MIRRORS)


def test_the_check_can_fail() -> None:
    """A shifted number, operator or word is found (guards against a vacuous check)."""
    text = ALERTS.read_text()
    for old, new in (("(sse_stale_connections) > 50", "(sse_stale_connections) > 40"),
                     ("(sse_connection_mismatch) > 10", "(sse_connection_mismatch) >= 10"),
                     ("(threshold 1000)", "(threshold 900)"),
                     ("* 100 > 5", "* 100 > 7"),
                     ("older than 6 hours (threshold", "older than 5 hours (threshold")):
        assert old in text, old
        assert mismatches(text.replace(old, new)), (old, new)


def test_rule_messages_say_the_settings_in_force() -> None:
    """The very-old message names VERY_OLD_SECONDS as set, not the default's "6 hours"."""
    cfg = SSEConfig(VERY_OLD_SECONDS=7200, LONG_LIVED_SECONDS=3600)
    inputs = health.HealthInputs(active_connections=1, redis_connection_counters=1, error_rate=0.0,
                                 cleanup_task_running=True, periodic_cleanup_enabled=True, stale=0, very_old=11,
                                 very_old_seconds=cfg.VERY_OLD_SECONDS)
    hi = health.evaluate(inputs, health.HealthThresholds.from_config(cfg))
    said = [w.message for w in hi.warnings if w.type == "very_old_connections"]
    assert said == ["Connections older than 2 hours detected: 11"]
