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

from .config import SSEConfig
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
    min_runs_field: str | None = None  # SSEConfig field: a rate is judged only over at least this many runs
    description: str = ""


RULES: tuple[Rule, ...] = (
    Rule("state_store_unavailable", "alert", "high", "store_available", "==", None,
         "State store unavailable: {store_error}", threshold=False,
         description="The state store cannot be reached or refuses writes; fleet numbers are unknown."),
    Rule("registry_rebuilding", "alert", "high", "registry_rebuilding", "==", None,
         "Registry rebuilding: {registry_reason}", threshold=True,
         description="The state store lost the fleet's data (restart without persistence, FLUSHALL, failover to a "
                     "stale replica, a key evicted or deleted): its numbers are partial until every live worker "
                     "has re-registered, so they are reported unknown."),
    Rule("registry_empty", "alert", "high", "registry_empty", "==", None,
         "Nothing to judge: {registry_reason}", threshold=True,
         description="No worker has registered under this namespace (a wrong SSE_REDIS_NAMESPACE or --namespace), "
                     "or the store lost everything and no worker has come back yet."),
    Rule("worker_dead", "alert", "high", "dead_workers", ">", None,
         "{value} dead worker(s) not yet reaped: {dead_summary}", threshold=0,
         description="A worker whose heartbeat is older than the TTL, or whose process a worker on its host saw "
                     "gone; its connections are still in the registry until it is reaped."),
    Rule("connection_mismatch", "alert", "high", "connection_mismatch", ">", "ALERT_CONNECTION_MISMATCH",
         "Connection count mismatch: active={active_connections}, redis={redis_connection_counters} (difference {value})",
         for_field="ALERT_MISMATCH_FOR_SECONDS",
         description="|active connections - registry counter|, held (for the fleet) longer than registration and flush explain."),
    Rule("high_cleanup_error_rate", "alert", "high", "error_rate_window", ">", "ALERT_CLEANUP_ERROR_RATE_PERCENT",
         "Cleanup error rate {value:g}% over the last {error_rate_window_seconds:g}s exceeds {threshold:g}%",
         min_runs_field="ALERT_ERROR_RATE_MIN_RUNS",
         description="Percent of cleanup runs that failed within the recent window (unrounded), judged over at "
                     "least ALERT_ERROR_RATE_MIN_RUNS runs; runs that could not reach the store are not counted "
                     "(state_store_unavailable covers them)."),
    Rule("consecutive_cleanup_errors", "alert", "high", "consecutive_errors", ">=", "ALERT_CONSECUTIVE_CLEANUP_ERRORS",
         "{value} consecutive cleanup runs failed",
         description="Cleanup runs that failed in a row (the last success resets it)."),
    Rule("cleanup_not_running", "alert", "high", "cleanup_not_running", "==", None,
         "Periodic cleanup is enabled but not running", threshold=True,
         description="Periodic cleanup is enabled but no worker runs the task."),
    Rule("registry_settling", "warning", "medium", "registry_settling", "==", None,
         "Registry settling: {registry_reason}", threshold=True,
         description="The state store is back after an outage; until every live worker has resynced, the "
                     "registry's numbers are reported unknown and no cleanup or reap runs."),
    Rule("worker_late", "warning", "medium", "late_workers", ">", None,
         "{value} late worker(s): {late_summary}", threshold=0,
         description="A worker whose heartbeat is older than WORKER_LATE_SECONDS (two flush intervals): hung, "
                     "overloaded, or dead and not yet past the TTL; its connections are still counted."),
    Rule("high_connection_count", "warning", "medium", "active_connections", ">", "WARN_ACTIVE_CONNECTIONS",
         "High connection count: {value} active (> {threshold})"),
    Rule("elevated_error_rate", "warning", "medium", "error_rate_window", ">", "WARN_CLEANUP_ERROR_RATE_PERCENT",
         "Elevated cleanup error rate: {value:g}% over the last {error_rate_window_seconds:g}s",
         upper_field="ALERT_CLEANUP_ERROR_RATE_PERCENT", min_runs_field="ALERT_ERROR_RATE_MIN_RUNS"),
    Rule("stale_connection_accumulation", "warning", "medium", "stale", ">", "WARN_STALE_CONNECTIONS",
         "Stale connections accumulating: {value} (> {threshold})"),
    Rule("very_old_connections", "warning", "medium", "very_old", ">", "WARN_VERY_OLD_CONNECTIONS",
         "Connections older than {very_old_age} detected: {value}"),
    Rule("reconnect_storm", "warning", "medium", "reconnects_per_second", ">", "WARN_RECONNECTS_PER_SECOND",
         "Reconnect storm: {value:g} reconnects/s (> {threshold:g}), {connects_per_second:g} connects/s",
         description="Reconnects per second for the fleet over CONNECT_RATE_WINDOW_SECONDS: clients that resume "
                     "(Last-Event-ID) or whose stream closed or was cut within RECONNECT_WINDOW_SECONDS; a worker "
                     "restart or death sends its clients back at once. Admission caps (SSE_ADMISSION_*) are what "
                     "keeps a storm from taking the fleet down."),
    Rule("bad_store_data", "warning", "medium", "bad_data_count", ">", None,
         "State store holds {value} malformed key(s), skipped: {first_bad}", threshold=0,
         description="Keys in the namespace whose values are not what the store writes; cleanup repairs what it can."),
    # the guide's performance alerts, judged on the fleet history (core.history; evidence in performance_trends)
    Rule("cleanup_duration_sustained", "warning", "medium", "cleanup_duration_sustained", ">", "ALERT_CLEANUP_DURATION_MS",
         "Cleanup duration consistently above {threshold:g} ms (the fastest in the window took {value:g} ms)",
         description="Lowest last-cleanup duration over CLEANUP_DURATION_SUSTAINED_SECONDS of history."),
    Rule("error_rate_trend", "warning", "medium", "error_rate_trend", ">", "ALERT_ERROR_RATE_SLOPE_PERCENT_PER_HOUR",
         "Cleanup error rate trending upward: {value:+g} points/hour (> {threshold:g})",
         description="Least-squares slope of the cleanup error rate over ERROR_RATE_TREND_WINDOW_SECONDS (points/hour)."),
    Rule("baseline_deviation", "warning", "medium", "baseline_deviation", ">", "WARN_BASELINE_DEVIATION_PERCENT",
         "Connections outside their baseline band by {value:g}% (> {threshold:g}%)",
         description="Percent the connection count lies outside p10-p90 of the same time of day over BASELINE_DAYS."),
    Rule("days_to_capacity", "warning", "medium", "days_to_capacity", "<", "WARN_DAYS_TO_CAPACITY",
         "Connection capacity reached in {value:g} days at the current growth (< {threshold:g})",
         description="Days until CAPACITY_CONNECTIONS at the growth per day over GROWTH_WINDOW_DAYS."),
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
    f for r in RULES for f in (r.config_field, r.for_field, r.upper_field, r.min_runs_field) if f))
