"""Fixed, deterministic data: sample ``MonitoringStats`` and an in-memory source.

Used by the snapshot tests and by ``scripts/screenshots.py``; nothing here does I/O.
Alerts and warnings are produced by the server's own rules (``core.health.evaluate``),
so a snapshot never shows an alert type or message the server cannot send.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

from core.config import load_config, validation_warnings
from core.health import HealthInputs, HealthThresholds, evaluate, rule_rows
from core.models import (
    AgeBucket,
    ChannelsPage,
    CleanupResult,
    CleanupStats,
    ConfigurationView,
    ConnectionPage,
    ConnectionRecord,
    ConnectionStats,
    ConnectRate,
    DisconnectResult,
    FleetEvent,
    HealthLevel,
    MonitoringStats,
    PerformanceMetrics,
    ReapResult,
    RegistryStatus,
    StoreStatus,
    WorkerHeartbeat,
    WorkerInfo,
)
from core.reconnects import connect_rate_reason
from core.snapshot import configuration_view, worker_infos, worker_line
from sse_tui.model import ConnectionQuery, Snapshot, Thresholds
from sse_tui.sources import AuthState, SourceError, channels_locally, local_page

T0 = 1_737_369_000.0  # 2025-01-20T10:30:00Z

_BOUNDS = [0, 60, 300, 900, 1800, 3600, 7200, 21600, 43200, 86400, None]
Scenario = Literal["healthy", "degraded", "unhealthy", "store_down", "dead_worker", "late_worker", "rebuilding",
                   "settling", "empty", "refusing_writes"]
# the fleet's liveness settings (the defaults, whatever this shell's SSE_* say): LATE after 2 s, DEAD after 15 s
LIVENESS = load_config(TOUCH_FLUSH_INTERVAL_SECONDS=1.0, WORKER_HEARTBEAT_TTL_SECONDS=15.0, WORKER_LATE_SECONDS=None,
                       CLOCK_SKEW_TOLERANCE_SECONDS=5.0)
NOT_READING_SECONDS = 5.0  # the sample's SSE_NOT_READING_SECONDS (the default): published, and what its queues are flagged by
OWN_WORKER = "web-1:4211"  # the worker that answers /monitoring


# how the sample's connections spread over the age buckets (weights, within each class): the
# counts themselves come from the class totals (:func:`sample_ages`), one place for each fact
_YOUNG_WEIGHTS = (38, 27, 19, 12, 9)  # [0, 1 h): five buckets
_LONG_WEIGHTS = (4, 3)  # [1 h, 6 h): long-lived, not very old
_VERY_OLD_WEIGHTS = (2, 1, 1)  # [6 h, ...)
GUIDE_ACTIVE = 150  # the guide's example fleet: 150 connections, of which
LONG_LIVED = 45  # ... 45 open 1 h or more
VERY_OLD = {"healthy": 3, "degraded": 14}  # ... and 6 h or more: the guide's 3; 14 once degraded (a warning)


def scaled(count: int, active: int) -> int:
    """A class count of the guide's 150 connections for a fleet of ``active`` (the same shares)."""
    return count if active == GUIDE_ACTIVE else round(count * active / GUIDE_ACTIVE)


def _split(total: int, weights: Sequence[int]) -> list[int]:
    """``total`` over ``weights`` in whole numbers that add up to it (largest remainders)."""
    exact = [total * w / sum(weights) for w in weights]
    out = [int(x) for x in exact]
    for i in sorted(range(len(weights)), key=lambda i: out[i] - exact[i])[:total - sum(out)]:
        out[i] += 1
    return out


def sample_ages(active: int, long_lived: int, very_old: int) -> list[AgeBucket]:
    """The age histogram of ``active`` connections of which ``long_lived`` are 1 h old or more
    and ``very_old`` 6 h or more (the edges are LONG_LIVED_SECONDS and VERY_OLD_SECONDS): what
    a server counting those connections sends, its bars adding up to the header's numbers."""
    counts = [*_split(active - long_lived, _YOUNG_WEIGHTS), *_split(long_lived - very_old, _LONG_WEIGHTS),
              *_split(very_old, _VERY_OLD_WEIGHTS)]
    return [AgeBucket(lower_seconds=lo, upper_seconds=hi, count=c)
            for lo, hi, c in zip(_BOUNDS[:-1], _BOUNDS[1:], counts, strict=True)]


