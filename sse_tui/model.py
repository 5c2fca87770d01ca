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

from core import classify
from core.config import SSEConfig
from core.models import (
    NOTABLE_EVENTS,
    Alert,
    BlastRadius,
    ConfigurationView,
    ConnectionPage,
    ConnectionRecord,
    FleetEvent,
    MonitoringStats,
    RegistryState,
    WorkerInfo,
    WorkerState,
)
from sse_tui import fmt


def _default(setting: str) -> float:
    """A setting's default, as core.config.SSEConfig writes it (the one place it is written)."""
    return float(SSEConfig.model_fields[setting].default)


# The service's defaults, used only when a (older) server does not publish its own value.
DEFAULT_STALE_SECONDS = _default("STALE_CONNECTION_THRESHOLD_SECONDS")
DEFAULT_LONG_LIVED_SECONDS = _default("LONG_LIVED_SECONDS")
DEFAULT_VERY_OLD_SECONDS = _default("VERY_OLD_SECONDS")
DEFAULT_HEARTBEAT_TTL_SECONDS = _default("WORKER_HEARTBEAT_TTL_SECONDS")
DEFAULT_TOUCH_FLUSH_SECONDS = _default("TOUCH_FLUSH_INTERVAL_SECONDS")
# SSE_NOT_READING_SECONDS has no fallback: a server that does not publish it leaves it unknown
# (Thresholds.not_reading_seconds says why)

HISTORY_SAMPLES = 3600  # one hour at the default 1 s interval
MAX_EVENTS = 60  # the events list; routine cleanups go first, then ended alerts
MAX_NOTABLE_EVENTS = 100  # deaths, reaps, disconnects, outages, operator actions: never pushed out by the rest
BACKOFF_CAP_SECONDS = 30.0

Freshness = Literal["current", "old", "unknown"]

# Header badges (Assessment.badge), by why the numbers on screen are not current. The store's
# and the registry's states come from core.models (STORE_STATES / REGISTRY_STATES).
STORE_BADGE: dict[str, str] = {"refusing_writes": "STORE REFUSES WRITES", "error": "STORE ERROR"}  # else STORE DOWN
REGISTRY_BADGE: dict[str, str] = {"rebuilding": "REBUILDING", "settling": "SETTLING", "empty": "EMPTY"}

# A worker's state as shown (core.models.WORKER_STATES): a symbol and a word, so 16 colours,
# TERM=screen and NO_COLOR read it; the order puts what needs a look first.
WORKER_LABEL: dict[str, str] = {"dead": "✖ DEAD", "late": "▲ LATE", "unknown": "? UNKNOWN", "alive": "✔ ALIVE"}
WORKER_ORDER: tuple[WorkerState, ...] = ("dead", "late", "unknown", "alive")
CONNECTION_STATES: tuple[str, ...] = classify.STATES  # what a listing filters by (core.classify)
CONNECTION_SORTS: tuple[str, ...] = ("age", "idle", "events", "bytes", "queued")
PAGE_SIZE = 50


@dataclass(frozen=True)
class Thresholds:
    """The fleet's published age classes and heartbeat TTL (the guide's defaults if absent),
    and its not-reading time (``None`` if absent: unknown, see :attr:`queue_current_within`)."""

    stale_seconds: float = DEFAULT_STALE_SECONDS
    long_lived_seconds: float = DEFAULT_LONG_LIVED_SECONDS
    very_old_seconds: float = DEFAULT_VERY_OLD_SECONDS
    heartbeat_ttl_seconds: float = DEFAULT_HEARTBEAT_TTL_SECONDS
    touch_flush_seconds: float = DEFAULT_TOUCH_FLUSH_SECONDS
    not_reading_seconds: float | None = None

    @property
    def current_within(self) -> float:
        """Counts taken this recently are "now" (a worker writes them at its flushes)."""
        return max(2 * self.touch_flush_seconds, 2.0)

    @property
    def queue_current_within(self) -> float | None:
        """A send queue read this recently is "now": a worker reads its sockets at least twice
        within the not-reading time (core.manager's socket read interval, at most half of it)
        and publishes each read, so an older read cannot say whether the client reads now.

        The time is the one in force on the server (``configuration.not_reading_seconds``).
        ``None`` when the server does not publish it (one from before it did): whether a read
        is current is then unknown, and the detail says so beside the read's age (the
        Configuration tab says the time is not published). It is not
        judged against the default: the setting is changed where it matters (longer, to read
        the socket table less often; shorter, to flag frozen clients sooner), and against the
        wrong time a read would be called current when it no longer stands for now (or old
        when it is the latest there is); the age in seconds, which is known, is shown either way."""
        return self.not_reading_seconds

    def cut(self, now: float) -> classify.AgeCut:
        """The age classes' cuts at ``now`` (core.classify: the one place they are written)."""
        return classify.cut(now, self.stale_seconds, self.long_lived_seconds, self.very_old_seconds)

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
            not_reading_seconds=None if cfg.not_reading_seconds is None else float(cfg.not_reading_seconds),
        )


