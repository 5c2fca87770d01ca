"""``sse-dash``: argument parsing, source selection, ``--once`` / ``--json``, exit codes.

Exit status: 0 healthy, 1 degraded, 2 unhealthy, 3 source unreachable or invalid, nothing
under the namespace (nothing to judge), or a token the service rejects (``--once`` prints one
line, which says so). Numbers that are unknown (the store is down, the registry rebuilds or
settles) never exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from core.health import HEALTH_STATUS_CODE
from core.models import NOTABLE_EVENTS, MonitoringStats
from sse_tui import fmt
from sse_tui.literal import clean
from sse_tui.model import REGISTRY_BADGE, WORKER_ORDER, Snapshot, worker_state
from sse_tui.sources import (
    AuthChecker,
    AuthState,
    DemoSource,
    HttpSource,
    RedisSource,
    Source,
    SourceError,
    namespace_of,
    parse_header,
    redis_available,
)

EXIT_SOURCE = 3
ONCE_WORKERS = 8  # workers named on the --once line (the dead ones first), then "+N more"
ONCE_CLOSE_SECONDS = 2.0  # --once: closing the source after the answer (or the deadline), at most
ONCE_EVENTS = 3  # notable fleet events named on the --once line (the newest first), then "+N more"
ONCE_EVENTS_WINDOW_SECONDS = 900.0  # ... of the last 15 minutes (data time)


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
        epilog="exit status (--once): 0 healthy, 1 degraded, 2 unhealthy, 3 source unreachable or invalid, "
        "nothing under the namespace, or a token the service rejects; unknown numbers (store down, registry "
        "rebuilding or settling) never exit 0",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--url", help="remote monitoring URL, e.g. http://host:8000/monitoring")
    src.add_argument("--redis", metavar="REDIS_URL", help="read the fleet straight from Redis, e.g. redis://localhost:6379/0")
    src.add_argument("--replay", metavar="FILE", help="play back a --record file (p pauses, , and . step)")
    p.add_argument("--token", default=None,
                   help="bearer token for --url (visible in ps: prefer env SSE_MONITORING_TOKEN or --token-file)")
    p.add_argument("--token-file", metavar="FILE", default=None, help="read the bearer token from FILE (first line)")
    p.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                   help="send this header with every --url request, e.g. the one the app's own auth needs "
                        "(repeatable; visible in ps: prefer --header-file or env SSE_DASH_HEADERS)")
    p.add_argument("--header-file", metavar="FILE", default=None,
                   help="read headers from FILE, one 'Name: value' a line (blank lines and # comments skipped)")
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
    p.add_argument("--timeline", metavar="RANGE", default=None,
                   help="write the Markdown timeline of the last RANGE (e.g. 1h) of the fleet history (--url, --redis) "
                        "or of a recording (--replay; RANGE `all` for all of it) to stdout, then exit")
    p.add_argument("--output", metavar="FILE", default=None, help="with --timeline: write it to FILE (0600) instead")
    p.add_argument("--tz", metavar="ZONE", default=None,
                   help="with --timeline: the operator's time zone beside UTC (default $TZ, else this machine's)")
    p.add_argument("--step", metavar="STEP", default=None,
                   help="with --timeline: the history's bucket (default 10s, the default sample interval)")
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


HEADERS_ENV = "SSE_DASH_HEADERS"  # 'Name: value' lines (newline-separated), kept out of ps


def read_headers(args: argparse.Namespace) -> dict[str, str]:
    """Headers for --url: --header-file, then SSE_DASH_HEADERS, then --header (warned: ps
    shows it); a later one replaces an earlier one of the same name. Values are secrets:
    no message quotes one."""
    lines: list[tuple[str, str]] = []
    if args.header_file:
        try:
            with open(args.header_file, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise SourceError(f"cannot read --header-file {args.header_file}: {exc.strerror or exc}") from None
        lines += [(line, f"--header-file {args.header_file} line {n}") for n, line in enumerate(text.splitlines(), 1)]
    env = os.environ.get(HEADERS_ENV, "")
    lines += [(line, f"{HEADERS_ENV} line {n}") for n, line in enumerate(env.splitlines(), 1)]
    if args.header:
        print("sse-dash: warning: --header values are visible to every user in ps; use --header-file or "
              f"{HEADERS_ENV}", file=sys.stderr)
        lines += [(line, "--header") for line in args.header]
    headers: dict[str, str] = {}
    for line, where in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, value = parse_header(line, where)
        headers = {k: v for k, v in headers.items() if k.lower() != name.lower()}
        headers[name] = value
    return headers


def make_source(args: argparse.Namespace) -> Source:
    if args.replay:
        from sse_tui.recording import ReplaySource

        return ReplaySource(args.replay)
    if args.url:
        return HttpSource(args.url, token=read_token(args), headers=read_headers(args), timeout=args.timeout)
    if args.redis:
        problem = redis_available()
        if problem:
            raise SourceError(problem)
        return RedisSource(args.redis, args.namespace)
    return DemoSource(clients=args.demo_clients)


def _n(v: object) -> str:
    return "?" if v is None else str(v)


def nothing_to_judge(snapshot: Snapshot) -> bool:
    """The registry is empty: no worker has registered under the namespace read."""
    return not snapshot.store_down and snapshot.registry_state == "empty"


def empty_sentence(namespace: str | None) -> str:
    where = f"namespace `{namespace}` on this Redis" if namespace else "the service's namespace"
    return (f"nothing under {where}: no worker has registered there — a wrong --namespace / SSE_REDIS_NAMESPACE? "
            "(or the store lost everything and no worker has come back yet)")


def _data_time(stats: MonitoringStats) -> float | None:
    """The answer's own time (its ``timestamp``, to the second); None if unreadable."""
    try:
        return datetime.strptime(stats.timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def recent_notable(stats: MonitoringStats) -> str | None:
    """Deaths, reaps, disconnects, outages, rebuilds, operator actions (core.models.NOTABLE_EVENTS)
    of the last ``ONCE_EVENTS_WINDOW_SECONDS`` of data time, newest first, each with its blast
    radius: what an on-call script wants after "is it healthy" (None: none)."""
    now = _data_time(stats)
    if now is None:
        return None
    recent = sorted((e for e in stats.recent_events
                     if e.type in NOTABLE_EVENTS and now - e.at <= ONCE_EVENTS_WINDOW_SECONDS),
                    key=lambda e: e.at, reverse=True)
    if not recent:
        return None
    shown = [f"{e.type} {fmt.age(now - e.at)} ago: {e.message}" + (f" ({e.blast.summary})" if e.blast else "")
             for e in recent[:ONCE_EVENTS]]
    more = len(recent) - len(shown)
    window = fmt.age(ONCE_EVENTS_WINDOW_SECONDS)
    return (f"{len(recent)} event{'s' if len(recent) != 1 else ''} in the last {window}: " + "; ".join(shown)
            + (f"; +{more} more" if more else ""))


def summary(snapshot: Snapshot, source: str, auth: AuthState | None = None, namespace: str | None = None) -> str:
    """The ``--once`` summary: one line (``?`` for every unknown number), parts joined by `` · ``.

    ``auth`` is what the service said of the token (``check_auth``); a rejected token, or
    one the service does not use, is said at the end of the line. ``namespace``: the one
    read (``--redis``), named when there is nothing under it.
    """
    s = snapshot.stats
    cs, cl, cfg = s.connection_stats, s.cleanup_stats, s.configuration
    hi = s.health_indicators
    if nothing_to_judge(snapshot):
        parts = [f"{s.service_name} at {source}: NOTHING TO JUDGE ({s.timestamp})", empty_sentence(namespace)]
        if auth in AUTH_NOTE:
            parts.append(AUTH_NOTE[auth])
        return clean(" · ".join(parts), 4000)
    a, r = cs.active_connections, cs.redis_connection_counters
    mismatch = None if a is None or r is None else abs(a - r)
    parts = [f"{s.service_name} at {source}: {hi.overall_health.upper()} ({s.timestamp})"]
    if snapshot.store_down:
        st = s.store_status
        what = f"{snapshot.store_badge} (state store {st.state}{': ' + st.reason if st.reason else ''}): numbers unknown (?)"
        if st.state == "refusing_writes":
            what += "; workers' heartbeats cannot be written, so their state is unknown"
        parts.append(what)
    elif snapshot.registry_unsettled:
        reg = s.registry
        waiting = f"; waiting for {', '.join(reg.pending_workers)}" if reg.pending_workers else ""
        until = "re-registered" if reg.state == "rebuilding" else "resynced"
        parts.append(f"REGISTRY {REGISTRY_BADGE[reg.state]} ({reg.reason or reg.state}{waiting}): numbers unknown (?) "
                     f"until every live worker has {until}")
    parts += [
        f"active {_n(a)}, counters {_n(r)}, mismatch {_n(mismatch)}",
        f"stale {_n(cl.stale)}, long-lived {_n(cl.long_lived)}, very old {_n(cl.very_old)}",
        f"cleanup {_n(cl.total_cleanups)} runs, error rate {'?' if cl.error_rate is None else fmt.pct(cl.error_rate)}, "
        f"last {'?' if cl.last_cleanup_duration_ms is None else fmt.ms(cl.last_cleanup_duration_ms)}",
    ]
    if s.workers is None:
        parts.append("workers unknown")
    elif s.workers:
        ttl = snapshot.thresholds.heartbeat_ttl_seconds
        ordered = sorted(s.workers, key=lambda w: WORKER_ORDER.index(worker_state(w, ttl)))  # what needs a look first
        shown = ordered[:ONCE_WORKERS]
        more = len(s.workers) - len(shown)

        def tag(state: str) -> str:
            return "" if state == "alive" else f" {state.upper()}"

        parts.append(f"workers {len(s.workers)}: " + ", ".join(
            f"{w.worker_id}={w.connections}{tag(worker_state(w, ttl))}" for w in shown) + (f", +{more} more" if more else ""))
    if not snapshot.store_down:
        parts.append(fmt.connects(s.connect_rate, s.connect_rate_reason))
    for label, items in (("alert", hi.alerts), ("warning", hi.warnings)):
        if items:
            parts.append(f"{len(items)} {label}{'s' if len(items) != 1 else ''}: " + "; ".join(i.message for i in items))
    if not hi.alerts and not hi.warnings and not snapshot.store_down and not snapshot.registry_unsettled:
        parts.append("no alerts")
    events = recent_notable(s)
    if events:
        parts.append(events)
    if cfg.validation_warnings:
        parts.append(f"{len(cfg.validation_warnings)} config warning(s): " + "; ".join(cfg.validation_warnings))
    if auth in AUTH_NOTE:
        parts.append(AUTH_NOTE[auth])
    return clean(" · ".join(parts), 4000)


def exit_status(snapshot: Snapshot) -> int:
    """The health's exit status; nothing under the namespace is 3 (nothing to judge), and
    numbers that are unknown (store down, registry rebuilding or settling) never exit 0."""
    if nothing_to_judge(snapshot):
        return EXIT_SOURCE
    code = HEALTH_STATUS_CODE[snapshot.stats.health_indicators.overall_health]
    if code == 0 and (snapshot.store_down or snapshot.registry_unsettled):
        return 1
    return code


# What --once says of the token, and the exit status it forces (None: the health's).
AUTH_NOTE: dict[str, str] = {
    "rejected": "TOKEN REJECTED: the service refuses this token (cleanup, disconnect and reap would fail)",
    "disabled": "token not used: the service has no token configured (its actions are disabled)",
}
AUTH_EXIT: dict[str, int] = {"rejected": EXIT_SOURCE}


async def _fetch_and_check(source: Source) -> tuple[Snapshot, AuthState | None]:
    """One poll and, for a source with a token, the service's word on it (concurrently)."""
    if not isinstance(source, AuthChecker):
        return await source.fetch(), None
    snapshot, auth = await asyncio.gather(source.fetch(), source.check_auth())
    return snapshot, auth


async def run_once(source: Source, as_json: bool, deadline: float | None = None) -> int:
    """One poll within a total ``deadline`` (seconds): a server that drips bytes cannot hang it.

    Prints one line (or the JSON); a token the service rejects exits 3 whatever the health
    (the line still says the health it read), so a misconfigured check is never silent.
    """
    try:
        snapshot, auth = await asyncio.wait_for(_fetch_and_check(source), timeout=deadline)
    except TimeoutError:
        print(f"sse-dash: {source.describe()}: no complete answer within {deadline:g}s", file=sys.stderr)
        return EXIT_SOURCE
    except SourceError as exc:
        print(f"sse-dash: {source.describe()}: {exc.reason}", file=sys.stderr)
        return EXIT_SOURCE
    finally:
        # bounded on every path: closing a connection to a server that stopped answering must
        # not outlive the deadline by more than this
        try:
            await asyncio.wait_for(source.aclose(), timeout=ONCE_CLOSE_SECONDS)
        except (TimeoutError, Exception):  # noqa: BLE001 - the answer is already in hand (or not)
            pass
    namespace = namespace_of(source)
    if as_json:
        print(json.dumps(snapshot.stats.model_dump(mode="json"), indent=2))
        if nothing_to_judge(snapshot):
            print(f"sse-dash: {source.describe()}: {empty_sentence(namespace)}", file=sys.stderr)
        if auth in AUTH_NOTE:
            print(f"sse-dash: {source.describe()}: {AUTH_NOTE[auth]}", file=sys.stderr)
    else:
        print(summary(snapshot, source.describe(), auth, namespace))
    return AUTH_EXIT.get(auth or "", exit_status(snapshot))


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
    if args.timeline:
        from sse_tui import timeline_run
        return asyncio.run(timeline_run.run(source, args.timeline, args.output, args.tz, args.step))
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