def sample_configuration(ping_interval: float, registry_size: int, own_streams: int) -> ConfigurationView:
    """``configuration`` as the server sends it (core.snapshot.configuration_view, its
    validation warnings worded by core.config) for the sample's settings, every one pinned
    (whatever this shell's SSE_* say). Events are counted
    (SSE_COUNT_EVENTS=true), as the sample's connections show them; the answering worker's
    own streams are counted by the kernel but one, behind a proxy that rewrites the client
    address (sample_connections' stream 9, whose queue is unknown): that one by its ASGI send."""
    cfg = load_config(
        COUNT_EVENTS=True, CLEANUP_INTERVAL_SECONDS=60.0, CLEANUP_BATCH_SIZE=10, STALE_CONNECTION_THRESHOLD_SECONDS=300.0,
        PERIODIC_CLEANUP_ENABLED=True, PING_INTERVAL_SECONDS=ping_interval, LONG_LIVED_SECONDS=3600.0,
        VERY_OLD_SECONDS=21600.0, ERROR_RATE_WINDOW_SECONDS=3600.0, ACTIVITY_RESOLUTION_SECONDS=None,
        COUNTS_WRITES_PER_SECOND=10_000.0, TOUCH_FLUSH_INTERVAL_SECONDS=LIVENESS.TOUCH_FLUSH_INTERVAL_SECONDS,
        WORKER_HEARTBEAT_TTL_SECONDS=LIVENESS.WORKER_HEARTBEAT_TTL_SECONDS,
        WORKER_LATE_SECONDS=LIVENESS.WORKER_LATE_SECONDS, CLOCK_SKEW_TOLERANCE_SECONDS=LIVENESS.CLOCK_SKEW_TOLERANCE_SECONDS,
        NOT_READING_SECONDS=NOT_READING_SECONDS)
    asgi = min(own_streams, 1)
    return configuration_view(cfg, validation_warnings(cfg), registry_size, {"kernel": own_streams - asgi, "asgi": asgi, "other": 0})


