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
from sse_tui.literal import clean
from sse_tui.model import Snapshot
from sse_tui.sources import DemoSource, HttpSource, RedisSource, Source, SourceError, redis_available

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
    p.add_argument("--token", default=None,
                   help="bearer token for --url (visible in ps: prefer env SSE_MONITORING_TOKEN or --token-file)")
    p.add_argument("--token-file", metavar="FILE", default=None, help="read the bearer token from FILE (first line)")
    p.add_argument("--namespace", default=None, help="key namespace for --redis")
    p.add_argument("--interval", type=float, default=1.0, help="refresh interval in seconds (default 1)")
    p.add_argument("--timeout", type=float, default=5.0,
                   help="HTTP timeout in seconds (default 5); with --once, the total deadline")
    p.add_argument("--readonly", action="store_true", help="remove every action (no cleanup)")
    p.add_argument("--record", metavar="FILE", help="append every polled snapshot to FILE (JSON lines, 0600, rotated)")
    p.add_argument("--record-max-mb", type=float, default=50.0, help="rotate the recording at this size (default 50)")
    p.add_argument("--once", action="store_true", help="print a plain-text summary and exit")
    p.add_argument("--json", action="store_true", help="with --once: print the monitoring JSON")
    p.add_argument("--export-history", nargs=2, metavar=("RANGE", "FILE"), default=None,
                   help="with --redis: write RANGE (e.g. 6h) of the stored fleet history as a --replay recording, then exit")
    p.add_argument("--demo-clients", type=int, default=40, help=argparse.SUPPRESS)
    p.add_argument("--version", action="version", version=f"sse-dash {_version()}")
    return p


def read_token(args: argparse.Namespace) -> str | None:
    """The bearer token: --token-file, else SSE_MONITORING_TOKEN (or SSE_DASH_TOKEN), else --token (warned)."""
    if args.token_file:
        try:
            with open(args.token_file, encoding="utf-8") as fh:
                token = fh.readline().strip()
        except OSError as exc:
            raise SourceError(f"cannot read --token-file {args.token_file}: {exc.strerror or exc}") from None
        if not token:
            raise SourceError(f"--token-file {args.token_file} is empty")
        return token
    env = os.environ.get("SSE_MONITORING_TOKEN") or os.environ.get("SSE_DASH_TOKEN")
    if env:
        return env.strip()
    if args.token:
        print("sse-dash: warning: --token is visible to every user in ps; use SSE_MONITORING_TOKEN or --token-file",
              file=sys.stderr)
        return str(args.token)
    return None


def make_source(args: argparse.Namespace) -> Source:
    if args.replay:
        from sse_tui.recording import ReplaySource

        return ReplaySource(args.replay)
    if args.url:
        return HttpSource(args.url, token=read_token(args), timeout=args.timeout)
    if args.redis:
        problem = redis_available()
        if problem:
            raise SourceError(problem)
        return RedisSource(args.redis, args.namespace)
    return DemoSource(clients=args.demo_clients)


def _n(v: object) -> str:
    return "?" if v is None else str(v)


def summary(snapshot: Snapshot, source: str) -> str:
    """The ``--once`` plain-text summary (``?`` for every unknown number)."""
    s = snapshot.stats
    cs, cl, pm, cfg = s.connection_stats, s.cleanup_stats, s.performance_metrics, s.configuration
    hi = s.health_indicators
    a, r = cs.active_connections, cs.redis_connection_counters
    mismatch = None if a is None or r is None else abs(a - r)

    def pct(v: float | None) -> str:
        return "?" if v is None else fmt.pct(v)

    def ms(v: float | None) -> str:
        return "?" if v is None else fmt.ms(v)

    task = "unknown" if cs.cleanup_task_running is None else ("running" if cs.cleanup_task_running else "NOT running")
    lines = [
        f"{s.service_name} at {source}: {hi.overall_health.upper()} ({s.timestamp})",
    ]
    if snapshot.store_down:
        st = s.store_status
        lines.append(f"STORE DOWN    state store {st.state}{' (' + st.reason + ')' if st.reason else ''}: numbers unknown (?)")
    lines += [
        f"connections   active {_n(a)}, redis counters {_n(r)}, mismatch {_n(mismatch)}",
        f"ages          stale {_n(cl.stale)}, active {_n(cl.active)}, long-lived {_n(cl.long_lived)}, very old {_n(cl.very_old)}",
        f"cleanup       {_n(cl.total_cleanups)} runs, {_n(cl.total_connections_cleaned)} cleaned, error rate {pct(cl.error_rate)}, "
        f"efficiency {pct(pm.cleanup_efficiency_rate)}, last {ms(cl.last_cleanup_duration_ms)}, "
        f"avg {ms(pm.avg_cleanup_duration_ms)}",
        f"periodic task {task}"
        f" ({'enabled' if cfg.periodic_cleanup_enabled else 'disabled'}, every {cfg.cleanup_interval_seconds:g}s)",
    ]
    if s.workers is None:
        lines.append("workers       unknown")
    elif s.workers:
        lines.append(f"workers       {len(s.workers)}: " + ", ".join(
            f"{w.worker_id}={w.connections}{'' if w.alive else ' DEAD'}" for w in s.workers))
    for al in hi.alerts:
        lines.append(f"ALERT   [{al.severity}] {al.message}")
    for w in hi.warnings:
        lines.append(f"WARNING [{w.severity}] {w.message}")
    for v in cfg.validation_warnings:
        lines.append(f"CONFIG  {v}")
    return "\n".join(clean(line, 2000) for line in lines)


async def run_once(source: Source, as_json: bool, deadline: float | None = None) -> int:
    """One poll within a total ``deadline`` (seconds): a server that drips bytes cannot hang it."""
    try:
        snapshot = await asyncio.wait_for(source.fetch(), timeout=deadline)
    except TimeoutError:
        print(f"sse-dash: {source.describe()}: no complete answer within {deadline:g}s", file=sys.stderr)
        try:
            await asyncio.wait_for(source.aclose(), timeout=2)
        except (TimeoutError, Exception):  # noqa: BLE001
            pass
        return EXIT_SOURCE
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

    recorder = Recorder(args.record, max_bytes=int(args.record_max_mb * 1024 * 1024)) if args.record else None
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
    """Every start-up problem is one line on stderr and exit 3 (never a traceback)."""
    args = build_parser().parse_args(argv)
    if args.json and not args.once:
        build_parser().error("--json needs --once")
    if args.interval <= 0:
        build_parser().error("--interval must be positive")
    if args.timeout <= 0:
        build_parser().error("--timeout must be positive")
    if args.export_history:
        from sse_tui.history_export import run_export
        return run_export(args.redis, args.namespace, *args.export_history)
    try:
        source = make_source(args)
    except SourceError as exc:
        print(f"sse-dash: {exc.reason}", file=sys.stderr)
        return EXIT_SOURCE
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback (and never a password)
        print(f"sse-dash: cannot start: {type(exc).__name__}", file=sys.stderr)
        return EXIT_SOURCE
    if args.once:
        try:
            return asyncio.run(run_once(source, args.json, deadline=args.timeout))
        except BrokenPipeError:  # e.g. `sse-dash --once --json | head`
            sys.stderr.close()
            return 0
    try:
        return asyncio.run(run_app(source, args))
    except OSError as exc:
        print(f"sse-dash: {exc.strerror or type(exc).__name__}", file=sys.stderr)
        return EXIT_SOURCE


if __name__ == "__main__":
    raise SystemExit(main())
