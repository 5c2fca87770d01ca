"""What the dashboard knows, as plain data: snapshots, history, events, thresholds, states.

Widgets import this module (never a fetching module). Pure: no Textual, no I/O; every
time comes in as an argument (the App's injected clock, or a recording's own time).

"Unknown is not zero, and old is not now": every number a panel shows carries a
:data:`Freshness` (``current``, ``old``, ``unknown``) worked out here, once, by
:func:`assess`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from core.models import (
    Alert,
    ConfigurationView,
    ConnectionPage,
    FleetEvent,
    MonitoringStats,
)

# The guide's defaults, used only when a (older) server does not publish its own value.
DEFAULT_LONG_LIVED_SECONDS = 3600.0
DEFAULT_VERY_OLD_SECONDS = 21600.0
DEFAULT_HEARTBEAT_TTL_SECONDS = 15.0
DEFAULT_TOUCH_FLUSH_SECONDS = 1.0

HISTORY_SAMPLES = 3600  # one hour at the default 1 s interval
MAX_EVENTS = 60
BACKOFF_CAP_SECONDS = 30.0

Freshness = Literal["current", "old", "unknown"]
CONNECTION_STATES: tuple[str, ...] = ("all", "stale", "active", "long_lived", "very_old")
CONNECTION_SORTS: tuple[str, ...] = ("age", "idle", "events", "bytes")
PAGE_SIZE = 50


@dataclass(frozen=True)
class Thresholds:
    """The fleet's published age classes and heartbeat TTL (the guide's defaults if absent)."""

    stale_seconds: float = 300.0
    long_lived_seconds: float = DEFAULT_LONG_LIVED_SECONDS
    very_old_seconds: float = DEFAULT_VERY_OLD_SECONDS
    heartbeat_ttl_seconds: float = DEFAULT_HEARTBEAT_TTL_SECONDS
    touch_flush_seconds: float = DEFAULT_TOUCH_FLUSH_SECONDS

    @classmethod
    def from_config(cls, cfg: ConfigurationView) -> Thresholds:
        def pick(value: float | None, default: float) -> float:
            return default if value is None else float(value)

        return cls(
            stale_seconds=float(cfg.stale_threshold_seconds),
            long_lived_seconds=pick(cfg.long_lived_seconds, DEFAULT_LONG_LIVED_SECONDS),
            very_old_seconds=pick(cfg.very_old_seconds, DEFAULT_VERY_OLD_SECONDS),
            heartbeat_ttl_seconds=pick(cfg.worker_heartbeat_ttl_seconds, DEFAULT_HEARTBEAT_TTL_SECONDS),
            touch_flush_seconds=pick(cfg.touch_flush_interval_seconds, DEFAULT_TOUCH_FLUSH_SECONDS),
        )


@dataclass(frozen=True)
class ConnectionQuery:
    """What the connections table asks the server for (one page)."""

    state: str = "all"
    q: str = ""
    sort: str = "age"
    order: str = "desc"
    offset: int = 0
    limit: int = PAGE_SIZE


@dataclass(frozen=True)
class Snapshot:
    """One successful poll: the monitoring stats plus what it cost to get them."""

    stats: MonitoringStats
    page: ConnectionPage | None = None  # the connections page asked for with this poll
    poll_ms: float | None = None
    response_bytes: int | None = None
    recorded_at: float | None = None  # set on frames played back from a recording

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds.from_config(self.stats.configuration)

    @property
    def store_down(self) -> bool:
        """The service answered but could not read its store: its numbers are unknown."""
        s = self.stats
        return (
            s.store_status.state != "up"
            or not s.connection_stats.store_available
            or s.connection_stats.active_connections is None
        )


@dataclass
class AlertEvent:
    """One alert, warning or fleet event as seen over time (a line of the events list).

    Times are the data's own time: the recorded time on a replay, the poll time live.
    """

    kind: str  # "alert" | "warning" | "cleanup" | "reap" | "disconnect" | "store"
    type: str
    severity: str
    message: str
    started_at: float
    ended_at: float | None = None
    count: int = 0
    worker_id: str | None = None

    @property
    def ongoing(self) -> bool:
        return self.kind in ("alert", "warning") and self.ended_at is None

    @property
    def is_fleet_event(self) -> bool:
        return self.kind not in ("alert", "warning")


@dataclass
class History:
    """Recent samples for the charts; ``None`` is an unknown sample (drawn as a gap)."""

    active: deque[float | None] = field(default_factory=lambda: deque(maxlen=HISTORY_SAMPLES))
    redis: deque[float | None] = field(default_factory=lambda: deque(maxlen=HISTORY_SAMPLES))
    mismatch: deque[float | None] = field(default_factory=lambda: deque(maxlen=HISTORY_SAMPLES))

    def add(self, snapshot: Snapshot) -> None:
        cs = snapshot.stats.connection_stats
        a, r = cs.active_connections, cs.redis_connection_counters
        self.active.append(a)
        self.redis.append(r)
        self.mismatch.append(None if a is None or r is None else abs(a - r))

    def __len__(self) -> int:
        return len(self.active)


def backoff_delay(interval: float, failures: int, cap: float = BACKOFF_CAP_SECONDS) -> float:
    """Delay before the next poll: the interval, doubled per consecutive failure, capped."""
    if failures <= 0:
        return interval
    return float(min(max(interval, 1.0) * (2 ** min(failures, 16)), max(cap, interval)))


@dataclass(frozen=True)
class Assessment:
    """How far the screen can be trusted right now (computed by :func:`assess`)."""

    freshness: Freshness  # of the stats shown
    badge: str | None  # "SOURCE DOWN" / "STORE DOWN" / "UNKNOWN" / None when current
    age: float | None  # seconds since the data shown was fetched
    source_up: bool
    store_up: bool

    @property
    def trusted(self) -> bool:
        return self.freshness == "current"


def assess(snapshot: Snapshot | None, *, last_ok_at: float | None, last_error: str | None, now: float,
           interval: float) -> Assessment:
    """Current, old or unknown; the badge that says why."""
    age = None if last_ok_at is None else max(now - last_ok_at, 0.0)
    if snapshot is None:
        badge = "SOURCE DOWN" if last_error else "UNKNOWN"
        return Assessment("unknown", badge, None, source_up=last_error is None, store_up=False)
    source_up = last_error is None
    store_up = not snapshot.store_down
    if snapshot.recorded_at is not None:  # a replay frame is current for its own time
        return Assessment("current" if store_up else "unknown", None if store_up else "STORE DOWN", 0.0,
                          source_up=True, store_up=store_up)
    if not source_up:
        return Assessment("old", "SOURCE DOWN", age, source_up=False, store_up=store_up)
    if not store_up:
        return Assessment("unknown", "STORE DOWN", age, source_up=True, store_up=False)
    if age is not None and age > max(3 * interval, 5.0):
        return Assessment("old", "UNKNOWN", age, source_up=True, store_up=True)
    return Assessment("current", None, age, source_up=True, store_up=True)


@dataclass
class DashboardState:
    """What the dashboard knows between polls: last good data, failures, history, events."""

    snapshot: Snapshot | None = None
    last_ok_at: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    failures: int = 0
    next_poll_at: float | None = None
    polls: int = 0
    history: History = field(default_factory=History)
    events: list[AlertEvent] = field(default_factory=list)
    _fleet_seen: set[tuple[float, str, str]] = field(default_factory=set)

    def record_success(self, snapshot: Snapshot, now: float) -> None:
        self.snapshot = snapshot
        self.last_ok_at = now
        self.last_error = None
        self.failures = 0
        self.polls += 1
        self.history.add(snapshot)
        # alerts carry the data's own time: the recorded time on a replay
        at = snapshot.recorded_at if snapshot.recorded_at is not None else now
        self._update_events(snapshot, at)

    def record_failure(self, reason: str, now: float) -> None:
        self.last_error = reason
        self.last_error_at = now
        self.failures += 1
        self.polls += 1

    def data_age(self, now: float) -> float | None:
        return None if self.last_ok_at is None else max(now - self.last_ok_at, 0.0)

    def is_stale(self, now: float, interval: float) -> bool:
        """True when what is on screen may no longer be true."""
        age = self.data_age(now)
        return self.last_error is not None or age is None or age > max(3 * interval, 5.0)

    def assess(self, now: float, interval: float) -> Assessment:
        return assess(self.snapshot, last_ok_at=self.last_ok_at, last_error=self.last_error, now=now,
                      interval=interval)

    def reset_events(self) -> None:
        """Forget events (a replay seek jumps in time)."""
        self.events.clear()
        self._fleet_seen.clear()

    def _update_events(self, snapshot: Snapshot, now: float) -> None:
        hi = snapshot.stats.health_indicators
        current: dict[tuple[str, str], Alert] = {("alert", a.type): a for a in hi.alerts}
        current.update({("warning", w.type): w for w in hi.warnings})
        open_events = {(e.kind, e.type): e for e in self.events if e.ongoing}
        for key, event in open_events.items():
            if key not in current:
                event.ended_at = now
            else:
                event.message = current[key].message
                event.severity = current[key].severity
        for key, alert in current.items():
            if key not in open_events:
                self.events.append(AlertEvent(key[0], alert.type, alert.severity, alert.message, started_at=now))
        for fe in snapshot.stats.recent_events:
            self._add_fleet_event(fe)
        if len(self.events) > MAX_EVENTS:
            # drop the oldest finished events first
            finished = sorted((e for e in self.events if not e.ongoing), key=lambda e: e.ended_at or e.started_at)
            for e in finished[: len(self.events) - MAX_EVENTS]:
                self.events.remove(e)

    def _add_fleet_event(self, fe: FleetEvent) -> None:
        key = (fe.at, fe.type, fe.message)
        if key in self._fleet_seen:
            return
        self._fleet_seen.add(key)
        severity = "high" if fe.type == "reap" or fe.type == "store" else "low"
        self.events.append(AlertEvent(fe.type, fe.type, severity, fe.message, started_at=fe.at, ended_at=fe.at,
                                      count=fe.count, worker_id=fe.worker_id))


@dataclass(frozen=True, eq=False)
class View:
    """Everything a panel needs for one paint, pushed into its ``view`` reactive by the App."""

    snapshot: Snapshot | None
    assessment: Assessment
    history: History
    events: tuple[AlertEvent, ...]
    now: float  # the data's clock: the server's ``now`` / recorded time when known
    readonly: bool = False

    @property
    def stats(self) -> MonitoringStats | None:
        return None if self.snapshot is None else self.snapshot.stats

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds() if self.snapshot is None else self.snapshot.thresholds


def worker_alive(alive: bool, heartbeat_age: float, ttl: float) -> bool:
    """Dead when the API says so or its heartbeat is older than the fleet's heartbeat TTL."""
    return alive and heartbeat_age <= ttl
