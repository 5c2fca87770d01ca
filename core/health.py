"""PURE health rules: numbers in, (level, alerts, warnings) out.

Every alert and warning is one row of :data:`RULES`: its type, severity, the input it
compares, the comparison, the config field holding its threshold, its message and its
hysteresis. :func:`evaluate` walks the table; ``/monitoring`` publishes it with the
thresholds in force (:func:`rule_rows`), the dashboard colours from it, and a test proves
the Prometheus alert rules use the same thresholds.

An input that is ``None`` is *unknown* (the store could not be read): its rules neither
fire nor clear on it; the ``state_store_unavailable`` alert says why.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from .models import Alert, HealthIndicators, HealthLevel, RuleRow, Severity

Comparison = Literal[">", ">=", "<", "==", "!="]
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "==": operator.eq, "!=": operator.ne,
}


@dataclass(frozen=True, slots=True)
class Rule:
    type: str
    kind: Literal["alert", "warning"]
    severity: Severity
    input: str  # a HealthInputs field (or derived: connection_mismatch)
    comparison: Comparison
    config_field: str | None  # threshold from SSEConfig (None: the constant ``threshold``)
    message: str  # str.format(value=..., threshold=..., **inputs)
    threshold: float | int | bool | None = None
    for_field: str | None = None  # SSEConfig field: seconds the condition must hold first
    upper_field: str | None = None  # the value must also be <= this threshold (a band below an alert)
    description: str = ""


RULES: tuple[Rule, ...] = (
    Rule("state_store_unavailable", "alert", "high", "store_available", "==", None,
         "State store unavailable: {store_error}", threshold=False,
         description="The state store cannot be reached or refuses writes; fleet numbers are unknown."),
    Rule("connection_mismatch", "alert", "high", "connection_mismatch", ">", "ALERT_CONNECTION_MISMATCH",
         "Connection count mismatch: active={active_connections}, redis={redis_connection_counters} (difference {value})",
         for_field="ALERT_MISMATCH_FOR_SECONDS",
         description="|active connections - registry counter|, held longer than registration and flush explain."),
    Rule("high_cleanup_error_rate", "alert", "high", "error_rate_window", ">", "ALERT_CLEANUP_ERROR_RATE_PERCENT",
         "Cleanup error rate {value:g}% over the last {error_rate_window_seconds:g}s exceeds {threshold:g}%",
         description="Percent of cleanup runs that failed within the recent window (unrounded)."),
    Rule("consecutive_cleanup_errors", "alert", "high", "consecutive_errors", ">=", "ALERT_CONSECUTIVE_CLEANUP_ERRORS",
         "{value} consecutive cleanup runs failed",
         description="Cleanup runs that failed in a row (the last success resets it)."),
    Rule("cleanup_not_running", "alert", "high", "cleanup_not_running", "==", None,
         "Periodic cleanup is enabled but not running", threshold=True,
         description="Periodic cleanup is enabled but no worker runs the task."),
    Rule("high_connection_count", "warning", "medium", "active_connections", ">", "WARN_ACTIVE_CONNECTIONS",
         "High connection count: {value} active (> {threshold})"),
    Rule("elevated_error_rate", "warning", "medium", "error_rate_window", ">", "WARN_CLEANUP_ERROR_RATE_PERCENT",
         "Elevated cleanup error rate: {value:g}% over the last {error_rate_window_seconds:g}s",
         upper_field="ALERT_CLEANUP_ERROR_RATE_PERCENT"),
    Rule("stale_connection_accumulation", "warning", "medium", "stale", ">", "WARN_STALE_CONNECTIONS",
         "Stale connections accumulating: {value} (> {threshold})"),
    Rule("very_old_connections", "warning", "medium", "very_old", ">", "WARN_VERY_OLD_CONNECTIONS",
         "Connections older than 6 hours detected: {value}"),
    Rule("bad_store_data", "warning", "medium", "bad_data_count", ">", None,
         "State store holds {value} malformed key(s), skipped: {first_bad}", threshold=0,
         description="Keys in the namespace whose values are not what the store writes; cleanup repairs what it can."),
)

RULE_TYPES: tuple[str, ...] = tuple(r.type for r in RULES)


@dataclass(frozen=True, slots=True)
class HealthThresholds:
    """Thresholds in force, by config field name (the guide's defaults)."""

    values: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))

    @classmethod
    def from_config(cls, cfg: object) -> "HealthThresholds":
        return cls({name: getattr(cfg, name) for name in THRESHOLD_FIELDS})

    def __getitem__(self, name: str) -> float:
        return self.values[name]


THRESHOLD_FIELDS: tuple[str, ...] = tuple(dict.fromkeys(
    f for r in RULES for f in (r.config_field, r.for_field, r.upper_field) if f))