def age_classes(r: ConnectionRecord, now: float, th: Thresholds) -> frozenset[str]:
    """The classes a connection is in at ``now`` (``stale`` or ``active``, ``long_lived``,
    ``very_old``): :func:`core.classify.classes`, the server's own rule."""
    return classify.classes(r.connected_at, r.last_activity, th.cut(now))


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
class RecordedScope:
    """What a replay's connections list is drawn from: the one page the dashboard recorded
    (``offset``, ``count`` records) of the ``total`` the server had for that query, ``lag``
    seconds before the frame on screen (0: recorded with it)."""

    total: int
    offset: int
    count: int
    limit: int
    state: str
    query: str
    sort: str
    order: str
    truncated: bool = False
    lag: float = 0.0

    @property
    def page(self) -> int:
        return self.offset // max(self.limit, 1) + 1

    @property
    def pages(self) -> int:
        return max((self.total - 1) // max(self.limit, 1) + 1, 1)


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
        if s.store_status.state != "up" or not s.connection_stats.store_available:
            return True
        # a server from before the registry state says "unknown" with null counts alone
        return s.registry.state == "settled" and s.connection_stats.active_connections is None

    @property
    def store_badge(self) -> str:
        return STORE_BADGE.get(self.stats.store_status.state, "STORE DOWN")

    @property
    def registry_state(self) -> RegistryState:
        """``settled`` unless the registry's numbers do not stand for now (rebuilding,
        settling, empty): then every registry number is unknown (the server sends null)."""
        return self.stats.registry.state

    @property
    def registry_unsettled(self) -> bool:
        return self.registry_state in REGISTRY_BADGE


@dataclass
class AlertEvent:
    """One alert, warning or fleet event as seen over time (a line of the events list).

    Times are the data's own time: the recorded time on a replay, the poll time live.
    """

    kind: str  # "alert" | "warning" | a fleet event's type (core.models.EVENT_TYPES)
    type: str
    severity: str
    message: str
    started_at: float
    ended_at: float | None = None
    count: int = 0
    worker_id: str | None = None
    runs: int = 1  # routine cleanups grouped into this row (the server groups them)
    blast: BlastRadius | None = None  # who it cut and who came back (core.blast), as last read

    @property
    def ongoing(self) -> bool:
        return self.kind in ("alert", "warning") and self.ended_at is None

    @property
    def is_fleet_event(self) -> bool:
        return self.kind not in ("alert", "warning")

    @property
    def notable(self) -> bool:
        """A fleet event that routine rows never push out (core.models.NOTABLE_EVENTS)."""
        return self.kind in NOTABLE_EVENTS


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
    badge: str | None  # SOURCE DOWN / STORE DOWN (STORE_BADGE) / REBUILDING, SETTLING, EMPTY / UNKNOWN; None: current
    age: float | None  # seconds since the data shown was fetched
    source_up: bool
    store_up: bool
    registry: RegistryState = "settled"  # not settled: the registry's numbers are unknown (the badge says why)

    @property
    def trusted(self) -> bool:
        return self.freshness == "current"

    @property
    def numbers_unknown(self) -> bool:
        """The source answered now, but the numbers it gave are unknown (store or registry)."""
        return self.source_up and (not self.store_up or self.registry != "settled")

    @property
    def verdict_current(self) -> bool:
        """The health verdict is the service's word for now (it says why the numbers are
        unknown: its registry rebuilds, settles or is empty), though the numbers are not."""
        return self.trusted or (self.source_up and self.store_up and self.registry != "settled")


def _unknown_badge(snapshot: Snapshot) -> tuple[str | None, RegistryState]:
    """Why a snapshot's numbers are unknown (its badge), or None when they are known."""
    if snapshot.store_down:
        return snapshot.store_badge, "settled"
    if snapshot.registry_unsettled:
        return REGISTRY_BADGE[snapshot.registry_state], snapshot.registry_state
    return None, "settled"


def assess(snapshot: Snapshot | None, *, last_ok_at: float | None, last_error: str | None, now: float,
           interval: float) -> Assessment:
    """Current, old or unknown; the badge that says why."""
    age = None if last_ok_at is None else max(now - last_ok_at, 0.0)
    if snapshot is None:
        badge = "SOURCE DOWN" if last_error else "UNKNOWN"
        return Assessment("unknown", badge, None, source_up=last_error is None, store_up=False)
    source_up = last_error is None
    store_up = not snapshot.store_down
    why, registry = _unknown_badge(snapshot)
    if snapshot.recorded_at is not None:  # a replay frame is current for its own time
        return Assessment("current" if why is None else "unknown", why, 0.0, source_up=True, store_up=store_up,
                          registry=registry)
    if not source_up:
        return Assessment("old", "SOURCE DOWN", age, source_up=False, store_up=store_up)
    if age is not None and age > max(3 * interval, 5.0) and store_up:
        return Assessment("old", "UNKNOWN", age, source_up=True, store_up=True)
    if why is not None:
        return Assessment("unknown", why, age, source_up=True, store_up=store_up, registry=registry)
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
    _fleet: dict[tuple[str, float, str], AlertEvent] = field(default_factory=dict)  # listed fleet events by key
    _fleet_dropped: set[tuple[str, float, str]] = field(default_factory=set)  # pushed out: never listed again

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
        self._fleet.clear()
        self._fleet_dropped.clear()

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
        self._trim()

    def _trim(self) -> None:
        """At most MAX_EVENTS rows: routine cleanups go first, then ended alerts and warnings
        (oldest first); notable fleet events only past MAX_NOTABLE_EVENTS of their own."""
        def end(e: AlertEvent) -> float:
            return e.ended_at if e.ended_at is not None else e.started_at

        over = len(self.events) - MAX_EVENTS
        routine = sorted((e for e in self.events if e.is_fleet_event and not e.notable), key=end)
        ended = sorted((e for e in self.events if not e.is_fleet_event and not e.ongoing), key=end)
        notable = sorted((e for e in self.events if e.notable), key=end)
        drop = (routine + ended)[:max(over, 0)] + notable[:max(len(notable) - MAX_NOTABLE_EVENTS, 0)]
        for e in drop:
            self.events.remove(e)
            for key, listed in list(self._fleet.items()):
                if listed is e:
                    del self._fleet[key]
                    self._fleet_dropped.add(key)

    def _add_fleet_event(self, fe: FleetEvent) -> None:
        key = fleet_key(fe)
        if key in self._fleet_dropped:
            return
        start = fe.first_at if fe.first_at is not None else fe.at
        end = fe.until if fe.until is not None else fe.at
        listed = self._fleet.get(key)
        if listed is not None:  # a group that grew (more routine runs) since the last poll
            listed.message, listed.count, listed.runs, listed.ended_at = fe.message, fe.count, fe.runs, end
            listed.worker_id = fe.worker_id
            if fe.blast is not None:
                listed.blast = fe.blast  # its comebacks, as they grow
            return
        event = AlertEvent(fe.type, fe.type, EVENT_SEVERITY.get(fe.type, "low"), fe.message, started_at=start,
                           ended_at=end, count=fe.count, worker_id=fe.worker_id, runs=fe.runs, blast=fe.blast)
        self._fleet[key] = event
        self.events.append(event)


EVENT_SEVERITY: dict[str, str] = {"death": "high", "reap": "high", "store": "high", "outage": "high", "rebuild": "high",
                                  "disconnect": "medium", "operator": "medium"}  # routine cleanups: low


def fleet_key(fe: FleetEvent) -> tuple[str, float, str]:
    """One row per fleet event: a group of routine cleanups keeps its first run's time as it
    grows (its message, count and latest time change), any other event is unique as sent."""
    first = fe.first_at if fe.first_at is not None else fe.at
    return (fe.type, first, "" if fe.type == "cleanup" else fe.message)


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


def worker_state(w: WorkerInfo, ttl: float) -> WorkerState:
    """The worker's state as the server judged it (core.liveness); a server from before
    worker states (always ``alive``) is judged by its ``alive`` and the heartbeat TTL."""
    if w.state != "alive":
        return w.state
    return "alive" if w.alive and w.heartbeat_age_seconds <= ttl else "dead"


def workers_by_state(workers: list[WorkerInfo], ttl: float) -> list[WorkerInfo]:
    """Dead first, then late, unknown, alive (each by id): what needs a look on top."""
    return sorted(workers, key=lambda w: (WORKER_ORDER.index(worker_state(w, ttl)), w.worker_id))


@dataclass(frozen=True)
class StateCount:
    state: WorkerState
    workers: int
    connections: int


def worker_counts(workers: list[WorkerInfo], ttl: float) -> list[StateCount]:
    """How many workers are in each state (and the connections they hold), in WORKER_ORDER."""
    out = []
    for state in WORKER_ORDER:
        these = [w for w in workers if worker_state(w, ttl) == state]
        if these:
            out.append(StateCount(state, len(these), sum(w.connections for w in these)))
    return out


def counts_age(record: ConnectionRecord, now: float) -> float | None:
    """How old a connection's events/bytes are at ``now`` (server clock); None: unknown."""
    return None if record.counts_at is None else max(now - record.counts_at, 0.0)


def detail_now(now: float, record: ConnectionRecord | None) -> float:
    """The server's clock for a view of ``record`` fetched after ``now`` (the last poll's):
    at least the times its counts and its send queue were taken (the server had them when
    it answered; the worker answering counts its own streams as of its own now)."""
    if record is None:
        return now
    return max([now, *(t for t in (record.counts_at, record.queue_at) if t is not None)])


def queue_age(record: ConnectionRecord, now: float) -> float | None:
    """How old a connection's send-queue read is at ``now`` (server clock); None: unknown."""
    return None if record.queue_at is None else max(now - record.queue_at, 0.0)


def counts_note(record: ConnectionRecord, now: float, th: Thresholds) -> str | None:
    """What a connection's counts need beside them: None when they are current, else their
    age ("4s ago"), or "age ?" when the server does not know when they were taken."""
    age = counts_age(record, now)
    if age is None:
        return "age ?"
    if age <= th.current_within:
        return None
    return f"{fmt.age(age)} ago"
