"""``sse-dash``: argument parsing, source selection, ``--once`` / ``--json``, exit codes.

Exit status: 0 healthy, 1 degraded, 2 unhealthy, 3 source unreachable or invalid.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence

from sse_tui import fmt
from sse_tui.sources import DemoSource, HttpSource, RedisSource, Snapshot, Source, SourceError, redis_available

EXIT_BY_HEALTH = {"healthy": 0, "degraded": 1, "unhealthy": 2}
EXIT_SOURCE = 3


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sse-dash")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sse-dash",
        description="Terminal dashboard for an SSE connection manager. "
        "With no source it starts an embedded demo service and shows that.",
        epilog="exit status (--once): 0 healthy, 1 degraded, 2 unhealthy, 3 source unreachable or invalid",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--url", help="remote monitoring URL, e.g. http://host:8000/monitoring")
    src.add_argument("--redis", metavar="REDIS_URL", help="read the fleet straight from Redis, e.g. redis://localhost:6379/0")
    src.add_argument("--replay", metavar="FILE", help="play back a --record file (p pauses, , and . step)")
    p.add_argument("--token", default=None, help="bearer token for --url (or env SSE_DASH_TOKEN); never shown")
    p.add_argument("--namespace", default=None, help="key namespace for --redis")
    p.add_argument("--interval", type=float, default=1.0, help="refresh interval in seconds (default 1)")
    p.add_argument("--timeout", type=float, default=5.0, help="HTTP timeout in seconds (default 5)")
    p.add_argument("--readonly", action="store_true", help="remove every action (no cleanup)")
    p.add_argument("--record", metavar="FILE", help="append every polled snapshot to FILE (JSON lines)")
    p.add_argument("--once", action="store_true", help="print a plain-text summary and exit")
    p.add_argument("--json", action="store_true", help="with --once: print the monitoring JSON")
    p.add_argument("--demo-clients", type=int, default=40, help=argparse.SUPPRESS)
    p.add_argument("--version", action="version", version=f"sse-dash {_version()}")
    return p


def make_source(args: argparse.Namespace) -> Source:
    if args.replay:
        from sse_tui.recording import ReplaySource

        return ReplaySource(args.replay)
    if args.url:
        token = args.token or os.environ.get("SSE_DASH_TOKEN") or None
        return HttpSource(args.url, token=token, timeout=args.timeout)
    if args.redis:
        problem = redis_available()
        if problem:
            raise SourceError(problem)
        return RedisSource(args.redis, args.namespace)
    return DemoSource(clients=args.demo_clients)


def summary(snapshot: Snapshot, source: str) -> str:
    """The ``--once`` plain-text summary."""
    s = snapshot.stats
    cs, cl, pm, cfg = s.connection_stats, s.cleanup_stats, s.performance_metrics, s.configuration
    hi = s.health_indicators
    mismatch = abs(cs.active_connections - cs.redis_connection_counters)
    lines = [
        f"{s.service_name} at {source}: {hi.overall_health.upper()} ({s.timestamp})",
        f"connections   active {cs.active_connections}, redis counters {cs.redis_connection_counters}, mismatch {mismatch}",
        f"ages          stale {cl.stale}, active {cl.active}, long-lived {cl.long_lived}, very old {cl.very_old}",
        f"cleanup       {cl.total_cleanups} runs, {cl.total_connections_cleaned} cleaned, error rate {fmt.pct(cl.error_rate)}, "
        f"efficiency {fmt.pct(pm.cleanup_efficiency_rate)}, last {fmt.ms(cl.last_cleanup_duration_ms)}, "
        f"avg {fmt.ms(pm.avg_cleanup_duration_ms)}",
        f"periodic task {'running' if cs.cleanup_task_running else 'NOT running'}"
        f" ({'enabled' if cfg.periodic_cleanup_enabled else 'disabled'}, every {cfg.cleanup_interval_seconds:g}s)",
    ]
    if s.workers:
        lines.append(f"workers       {len(s.workers)}: " + ", ".join(f"{w.worker_id}={w.connections}" for w in s.workers))
    for a in hi.alerts:
        lines.append(f"ALERT   [{a.severity}] {a.message}")
    for w in hi.warnings:
        lines.append(f"WARNING [{w.severity}] {w.message}")
    for v in cfg.validation_warnings:
        lines.append(f"CONFIG  {v}")
    return "\n".join(lines)


async def run_once(source: Source, as_json: bool) -> int:
    try:
        snapshot = await source.fetch()
    except SourceError as exc:
        print(f"sse-dash: {source.describe()}: {exc.reason}", file=sys.stderr)
        return EXIT_SOURCE
    finally:
        await source.aclose()
    if as_json:
        print(json.dumps(snapshot.stats.model_dump(mode="json"), indent=2))
    else:
        print(summary(snapshot, source.describe()))
    return EXIT_BY_HEALTH[snapshot.stats.health_indicators.overall_health]


async def run_app(source: Source, args: argparse.Namespace) -> int:
    from sse_tui.app import make_app
    from sse_tui.recording import Recorder

    recorder = Recorder(args.record) if args.record else None
    app = make_app(source, time.time, interval=args.interval, readonly=args.readonly or bool(args.replay), recorder=recorder)
    try:
        await app.run_async()
    finally:
        try:
            await asyncio.wait_for(source.aclose(), timeout=5)
        except (TimeoutError, Exception):  # noqa: BLE001 - exiting anyway
            pass
        if recorder is not None:
            recorder.close()
    return app.return_code or 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.json and not args.once:
        build_parser().error("--json needs --once")
    if args.interval <= 0:
        build_parser().error("--interval must be positive")
    try:
        source = make_source(args)
    except SourceError as exc:
        print(f"sse-dash: {exc.reason}", file=sys.stderr)
        return EXIT_SOURCE
    if args.once:
        try:
            return asyncio.run(run_once(source, args.json))
        except BrokenPipeError:  # e.g. `sse-dash --once --json | head`
            sys.stderr.close()
            return 0
    try:
        return asyncio.run(run_app(source, args))
    except OSError as exc:
        print(f"sse-dash: {exc}", file=sys.stderr)
        return EXIT_SOURCE


if __name__ == "__main__":
    raise SystemExit(main())
