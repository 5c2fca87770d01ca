"""``sse-dash --redis URL --export-history 6h incident.jsonl``: a recording made after the
fact from the fleet history the workers stored, playable with ``--replay``.

Each bucket of the series that holds a sample becomes one frame in the format of
:mod:`sse_tui.recording` (``recorded_at`` = the bucket's time on the fleet clock). What the
history does not keep stays unknown in the frame (``None``: failed connection counts, the
cleanup task's state), never 0. A bucket whose numbers are unknown (coverage ``unknown``:
the samples a store outage left) is a frame with the store unavailable, so the replay says
STORE DOWN over it. The cleanup error rate of the window (``error_rate_window``) is the
series' (one definition for every range). The fleet's events marked on the history up to
the bucket's end (deaths, reaps, cleanups, disconnects, outages) are the frame's
``recent_events``, newest first, as many as the server sends. Per-worker rows: the workers
the bucket's per-worker sample listed (stored once a minute: a bucket without one has
``workers`` None, unknown), alive then, with their connections; host, pid and heartbeat
age are not kept (None / 0).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from core.durations import parse_duration
from core.models import (
    Alert,
    CleanupStats,
    ConfigurationView,
    ConnectionStats,
    FleetEvent,
    HealthIndicators,
    HistorySeries,
    MonitoringStats,
    PerformanceMetrics,
    WorkerInfo,
)
from sse_tui.recording import snapshot_to_json
from sse_tui.sources import Snapshot

SEVERITY = {"alert": "high", "warning": "medium"}
EVENTS_PER_FRAME = 20  # as many recent events as /monitoring sends


class HistoryReader(Protocol):
    async def history(self, range_s: float | str, step: float | str | None = None,
                      workers: bool = False) -> HistorySeries: ...


def _at(values: dict[str, list[Any]], name: str, i: int) -> Any:
    col = values.get(name)
    return col[i] if col is not None and i < len(col) else None


def _rate(part: Any, whole: Any) -> float | None:
    if part is None or whole is None:
        return None
    return round(100.0 * part / whole, 1) if whole > 0 else 0.0


def _workers_at(series: HistorySeries, i: int) -> list[WorkerInfo] | None:
    """The per-worker rows of bucket ``i`` (None: no per-worker sample in it)."""
    if series.workers is None:
        return None
    counts: dict[str, int] = {w: c for w, col in series.workers.items() if i < len(col) and (c := col[i]) is not None}
    if not counts:
        return None
    return [WorkerInfo(worker_id=w, host=None, pid=None, connections=c, heartbeat_age_seconds=0.0, alive=True)
            for w, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def _events_until(series: HistorySeries, end: float) -> list[FleetEvent]:
    """The fleet events marked on the history by ``end``, newest first."""
    done = [m for m in series.marks if m.at <= end]
    return sorted(done, key=lambda m: m.at, reverse=True)[:EVENTS_PER_FRAME]


def series_to_stats(series: HistorySeries, configuration: ConfigurationView,
                    service_name: str = "sse_connection_manager") -> list[MonitoringStats]:
    """One MonitoringStats per bucket holding a sample (oldest first)."""
    out: list[MonitoringStats] = []
    for i, t in enumerate(series.times):
        if not series.samples[i]:
            continue
        v = {name: _at(series.last, name, i) for name in series.last}
        end = t + series.step
        alerts: list[Alert] = []
        warnings: list[Alert] = []
        for span in series.alerts:
            if span.start < end and (span.end is None or span.end > t):
                a = Alert(type=span.type, message=f"{span.type} (from the fleet history)",
                          severity=SEVERITY[span.kind])
                (alerts if span.kind == "alert" else warnings).append(a)
        level = series.level[i] or ("unhealthy" if alerts else "degraded" if warnings else "healthy")
        runs, cleaned, errors = v.get("runs"), v.get("cleaned"), v.get("errors")
        store_up = not (i < len(series.coverage) and series.coverage[i] == "unknown")  # an outage's samples
        out.append(MonitoringStats(
            timestamp=datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            service_name=service_name,
            connection_stats=ConnectionStats(active_connections=v.get("active"),
                                             redis_connection_counters=v.get("counter"),
                                             cleanup_task_running=None, store_available=store_up),
            cleanup_stats=CleanupStats(
                total_cleanups=runs, total_connections_cleaned=cleaned, cleanup_errors=errors, failed_connections=None,
                error_rate=_rate(errors, runs), connection_failure_rate=None,
                last_cleanup_duration_ms=v.get("last_ms"),
                connections_per_cleanup=round(cleaned / runs, 2) if runs and cleaned is not None else None,
                stale=v.get("stale"), active=v.get("active_recent"), long_lived=v.get("long_lived"),
                very_old=v.get("very_old"),
                error_rate_window=series.error_rate[i] if i < len(series.error_rate) else None),
            health_indicators=HealthIndicators(overall_health=level, alerts=alerts, warnings=warnings),
            performance_metrics=PerformanceMetrics(
                avg_cleanup_duration_ms=v.get("avg_ms"), cleanup_efficiency_rate=None,
                cleanup_error_rate=_rate(errors, runs),
                connections_cleaned_per_operation=round(cleaned / runs, 2) if runs and cleaned is not None else None),
            configuration=configuration,
            workers=_workers_at(series, i),
            recent_events=_events_until(series, end),
            now=t,
        ))
    return out


def write_recording(stats: list[MonitoringStats], path: str | Path) -> int:
    """Write the frames as a ``--replay``-able JSON-lines file, created 0600 like every
    recording (it may hold what clients sent); returns how many."""
    from sse_tui.recording import open_private
    with open_private(Path(path), "w") as fh:
        for s in stats:
            frame = snapshot_to_json(Snapshot(stats=s), recorded_at=s.now or 0.0)
            fh.write(json.dumps(frame, separators=(",", ":")) + "\n")
    return len(stats)


async def export_history(reader: HistoryReader, range_text: str, path: str | Path,
                         configuration: ConfigurationView, service_name: str = "sse_connection_manager",
                         step: str | None = None) -> int:
    """Read ``range_text`` (``"6h"``) of history from ``reader`` (``FleetReader``) and write
    the recording to ``path``. ValueError for a bad range; returns the frames written."""
    range_s = parse_duration(range_text)
    series = await reader.history(range_s, parse_duration(step) if step else None, workers=True)  # per-worker rows
    return write_recording(series_to_stats(series, configuration, service_name), path)


async def export_fleet_history(reader: Any, range_text: str, path: str | Path) -> int:
    """Export from a connected ``core.fleet.FleetReader`` (configuration and service name
    from its snapshot: the settings the fleet published)."""
    snap = await reader.snapshot()
    return await export_history(reader, range_text, path, snap.configuration, snap.service_name)


async def export_from_redis(redis_url: str, namespace: str | None, range_text: str, path: str | Path) -> int:
    """Connect to the fleet's Redis, export ``range_text`` of history to ``path``, close."""
    from core.fleet import FleetReader

    parse_duration(range_text)  # a bad range fails before connecting
    reader = await (FleetReader.connect(redis_url, namespace) if namespace else FleetReader.connect(redis_url))
    try:
        return await export_fleet_history(reader, range_text, path)
    finally:
        await reader.close()


def run_export(redis_url: str | None, namespace: str | None, range_text: str, path: str) -> int:
    """``sse-dash --redis URL --export-history RANGE FILE``: exit code 0 on success, 3 (one
    line, like every sse-dash start-up error) on a usage or connection error; the message
    never shows the URL's password."""
    import asyncio
    import sys

    from core.store.redis import redact_url

    if not redis_url:
        print("sse-dash: --export-history needs --redis", file=sys.stderr)
        return 3
    try:
        n = asyncio.run(export_from_redis(redis_url, namespace, range_text, path))
    except ValueError as exc:
        print(f"sse-dash: {exc}", file=sys.stderr)
        return 3
    except OSError as exc:
        print(f"sse-dash: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
        return 3
    except Exception as exc:  # noqa: BLE001 - store errors are reported once, here, without secrets
        print(f"sse-dash: cannot export from {redact_url(redis_url)}: {type(exc).__name__}", file=sys.stderr)
        return 3
    print(f"sse-dash: {n} frames of fleet history written to {path} (play with --replay {path})", file=sys.stderr)
    return 0