DEFAULT_THRESHOLDS: dict[str, float] = {
    "ALERT_CONNECTION_MISMATCH": 10, "ALERT_MISMATCH_FOR_SECONDS": 5.0, "ALERT_CLEANUP_ERROR_RATE_PERCENT": 10.0,
    "ALERT_CONSECUTIVE_CLEANUP_ERRORS": 3, "WARN_ACTIVE_CONNECTIONS": 1000, "WARN_CLEANUP_ERROR_RATE_PERCENT": 5.0,
    "WARN_STALE_CONNECTIONS": 50, "WARN_VERY_OLD_CONNECTIONS": 10,
}


@dataclass(frozen=True, slots=True)
class HealthInputs:
    """What the rules compare. ``None``: unknown (its rules are skipped)."""

    active_connections: int | None
    redis_connection_counters: int | None
    error_rate: float | None  # lifetime (the guide's JSON); rules use the window below
    cleanup_task_running: bool | None
    periodic_cleanup_enabled: bool
    stale: int | None
    very_old: int | None
    store_available: bool = True
    store_error: str | None = None
    error_rate_window: float | None = None  # percent of failed runs within the window; None: use ``error_rate``
    error_rate_window_seconds: float = 0.0
    consecutive_errors: int | None = None
    bad_data: tuple[str, ...] = ()
    held_for: dict[str, float] = field(default_factory=dict)  # rule type -> seconds its condition has held

    def value(self, name: str) -> Any:
        if name == "connection_mismatch":
            if self.active_connections is None or self.redis_connection_counters is None:
                return None
            return abs(self.active_connections - self.redis_connection_counters)
        if name == "cleanup_not_running":
            if self.cleanup_task_running is None:
                return None
            return self.periodic_cleanup_enabled and not self.cleanup_task_running
        if name == "error_rate_window":
            return self.error_rate if self.error_rate_window is None else self.error_rate_window
        if name == "bad_data_count":
            return len(self.bad_data)
        return getattr(self, name)


def condition(rule: Rule, inp: HealthInputs, th: HealthThresholds) -> tuple[bool, Any, Any]:
    """(the rule's condition holds now, the value, the threshold), ignoring hysteresis."""
    value = inp.value(rule.input)
    threshold = th[rule.config_field] if rule.config_field else rule.threshold
    if value is None:
        return False, None, threshold
    if rule.input != "store_available" and not inp.store_available and rule.type != "bad_store_data":
        return False, value, threshold  # numbers read while the store is in trouble are not judged
    hit = _OPS[rule.comparison](value, threshold)
    if hit and rule.upper_field is not None:
        hit = value <= th[rule.upper_field]
    return hit, value, threshold


def evaluate(inp: HealthInputs, th: HealthThresholds = HealthThresholds()) -> HealthIndicators:
    alerts: list[Alert] = []
    warnings: list[Alert] = []
    for rule in RULES:
        hit, value, threshold = condition(rule, inp, th)
        if not hit:
            continue
        if rule.for_field is not None and inp.held_for.get(rule.type, float("inf")) < th[rule.for_field]:
            continue  # a transient: not yet held long enough
        ctx = {k: getattr(inp, k) for k in HealthInputs.__dataclass_fields__ if k not in ("held_for", "bad_data")}
        ctx["store_error"] = inp.store_error or "unknown error"
        ctx["first_bad"] = inp.bad_data[0] if inp.bad_data else ""
        shown: float | int | str | None
        if isinstance(value, bool):
            shown = inp.store_error or "unavailable" if rule.type == "state_store_unavailable" else value
        else:
            shown = value
        msg = rule.message.format(value=value, threshold=threshold, **ctx)
        (alerts if rule.kind == "alert" else warnings).append(
            Alert(type=rule.type, message=msg, severity=rule.severity, value=shown))
    level: HealthLevel = "unhealthy" if alerts else ("degraded" if warnings else "healthy")
    return HealthIndicators(overall_health=level, alerts=alerts, warnings=warnings)


def rule_rows(th: HealthThresholds) -> list[RuleRow]:
    """The rule table with the thresholds in force (published in /monitoring)."""
    return [RuleRow(type=r.type, kind=r.kind, severity=r.severity, input=r.input, comparison=r.comparison,
                    threshold=th[r.config_field] if r.config_field else r.threshold, config_field=r.config_field,
                    for_seconds=float(th[r.for_field]) if r.for_field else 0.0, description=r.description)
            for r in RULES]


HEALTH_STATUS_CODE: dict[str, int] = {"healthy": 0, "degraded": 1, "unhealthy": 2}