def own_share(active: int) -> int:
    """web-1's (the answering worker's) part of the ``active`` streams web-1 and web-2 share."""
    return active - (active // 2 - 3)


def sample_workers(active: int, now: float, third: tuple[int, float] | None = None, *,
                   writable: bool = True, settling_since: float | None = None) -> list[WorkerInfo]:
    """web-1 and web-2 share ``active`` (plus ``third``: web-3's connections and heartbeat
    age), judged by the server's own code (core.snapshot.worker_infos, core.liveness)."""
    def hb(wid: str, host: str | None, pid: int | None, conns: int, age: float, started: float) -> WorkerHeartbeat:
        return WorkerHeartbeat(worker_id=wid, host=host, pid=pid, connections=conns, heartbeat_at=now - age,
                               started_at=started)

    beats = [hb(OWN_WORKER, "web-1", 4211, own_share(active), 1.2, T0 - 86000),
             hb("web-2:4377", "web-2", 4377, active - own_share(active), 0.7, T0 - 50000)]
    if third is not None:
        conns, age = third
        dead = age > LIVENESS.WORKER_HEARTBEAT_TTL_SECONDS  # its heartbeat hash expired with the TTL: host unknown
        beats.append(hb("web-3:977", None if dead else "web-3", None if dead else 977, conns, age, T0 - 7200))
    return worker_infos(beats, now, LIVENESS, own_id=OWN_WORKER, own_cleanup_running=True, writable=writable,
                        settling_since=settling_since)


def sample_stats(health: HealthLevel | Scenario = "healthy", *, active: int = 150, now: float = T0) -> MonitoringStats:
    """The guide's example response, nudged to the requested scenario (alerts from core.health,
    worker states from core.liveness): what the server sends in that situation."""
    redis_counters = active - 2
    error_rate = 2.2
    running = True
    stale, very_old = 2, scaled(VERY_OLD["healthy"], active)
    long_lived = scaled(LONG_LIVED, active)
    store_up = health not in ("store_down", "refusing_writes")
    registry = RegistryStatus()
    settled = health not in ("rebuilding", "settling", "empty")
    held: dict[str, float] = {}
    third: tuple[int, float] | None = None  # web-3: (connections, heartbeat age)
    if health in ("degraded", "unhealthy"):
        stale, very_old = 64, scaled(VERY_OLD["degraded"], active)
        error_rate = 6.4
    if health == "unhealthy":
        redis_counters = active + 37
        error_rate = 14.3
        running = False
    if health in ("unhealthy", "dead_worker"):
        # the dead worker's 41 connections stay in the registry (and its counter) until it is
        # reaped (at a fleet-mate's next flush), while active counts the live workers only
        redis_counters = active + 41
        # dead_worker: just past the TTL, the mismatch is 0.6 s old (below its 5 s hold: no alert
        # yet); unhealthy: dead for 6 s, reaping failing with the cleanups, the mismatch held
        third = (41, 15.6) if health == "dead_worker" else (41, 21.0)
        held = {"connection_mismatch": 0.6 if health == "dead_worker" else 6.0}
    if health == "late_worker":
        third = (63, 3.2)  # hung or slow: its connections still count as active
    if health == "rebuilding":
        third = (41, 0.4)
        registry = RegistryStatus(state="rebuilding", since=now - 6, pending_workers=["web-2:4377", "web-3:977"],
                                  epoch="7f3a9c2e", last_loss_at=now - 6,
                                  reason="the state store lost the fleet's data; 1 of 3 live worker(s) re-registered so far")
    if health == "settling":
        registry = RegistryStatus(state="settling", since=now - 3, pending_workers=["web-2:4377"], epoch="5d01b7aa",
                                  reason="the state store is back; 1 of 2 live worker(s) resynced so far")
    if health == "empty":
        registry = RegistryStatus(state="empty", reason="nothing under this namespace: no worker has registered here "
                                  "(or the store lost everything and no worker has come back yet)")
        running = False
    shared = active - (third[0] if third and health in ("late_worker", "rebuilding") else 0)  # web-1's and web-2's
    workers: list[WorkerInfo] | None = [] if health == "empty" else sample_workers(
        shared, now, third, writable=health != "refusing_writes",
        settling_since=registry.since if health == "settling" else None)
    # the answering worker's open streams (its own table: known with the store down too; none when nothing registered)
    own_streams = 0 if health == "empty" else own_share(shared)
    dead = tuple(worker_line(w) for w in workers or [] if w.state == "dead")
    late = tuple(worker_line(w) for w in workers or [] if w.state == "late")
    known = store_up and settled
    store_error = None if store_up else ("connection refused" if health == "store_down" else
                                         "redis refuses writes: OOM command not allowed when used memory > 'maxmemory'")
    # the reconnect-storm meter over the last 10 s: a quiet fleet; after a death, its clients coming back
    connects, reconnects = (44, 39) if health in ("dead_worker", "unhealthy") else (23, 4)
    rate = ConnectRate(window_seconds=10.0, connects=connects, reconnects=reconnects, per_second=connects / 10,
                       reconnects_per_second=reconnects / 10,
                       reconnect_share_percent=round(100 * reconnects / connects, 1)) if store_up else None
    indicators = evaluate(HealthInputs(
        active_connections=active if known else None,
        redis_connection_counters=redis_counters if known else None,
        error_rate=error_rate,
        cleanup_task_running=running,
        periodic_cleanup_enabled=True,
        stale=stale if known else None,
        very_old=very_old if known else None,
        store_available=store_up,
        store_error=store_error,
        error_rate_window=error_rate,
        error_rate_window_seconds=3600.0,
        error_rate_window_runs=60,  # a cleanup a minute over the hour: enough runs to call it a rate
        dead_workers=dead if store_up else None, late_workers=late if store_up else None,
        registry_state=registry.state if store_up else "unknown", registry_reason=registry.reason,
        held_for=held,
        reconnects_per_second=rate.reconnects_per_second if rate else None,
        connects_per_second=rate.per_second if rate else None,
    ))
    buckets = sample_ages(active, long_lived, very_old)
    events: list[FleetEvent] = []
    if health in ("dead_worker", "late_worker"):
        # twelve routine cleanups in a row are one event (the server groups them); a disconnect is never grouped
        events = [FleetEvent(at=now - 40, first_at=now - 40 - 11 * 60, runs=12, type="cleanup", count=34,
                             message="cleanup removed 2 stale connection(s)", worker_id="web-2:4377"),
                  FleetEvent(at=now - 8, type="disconnect", message="connection c-0003 disconnected by an operator",
                             count=1, worker_id="web-1:4211")]
    cs = ConnectionStats(active_connections=active, redis_connection_counters=redis_counters, cleanup_task_running=running)
    cl = CleanupStats(
        total_cleanups=45, total_connections_cleaned=89, cleanup_errors=1 if health == "healthy" else 5,
        failed_connections=3, error_rate=error_rate, connection_failure_rate=3.3, last_cleanup_duration_ms=12.5,
        connections_per_cleanup=1.98, stale=stale, active=active - stale, long_lived=long_lived, very_old=very_old,
    )
    pm = PerformanceMetrics(avg_cleanup_duration_ms=12.5, cleanup_efficiency_rate=96.7, cleanup_error_rate=error_rate,
                            connections_cleaned_per_operation=1.98)
    store = StoreStatus()
    if not store_up:
        cs = ConnectionStats(active_connections=None, redis_connection_counters=None, cleanup_task_running=None,
                             store_available=False)
        cl = CleanupStats(**{k: None for k in CleanupStats.model_fields})
        pm = PerformanceMetrics(**{k: None for k in PerformanceMetrics.model_fields})
        store = StoreStatus(state="unreachable" if health == "store_down" else "refusing_writes", reason=store_error,
                            since=now - 25, last_ok=now - 25)
        registry = RegistryStatus(state="unknown", reason=store_error)
        buckets = []
        if health == "store_down":
            workers = None
    elif not settled:  # every registry number unknown (the server sends null); the cleanup counters are kept
        cs = ConnectionStats(active_connections=None, redis_connection_counters=None, cleanup_task_running=running)
        cl = cl.model_copy(update={"stale": None, "active": None, "long_lived": None, "very_old": None})
        buckets = []
        if health == "empty":
            cl = CleanupStats(total_cleanups=0, total_connections_cleaned=0, cleanup_errors=0, failed_connections=0,
                              error_rate=0.0, connection_failure_rate=0.0, last_cleanup_duration_ms=0.0,
                              connections_per_cleanup=0.0, stale=None, active=None, long_lived=None, very_old=None)
            pm = PerformanceMetrics(avg_cleanup_duration_ms=0.0, cleanup_efficiency_rate=100.0, cleanup_error_rate=0.0,
                                    connections_cleaned_per_operation=0.0)
    return MonitoringStats(
        timestamp="2025-01-20T10:30:00Z",
        service_name="sse_connection_manager",
        connection_stats=cs,
        cleanup_stats=cl,
        health_indicators=indicators,
        performance_metrics=pm,
        # unhealthy: a ping interval the stale threshold does not cover three times (a validation warning)
        configuration=sample_configuration(120.0 if health == "unhealthy" else 15.0,
                                           0 if health == "empty" else redis_counters, own_streams),
        workers=workers,
        age_histogram=buckets,
        store_status=store,
        registry=registry,
        health_rules=rule_rows(HealthThresholds()),
        recent_events=events,
        now=now,
        connect_rate=rate,
        connect_rate_reason=connect_rate_reason(rate, None, store_up),  # what the server says when it is null
    )


# what browsers, curl and a Python client send (the server keeps up to 256 characters)
USER_AGENTS = ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "curl/8.5.0",
               "python-httpx/0.27.2", "Mozilla/5.0")


