"""Pure state: backoff, staleness, the alert events history."""

from __future__ import annotations

import pytest

from core.models import Alert, FleetEvent, WorkerInfo
from sse_tui.model import (
    BACKOFF_CAP_SECONDS,
    MAX_EVENTS,
    DashboardState,
    Snapshot,
    Thresholds,
    assess,
    backoff_delay,
    counts_note,
    worker_counts,
    worker_state,
    workers_by_state,
)
from sse_tui.samples import sample_connections, sample_snapshot, sample_stats


@pytest.mark.parametrize(
    ("interval", "failures", "expected"),
    [(1, 0, 1), (1, 1, 2), (1, 2, 4), (1, 4, 16), (1, 5, BACKOFF_CAP_SECONDS), (1, 50, BACKOFF_CAP_SECONDS), (60, 3, 60), (0.5, 1, 2)],
)
def test_backoff_doubles_then_caps(interval: float, failures: int, expected: float) -> None:
    assert backoff_delay(interval, failures) == expected


def test_failure_keeps_last_good_data() -> None:
    st = DashboardState()
    snap = sample_snapshot()
    st.record_success(snap, 100.0)
    st.record_failure("boom", 105.0)
    assert st.snapshot is snap
    assert st.last_error == "boom" and st.failures == 1
    assert st.data_age(110.0) == 10.0
    assert st.is_stale(110.0, 1.0)
    st.record_success(snap, 111.0)
    assert st.failures == 0 and st.last_error is None and not st.is_stale(111.5, 1.0)


def test_events_start_and_end() -> None:
    st = DashboardState()
    st.record_success(sample_snapshot("unhealthy"), 10.0)
    on = {e.type for e in st.events if e.ongoing}
    assert "connection_mismatch" in on and "stale_connection_accumulation" in on
    st.record_success(sample_snapshot("healthy"), 20.0)
    assert all(not e.ongoing for e in st.events)
    assert {e.ended_at for e in st.events} == {20.0}
    st.record_success(sample_snapshot("unhealthy"), 30.0)
    ongoing = [e for e in st.events if e.ongoing]
    assert ongoing and all(e.started_at == 30.0 for e in ongoing)


def test_events_history_is_bounded() -> None:
    st = DashboardState()
    base = sample_stats("healthy")
    for i in range(100):
        hi = base.health_indicators.model_copy(
            update={"warnings": [Alert(type=f"w{i}", message="m", severity="low")]}
        )
        st.record_success(Snapshot(stats=base.model_copy(update={"health_indicators": hi})), float(i))
    assert len(st.events) <= MAX_EVENTS + 1
    assert st.events[-1].type == "w99" and st.events[-1].ongoing


# --------------------------------------------------------------------------- issues 21/22


def _with_events(stats, events, now: float | None = None) -> Snapshot:
    return Snapshot(stats=stats.model_copy(update={"recent_events": events, **({"now": now} if now else {})}))


def test_a_group_of_routine_cleanups_is_one_row_as_it_grows() -> None:
    """The server merges routine cleanups in a row into the event at the head (its time, count
    and runs change; its first run's time does not): the dashboard updates that one row."""
    st = DashboardState()
    base = sample_stats("healthy")
    first = FleetEvent(at=100.0, type="cleanup", message="cleanup removed 2 stale connection(s)", count=2)
    st.record_success(_with_events(base, [first]), 100.0)
    grown = first.model_copy(update={"at": 160.0, "first_at": 100.0, "runs": 2, "count": 5,
                                     "message": "cleanup removed 3 stale connection(s)"})
    st.record_success(_with_events(base, [grown]), 160.0)
    rows = [e for e in st.events if e.kind == "cleanup"]
    assert len(rows) == 1
    assert (rows[0].runs, rows[0].count, rows[0].started_at, rows[0].ended_at) == (2, 5, 100.0, 160.0)
    later = FleetEvent(at=400.0, type="cleanup", message="cleanup removed 1 stale connection(s)", count=1)
    st.record_success(_with_events(base, [later, grown]), 400.0)  # a new group after a notable event
    assert len([e for e in st.events if e.kind == "cleanup"]) == 2