# the defaults are SSEConfig's (the one place a threshold's default is written)
DEFAULT_THRESHOLDS: dict[str, float] = {name: SSEConfig.model_fields[name].default for name in THRESHOLD_FIELDS}


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
    error_rate_window_runs: int | None = None  # cleanup runs within the window (a rate needs enough of them)
    bad_data: tuple[str, ...] = ()
    # workers (core.liveness): one line each, e.g. "vm-1-42 (pid 42; process gone): 63 connection(s)"
    dead_workers: tuple[str, ...] | None = ()
    late_workers: tuple[str, ...] | None = ()
    registry_state: str = "settled"  # core.models.REGISTRY_STATES
    registry_reason: str | None = None
    very_old_seconds: float = SSEConfig.model_fields["VERY_OLD_SECONDS"].default  # as set (the message says it)
    held_for: dict[str, float] = field(default_factory=dict)  # rule type -> seconds its condition has held
    # history verdicts (core.history.trends): None = not enough history (unknown, skipped)
    cleanup_duration_sustained: float | None = None  # lowest cleanup duration (ms) in the sustained window
    error_rate_trend: float | None = None  # error-rate slope, percentage points per hour
    baseline_deviation: float | None = None  # percent outside the baseline band (0 inside)
    days_to_capacity: float | None = None
    reconnects_per_second: float | None = None  # the reconnect-storm meter (core.reconnects); None: unknown
    connects_per_second: float | None = None

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
        if name in ("dead_workers", "late_workers"):
            workers = getattr(self, name)
            return None if workers is None else len(workers)
        if name == "registry_rebuilding":
            return None if self.registry_state == "unknown" else self.registry_state == "rebuilding"
        if name == "registry_empty":
            return None if self.registry_state == "unknown" else self.registry_state == "empty"
        if name == "registry_settling":
            return None if self.registry_state == "unknown" else self.registry_state == "settling"
        return getattr(self, name)


def condition(rule: Rule, inp: HealthInputs, th: HealthThresholds) -> tuple[bool, Any, Any]:
    """(the rule's condition holds now, the value, the threshold), ignoring hysteresis."""
    value = inp.value(rule.input)
    threshold = th[rule.config_field] if rule.config_field else rule.threshold
    if value is None:
        return False, None, threshold
    if rule.input != "store_available" and not inp.store_available and rule.type != "bad_store_data":
        return False, value, threshold  # numbers read while the store is in trouble are not judged
    if rule.min_runs_field is not None and (inp.error_rate_window_runs or 0) < th[rule.min_runs_field] \
            and inp.error_rate_window is not None:
        return False, value, threshold  # too few runs in the window to call it a rate
    hit = _OPS[rule.comparison](value, threshold)
    if hit and rule.upper_field is not None:
        hit = value <= th[rule.upper_field]
    return hit, value, threshold


def hysteresis_conditions(inp: HealthInputs, th: HealthThresholds) -> tuple[list[str], list[str]]:
    """The hysteresis rules whose condition holds now, and those seen not to hold (a rule
    whose value is unknown is in neither: it neither starts nor clears the clock)."""
    holding: list[str] = []
    clear: list[str] = []
    for rule in RULES:
        if rule.for_field is None:
            continue
        hit, value, _ = condition(rule, inp, th)
        if value is None:
            continue
        (holding if hit else clear).append(rule.type)
    return holding, clear


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
        ctx["dead_summary"] = "; ".join(inp.dead_workers or ())
        ctx["late_summary"] = "; ".join(inp.late_workers or ())
        ctx["registry_reason"] = inp.registry_reason or inp.registry_state
        ctx["very_old_age"] = format_age(inp.very_old_seconds)
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
                    for_seconds=float(th[r.for_field]) if r.for_field else 0.0,
                    min_runs=int(th[r.min_runs_field]) if r.min_runs_field else None, description=r.description)
            for r in RULES]


def format_age(seconds: float) -> str:
    """An age threshold in words: 21600 -> "6 hours", 90 -> "90 seconds"."""
    for unit, size in (("day", 86400.0), ("hour", 3600.0), ("minute", 60.0)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds:g} seconds"


# A health level as a number, written once: the sse_health_status gauge, CloudWatch's HealthStatus and
# sse-dash --once's exit status all read it.
HEALTH_STATUS_CODE: dict[str, int] = {"healthy": 0, "degraded": 1, "unhealthy": 2}