def sample_connections(n: int = 12, now: float = T0, *, late_worker: bool = False) -> tuple[ConnectionRecord, ...]:
    """Oldest first, like /monitoring/connections. Counts as the server sends them: web-1's
    (the worker that answered) as of now, web-2's as of its last flush; with ``late_worker``
    every third stream is web-3's, whose counts are as old as its last heartbeat (3.2 s)."""
    out = []
    for i in range(n):
        age = 30000 - (i * 2400) % 29000
        host, pid, counted = ("web-1", 4211, now) if i % 2 else ("web-2", 4377, now - 0.7)
        if late_worker and i % 3 == 1:
            host, pid, counted = "web-3", 977, now - 3.2
        out.append(
            ConnectionRecord(
                connection_id=f"c-{i:04d}-{(i * 7919) % 9973:04x}",
                worker_id=f"{host}:{pid}",
                host=host,
                pid=pid,
                channel=("orders", "prices", "default")[i % 3],
                client_address=f"10.0.{i % 4}.{10 + i % 240}",
                user_agent=USER_AGENTS[i % len(USER_AGENTS)],
                connected_at=now - age,
                last_activity=now - (400 if i % 4 == 0 else 5 + i % 50),
                events_sent=100 * (n - i),
                bytes_sent=4096 * (n - i),
                counts_at=counted,
                **_queue(i, min(counted, now - 0.4)),
            )
        )
    return tuple(out)