def test_notable_events_are_never_pushed_out_by_routine_rows() -> None:
    """A death, a reap, an outage and an operator's cleanup stay while hundreds of routine
    groups and ended warnings come and go; the list stays bounded."""
    st = DashboardState()
    base = sample_stats("healthy")
    notable = [
        FleetEvent(at=10.0, type="death", count=63, worker_id="web-3:977",
                   message="worker web-3:977 died (process 977 gone (seen by web-1:4211 on its host)): 63 stream(s) cut and reaped"),
        FleetEvent(at=11.0, type="reap", count=2, worker_id="web-4:1", message="worker web-4:1 reaped on request: 2 stream(s) cut"),
        FleetEvent(at=12.0, first_at=5.0, until=12.0, type="outage", message="state store unavailable for 7s (connection refused)"),
        FleetEvent(at=13.0, type="operator", count=4, message="cleanup on request removed 4 stale connection(s)"),
    ]
    st.record_success(_with_events(base, notable), 13.0)
    for i in range(300):
        t = 20.0 + i * 60
        routine = FleetEvent(at=t, first_at=t - 50, runs=3, type="cleanup", count=i, message="cleanup removed 1 stale connection(s)")
        hi = base.health_indicators.model_copy(update={"warnings": [Alert(type=f"w{i % 7}", message="m", severity="medium")]})
        st.record_success(_with_events(base.model_copy(update={"health_indicators": hi}), [routine, *notable]), t)
    kinds = [e.kind for e in st.events]
    assert {"death", "reap", "outage", "operator"} <= set(kinds)
    assert len(st.events) <= MAX_EVENTS
    assert kinds.count("cleanup") < 60  # the routine rows went first


def test_registry_not_settled_is_unknown_in_one_place() -> None:
    """REBUILDING / SETTLING / EMPTY are badges of the assessment (like STORE DOWN): the
    numbers are unknown, the panels say so, the verdict is current; a settled one is current."""
    for scenario, badge in (("rebuilding", "REBUILDING"), ("settling", "SETTLING"), ("empty", "EMPTY")):
        snap = sample_snapshot(scenario)  # type: ignore[arg-type]
        a = assess(snap, last_ok_at=1.0, last_error=None, now=1.5, interval=1.0)
        assert (a.freshness, a.badge, a.registry) == ("unknown", badge, scenario)
        assert not snap.store_down and snap.stats.connection_stats.active_connections is None
        assert a.numbers_unknown and a.verdict_current and not a.trusted
        old = assess(snap, last_ok_at=1.0, last_error="timed out", now=30.0, interval=1.0)
        assert old.badge == "SOURCE DOWN" and not old.verdict_current
    refusing = assess(sample_snapshot("refusing_writes"), last_ok_at=1.0, last_error=None, now=1.5, interval=1.0)
    assert refusing.badge == "STORE REFUSES WRITES" and not refusing.verdict_current
    healthy = assess(sample_snapshot("healthy"), last_ok_at=1.0, last_error=None, now=1.5, interval=1.0)
    assert healthy.trusted and healthy.badge is None and not healthy.numbers_unknown


def test_worker_states_as_the_server_judged_them_and_for_an_older_server() -> None:
    late = sample_stats("late_worker").workers
    assert [worker_state(w, 15.0) for w in late] == ["alive", "alive", "late"]
    assert [w.worker_id for w in workers_by_state(late, 15.0)][0] == "web-3:977"
    # a server from before worker states: "alive" always, judged by ``alive`` and the TTL
    old = WorkerInfo(worker_id="w", host="h", pid=1, connections=3, heartbeat_age_seconds=20.0)
    assert worker_state(old, 15.0) == "dead"
    assert worker_state(old.model_copy(update={"heartbeat_age_seconds": 1.0}), 15.0) == "alive"
    assert [(c.state, c.workers, c.connections) for c in worker_counts(late, 15.0)] == [("late", 1, 63), ("alive", 2, 87)]


def test_counts_say_their_age_unless_current() -> None:
    th = Thresholds()  # a flush a second: counts within 2 s are "now"
    rec = sample_connections(1)[0]
    assert counts_note(rec.model_copy(update={"counts_at": 100.0}), 101.0, th) is None
    assert counts_note(rec.model_copy(update={"counts_at": 100.0}), 104.4, th) == "4s ago"
    assert counts_note(rec.model_copy(update={"counts_at": None}), 104.4, th) == "age ?"
