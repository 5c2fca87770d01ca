"""``--export-history``: stored fleet history -> a recording ``--replay`` plays (issue 13)."""

from __future__ import annotations

import math
import time

import pytest

from core import history
from core.config import load_config
from core.history import HistorySample
from core.store.redis import RedisStore
from sse_tui.history_export import run_export
from sse_tui.recording import ReplaySource


async def _write_history(redis_url: str, namespace: str, n: int) -> list[HistorySample]:
    """n samples over the last n*10 s (the fleet clock is Redis TIME), one alert in the middle."""
    store = RedisStore(redis_url, namespace)
    await store.start()
    tiers = history.tiers_from_config(load_config())
    now = await store.server_time()
    assert now is not None
    written = []
    try:
        for i in range(n):
            t = math.floor(now / 10) * 10 - (n - i) * 10 + 1
            alert = n // 3 <= i < n // 2
            s = HistorySample(t=t, active=100 + i, counter=100 + i + (30 if alert else 0), stale=i % 4, very_old=1,
                              runs=i, cleaned=2 * i, errors=i // 10, last_ms=12.5, avg_ms=11.0,
                              level="unhealthy" if alert else "healthy", alerts=["connection_mismatch"] if alert else [],
                              workers={"web-1": 60 + i, "web-2": 40})
            assert await store.history_append(s, tiers, "writer")
            written.append(s)
    finally:
        await store.close()
    return written


def test_export_history_makes_a_replayable_recording(redis_url, namespace, tmp_path):
    import asyncio

    written = asyncio.run(_write_history(redis_url, namespace, 60))
    out = tmp_path / "incident.jsonl"
    assert run_export(redis_url, namespace, "15m", str(out)) == 0
    replay = ReplaySource(out)
    frames = replay.frames
    assert len(frames) >= 55  # every written sample inside the range (a boundary bucket may fall out)
    by_active = {f.stats.connection_stats.active_connections: f for f in frames}
    for s in written[-50:]:
        f = by_active[s.active]
        assert f.stats.connection_stats.redis_connection_counters == s.counter
        assert f.stats.cleanup_stats.total_cleanups == s.runs and f.stats.cleanup_stats.last_cleanup_duration_ms == 12.5
        if history.with_workers(s.t, 10):  # per-worker counts are stored once a minute
            assert [(w.worker_id, w.connections) for w in f.stats.workers] == [("web-1", 60 + s.active - 100),
                                                                                ("web-2", 40)]
        else:
            assert f.stats.workers is None  # not kept for this sample: unknown, not an empty fleet
        alerting = {a.type for a in f.stats.health_indicators.alerts}
        assert ("connection_mismatch" in alerting) == (s.level == "unhealthy")
    assert [f.recorded_at for f in frames] == sorted(f.recorded_at for f in frames)


@pytest.mark.parametrize("args, message", [((None, None, "1h", "x.jsonl"), "needs --redis"),
                                           (("redis://:pw@127.0.0.1:1/0", None, "soon", "x.jsonl"), "not a duration")])
def test_export_usage_errors(args, message, capsys):
    assert run_export(*args) == 3
    err = capsys.readouterr().err
    assert message in err and "pw" not in err


def test_export_unreachable_redis_never_shows_the_password(capsys, tmp_path):
    t0 = time.monotonic()
    assert run_export("redis://:hunter2@127.0.0.1:1/0", None, "1h", str(tmp_path / "x.jsonl")) == 3
    err = capsys.readouterr().err
    assert "cannot export" in err and "hunter2" not in err and time.monotonic() - t0 < 30


def test_cli_export_history_writes_a_private_recording_that_replays(redis_url, namespace, tmp_path):
    """sse-dash --redis URL --namespace NS --export-history 15m FILE, then --replay FILE --once."""
    import asyncio
    import stat

    from sse_tui.cli import main

    asyncio.run(_write_history(redis_url, namespace, 30))
    out = tmp_path / "incident.jsonl"
    assert main(["--redis", redis_url, "--namespace", namespace, "--export-history", "15m", str(out)]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert len(ReplaySource(out).frames) >= 25
    assert main(["--replay", str(out), "--once"]) in (0, 1, 2)  # plays back: a health exit code, not 3


async def test_an_outage_exports_as_store_down_frames_and_the_death_as_an_event(tmp_path) -> None:
    """Issue 21: the samples a store outage left are frames with the store unavailable and
    every number unknown (the replay says STORE DOWN, never 0); the worker's death is an
    event of every frame after it; the window's error rate is the series' one definition."""
    from history_data import CFG, DEAD_WORKER, fleet_series

    from core.snapshot import configuration_view
    from sse_tui.history_export import series_to_stats, write_recording

    series, at = await fleet_series(3600.0, 110)
    stats = series_to_stats(series, configuration_view(CFG, []))
    down = [s for s in stats if at["down"] <= s.now < at["up"] - series.step]
    assert down and all(not s.connection_stats.store_available and s.connection_stats.active_connections is None
                        and s.cleanup_stats.stale is None for s in down)
    assert all(s.connection_stats.store_available for s in stats if s.now < at["down"] - series.step)
    assert {a.type for s in down for a in s.health_indicators.alerts} == {"state_store_unavailable"}
    for s in stats:
        deaths = [e for e in s.recent_events if e.type == "death"]
        assert (deaths != []) == (s.now + series.step >= at["reap"]), s.now
        assert all(e.worker_id == DEAD_WORKER for e in deaths) and all(e.at <= s.now + series.step for e in s.recent_events)
    by_t = dict(zip(series.times, series.error_rate, strict=True))
    assert all(s.cleanup_stats.error_rate_window == by_t[s.now] for s in stats)
    path = tmp_path / "incident.jsonl"
    assert write_recording(stats, path) == len(stats)
    frames = ReplaySource(path).frames
    assert [f.stats.connection_stats.store_available for f in frames] == [s.connection_stats.store_available for s in stats]