def _queue(i: int, read_at: float) -> dict[str, object]:
    """A stream's send queue as the server sends it (core.queues): most empty, some bytes
    in flight, one client that stopped reading (its window full: the queue no longer grows),
    one falling behind (growing at every read), one whose socket the table does not show.
    ``read_at``: its worker's last read (a LATE worker's is as old as its last heartbeat)."""
    if i == 9:
        return {}  # unknown: behind a proxy that rewrites the client address
    queued, growth, behind = {4: (47_104, 0, 398.0), 6: (212_992, 65_536, 7.5), 3: (1_460, 1_460, None)}.get(
        i, (0, 0, None))
    return {"queued_bytes": queued, "queue_growth_bytes": growth, "not_reading_seconds": behind,
            "not_reading": behind is not None and behind >= NOT_READING_SECONDS, "queue_at": read_at}


def sample_snapshot(health: HealthLevel | Scenario = "healthy", *, active: int = 150) -> Snapshot:
    return Snapshot(stats=sample_stats(health, active=active), poll_ms=14.0, response_bytes=2345)


class ScriptedSource:
    """An in-memory source: plays ``steps`` in order, then repeats the last one.

    A step is a ``Snapshot``, a ``MonitoringStats`` or a ``SourceError`` (raised). It pages
    ``connections`` with the server's rules (``local_page``), and records every action.
    """

    def __init__(
        self,
        steps: Sequence[Snapshot | MonitoringStats | SourceError],
        *,
        name: str = "fixture http://sse.example:8000/monitoring",
        cleanup_result: CleanupResult | None = None,
        cleanup_error: SourceError | None = None,
        connections: Sequence[ConnectionRecord] | None = None,
        auth: AuthState = "ok",
    ) -> None:
        if not steps:
            raise ValueError("ScriptedSource needs at least one step")
        self.steps = list(steps)
        self.name = name
        self.cleanup_result = cleanup_result or CleanupResult(cleaned=7, failed=1, duration_ms=12.5, batches=1)
        self.cleanup_error = cleanup_error
        self.records = list(sample_connections() if connections is None else connections)
        self.auth = auth
        self.fetches = 0
        self.cleanups: list[int] = []
        self.disconnects: list[str] = []
        self.reaps: list[str] = []
        self.queries: list[ConnectionQuery] = []
        self.closed = False

    def describe(self) -> str:
        return self.name

    def _stats(self) -> MonitoringStats:
        for step in reversed(self.steps[: max(self.fetches, 1)]):
            if isinstance(step, Snapshot):
                return step.stats
            if isinstance(step, MonitoringStats):
                return step
        return sample_stats()

    def _now(self) -> float:
        return self._stats().now or T0

    async def fetch(self) -> Snapshot:
        step = self.steps[min(self.fetches, len(self.steps) - 1)]
        self.fetches += 1
        if isinstance(step, SourceError):
            raise step
        if isinstance(step, MonitoringStats):
            return Snapshot(stats=step, poll_ms=14.0, response_bytes=2345)
        return step

    async def list_connections(self, query: ConnectionQuery) -> ConnectionPage:
        self.queries.append(query)
        return local_page(self.records, query, self._now(), Thresholds.from_config(self._stats().configuration))

    async def connection(self, connection_id: str) -> ConnectionRecord | None:
        return next((r for r in self.records if r.connection_id == connection_id), None)

    async def channels(self) -> ChannelsPage:
        return channels_locally(self.records, self._now(), self._stats().configuration.stale_threshold_seconds)

    async def check_auth(self) -> AuthState:
        return self.auth

    async def cleanup(self, batch_size: int) -> CleanupResult:
        self.cleanups.append(batch_size)
        if self.cleanup_error is not None:
            raise self.cleanup_error
        return self.cleanup_result

    async def disconnect(self, connection_id: str) -> DisconnectResult:
        self.disconnects.append(connection_id)
        before = len(self.records)
        self.records = [r for r in self.records if r.connection_id != connection_id]
        if len(self.records) == before:
            raise SourceError("disconnect refused: no such connection (already gone?)")
        return DisconnectResult(connection_id=connection_id, removed=True, closed_locally=True)

    async def reap_worker(self, worker_id: str) -> ReapResult:
        self.reaps.append(worker_id)
        removed = [r for r in self.records if r.worker_id == worker_id]
        self.records = [r for r in self.records if r.worker_id != worker_id]
        return ReapResult(worker_id=worker_id, removed=len(removed))

    async def aclose(self) -> None:
        self.closed = True


def with_page(snapshot: Snapshot, page: ConnectionPage | None) -> Snapshot:
    return dataclasses.replace(snapshot, page=page)
