"""Files a person keeps (recordings, exports, screenshots, settings) and replay as incident review."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from textual.widgets import Input
from tui_helpers import FixedClock, wait_until

from sse_tui.recording import Recorder, ReplaySource
from sse_tui.samples import T0, ScriptedSource, sample_snapshot
from sse_tui.settings import settings_path
from sse_tui.widgets.dialogs import SeekDialog
from tests.tui.test_app_keys import build, first_poll, text_of


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_recordings_are_private_and_rotate_by_size(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    rec = Recorder(path, max_bytes=20_000, keep=2)
    for i in range(40):
        rec.write(sample_snapshot(), T0 + i)
    rec.close()
    rotated = sorted(p.name for p in tmp_path.iterdir())
    assert rotated == ["rec.jsonl", "rec.jsonl.1", "rec.jsonl.2"]
    for p in tmp_path.iterdir():
        assert mode(p) == 0o600, p
        assert p.stat().st_size <= 20_000 + 5_000
    # the newest frames are in the live file and it replays
    replay = ReplaySource(path)
    assert replay.frames[-1].recorded_at == T0 + 39


def test_existing_recording_is_tightened_to_0600(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    path.write_text("")
    path.chmod(0o644)
    Recorder(path).close()
    assert mode(path) == 0o600


async def test_export_goes_to_an_existing_dir_0600_with_the_full_path_shown(clock: FixedClock, tmp_path: Path) -> None:
    app, notes = build(ScriptedSource([sample_snapshot()]), clock, export_dir=tmp_path)
    async with app.run_test() as pilot:
        await first_poll(pilot, app)
        await pilot.press("e")
        await wait_until(pilot, lambda: any("exported" in n for n, _ in notes), what="export note")
        app.deliver_screenshot()
        await wait_until(pilot, lambda: any("screenshot" in n for n, _ in notes), what="screenshot note")
    files = sorted(tmp_path.iterdir())
    assert [f.suffix for f in files] == [".json", ".svg"]
    for f in files:
        assert mode(f) == 0o600
        assert any(str(f) in n for n, _ in notes)  # the full path, not a bare name
    assert json.loads(files[0].read_text())["service_name"]


async def test_export_dir_that_does_not_exist_falls_back_to_one_that_does(clock: FixedClock, tmp_path: Path,
                                                                         monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    app, notes = build(ScriptedSource([sample_snapshot()]), clock, export_dir=tmp_path / "Downloads")
    async with app.run_test() as pilot:
        await first_poll(pilot, app)
        await pilot.press("e")
        await wait_until(pilot, lambda: any("exported" in n for n, _ in notes), what="export note")
    assert [p.name.endswith(".json") for p in tmp_path.iterdir()] == [True]


async def test_theme_is_kept_between_runs(clock: FixedClock) -> None:
    app, _ = build(ScriptedSource([sample_snapshot()]), clock)
    async with app.run_test() as pilot:
        await first_poll(pilot, app)
        app.theme = "nord"
        await pilot.pause()
    assert json.loads(settings_path().read_text())["theme"] == "nord"
    assert mode(settings_path()) == 0o600
    app2, _ = build(ScriptedSource([sample_snapshot()]), clock)
    async with app2.run_test() as pilot:
        await first_poll(pilot, app2)
        assert app2.theme == "nord"


def _incident(tmp_path: Path) -> Path:
    path = tmp_path / "incident.jsonl"
    rec = Recorder(path)
    for i, health in enumerate(["healthy"] * 5 + ["degraded"] * 5 + ["healthy"] * 5 + ["unhealthy"] * 5):
        rec.write(sample_snapshot(health), T0 + 60 * i)  # type: ignore[arg-type]
    rec.close()
    return path


async def test_replay_alerts_carry_the_recorded_time_and_n_jumps_between_them(clock: FixedClock, tmp_path: Path) -> None:
    replay = ReplaySource(_incident(tmp_path))
    clock.now = T0 + 10 * 86400  # the replay runs days later: times must still be the recorded ones
    app, notes = build(replay, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        await pilot.press("p", "n")
        await wait_until(pilot, lambda: replay.position == 5, what="first warning frame")
        alerts = text_of(app, "#alerts-body")
        assert "since 10:35:00" in alerts  # T0 + 5 min, the recorded time
        assert "10:35:00" in text_of(app, "#header")
        await pilot.press("n")
        await wait_until(pilot, lambda: replay.position == 15, what="the alert frame")
        await pilot.press("n")
        await wait_until(pilot, lambda: any("no further alert" in n for n, _ in notes), what="end note")
        await pilot.press("N")
        await wait_until(pilot, lambda: replay.position == 5, what="previous alert")


async def test_replay_seek_by_time_and_faster_playback(clock: FixedClock, tmp_path: Path) -> None:
    replay = ReplaySource(_incident(tmp_path))
    app, _ = build(replay, clock, interval=1.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        await pilot.press("g")
        await wait_until(pilot, lambda: isinstance(app.screen, SeekDialog), what="seek dialog")
        app.screen.query_one(Input).value = "10:42"
        await pilot.press("enter")
        await wait_until(pilot, lambda: replay.position == 12, what="seek to 10:42")
        assert app.paused and "10:42:00" in text_of(app, "#header")
        for _ in range(4):
            await pilot.press("minus")
        assert app.interval == 0.1  # replay plays up to 10 frames a second
