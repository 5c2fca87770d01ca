"""What the dashboard knows between polls: last good data, failures, history, events.

Pure: no Textual, no I/O; every time comes in as an argument (the App's injected clock).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from core.models import Alert
from sse_tui.sources import Snapshot

HISTORY_SAMPLES = 300  # 5 minutes at the default 1 s interval
MAX_EVENTS = 30
BACKOFF_CAP_SECONDS = 30.0


def backoff_delay(interval: float, failures: int, cap: float = BACKOFF_CAP_SECONDS) -> float:
    """Delay before the next poll: the interval, doubled per consecutive failure, capped."""
    if failures <= 0:
        return interval
    return min(max(interval, 1.0) * (2 ** min(failures, 16)), max(cap, interval))


@dataclass
class AlertEvent:
    """One alert or warning as seen over time (a line of the glances-like events list)."""

    kind: str  # "alert" | "warning"
    type: str
    severity: str
    message: str
    started_at: float
    ended_at: float | None = None

    @property
    def ongoing(self) -> bool:
        return self.ended_at is None


@dataclass
class History:
    """Recent samples for the sparklines."""

    active: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY_SAMPLES))
    redis: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY_SAMPLES))
    mismatch: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY_SAMPLES))

    def add(self, snapshot: Snapshot) -> None:
        cs = snapshot.stats.connection_stats
        self.active.append(cs.active_connections)
        self.redis.append(cs.redis_connection_counters)
        self.mismatch.append(abs(cs.active_connections - cs.redis_connection_counters))


@dataclass
class DashboardState:
    snapshot: Snapshot | None = None
    last_ok_at: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    failures: int = 0
    next_poll_at: float | None = None
    polls: int = 0
    history: History = field(default_factory=History)
    events: list[AlertEvent] = field(default_factory=list)

    def record_success(self, snapshot: Snapshot, now: float) -> None:
        self.snapshot = snapshot
        self.last_ok_at = now
        self.last_error = None
        self.failures = 0
        self.polls += 1
        self.history.add(snapshot)
        self._update_events(snapshot, now)

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
        if len(self.events) > MAX_EVENTS:
            # drop the oldest finished events first
            finished = [e for e in self.events if not e.ongoing]
            for e in finished[: len(self.events) - MAX_EVENTS]:
                self.events.remove(e)
