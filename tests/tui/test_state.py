"""Pure state: backoff, staleness, the alert events history."""

from __future__ import annotations

import pytest

from core.models import Alert
from sse_tui.model import BACKOFF_CAP_SECONDS, MAX_EVENTS, DashboardState, Snapshot, backoff_delay
from sse_tui.samples import sample_snapshot, sample_stats


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
