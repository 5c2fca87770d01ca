"""Shared by the ops tests: the exporter's metric names and a PromQL metric-name extractor.

EXPORTED_METRICS is the contract with ``core.exporters.prometheus`` (unlabelled
series only). Keep it in sync with the exporter: the alert rules and the Grafana
dashboard may only reference these names.
"""

from __future__ import annotations

import re

# name -> Prometheus type, as exposed on /metrics
EXPORTED_METRICS: dict[str, str] = {
    "sse_active_connections": "gauge",
    "sse_redis_connection_counters": "gauge",
    "sse_connection_mismatch": "gauge",
    "sse_cleanup_error_rate": "gauge",
    "sse_total_connections_cleaned": "gauge",
    "sse_connections_cleaned_total": "counter",
    "sse_cleanup_total": "counter",
    "sse_cleanup_errors_total": "counter",
    "sse_cleanup_failed_connections_total": "counter",
    "sse_stale_connections": "gauge",
    "sse_recently_active_connections": "gauge",
    "sse_long_lived_connections": "gauge",
    "sse_very_old_connections": "gauge",
    "sse_health_status": "gauge",
    "sse_health_alerts": "gauge",
    "sse_health_warnings": "gauge",
    "sse_cleanup_task_running": "gauge",
    "sse_periodic_cleanup_enabled": "gauge",
    "sse_cleanup_duration_seconds": "histogram",
    "sse_workers": "gauge",
    "sse_store_up": "gauge",
    "sse_cleanup_error_rate_window": "gauge",
    "sse_cleanup_consecutive_errors": "gauge",
    # this pod's own series (safe to sum() across pods)
    "sse_pod_connections": "gauge",
    "sse_pod_connections_opened_total": "counter",
    "sse_pod_connections_closed_total": "counter",
    "sse_pod_events_sent_total": "counter",
    "sse_pod_bytes_sent_total": "counter",
}

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "offset", "bool", "inf", "nan",
}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w:.$])[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """Metric names used by a PromQL expression (functions, keywords and label names excluded)."""
    s = _STRING.sub('""', expr)
    s = _MATCHERS.sub(" ", s)
    s = _RANGES.sub(" ", s)
    s = _LABEL_LISTS.sub(" ", s)
    names: set[str] = set()
    for m in _IDENT.finditer(s):
        name = m.group(0)
        if name.lower() in _KEYWORDS:
            continue
        if s[m.end():].lstrip().startswith("("):  # function call or aggregation
            continue
        names.add(name)
    return names


def is_exported(name: str) -> bool:
    """True when ``name`` is an exported series (incl. a histogram's _bucket/_sum/_count)."""
    if EXPORTED_METRICS.get(name) in ("gauge", "counter"):
        return True
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and EXPORTED_METRICS.get(name[: -len(suffix)]) == "histogram":
            return True
    return False
