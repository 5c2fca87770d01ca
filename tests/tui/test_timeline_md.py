"""The Markdown timeline for the postmortem (issue 27): the pure builder
(sse_tui.timeline_md), table by table.

Inputs are made the way the server makes them: the fleet history of tests/tui/history_data.py
(samples through the real append path, events through ``core.cleanup.add_event``, the
outage through ``Recorder.record_outage``, read back by ``Recorder.history``), and
recordings' frames built from the sample snapshots with the fields a poll carries.
"""

from __future__ import annotations

from datetime import UTC
from zoneinfo import ZoneInfo

import pytest
from history_data import DEAD_WORKER, END, HELD, Fleet

from core.models import Alert, AlertSpan, BlastRadius, FleetEvent
from sse_tui import timeline_md as tm
from sse_tui.model import Snapshot
from sse_tui.samples import sample_stats

T = 1_796_000_000.0
BERLIN = ZoneInfo("Europe/Berlin")


def numbers(*points: tuple[float, int | None], step: float = 10.0) -> tuple[tm.Numbers, ...]:
    return tuple(tm.Numbers(t, t + step, a, a, 0 if a is not None else None) for t, a in points)


def inp(events=(), spans=(), unknown=(), points=(), start=T, end=T + 600, step=10.0) -> tm.TimelineInput:
    return tm.TimelineInput(service="svc", source="fleet history of test", start=start, end=end,
                            resolution="10s buckets", step=step, numbers=numbers(*points, step=step),
                            events=tuple(events), spans=tuple(spans), unknown=tuple(unknown))


def table_rows(md: str) -> list[list[str]]:
    lines = [line for line in md.splitlines() if line.startswith("| ") and not line.startswith("| #")]
    return [[c.strip() for c in line.strip("|").split(" | ")] for line in lines]


@pytest.mark.parametrize(("text", "shown"), [
    ("web-3:977", "web-3:977"),
    ("sse_connection_manager", "sse_connection_manager"),  # an underscore inside a word is no emphasis
    ("_x_ *y*", "\\_x\\_ \\*y\\*"),
    ("[link](http://evil.example)", "\\[link\\](http://evil.example)"),
    ("a|b", "a\\|b"),
    ("<img src=x>", "\\<img src=x\\>"),
    ("`code`", "\\`code\\`"),
    ("# heading", "\\# heading"),
    ("two\nlines\r\tend", "two lines end"),
])
def test_wire_text_reads_literally_on_one_line(text: str, shown: str) -> None:
    assert tm.escape(text) == shown


@pytest.mark.parametrize(("seconds", "text"), [
    (0.0, "0s"), (4.23, "4.2s"), (18.4, "18s"), (60, "1m"), (125, "2m 5s"), (540, "9m"), (3725, "1h 2m"),
    (90000, "1d 1h"),
])
def test_spans_read_as_a_person_reads_them(seconds: float, text: str) -> None:
    assert tm.span(seconds) == text


POINTS = [(T + 10 * i, 100) for i in range(10)] + [(T + 100 + 10 * i, 37) for i in range(50)]
EV = FleetEvent


@pytest.mark.parametrize(("event", "what", "count", "duration", "before", "after"), [
    (EV(at=T + 95, type="death", message="worker web-2 died (process 4242 gone): 63 stream(s) cut and reaped",
        count=63, worker_id="web-2"),
     "**worker death**: worker web-2 died (process 4242 gone): 63 stream(s) cut and reaped", "63 cut", "–",
     "100 active, 100 counted, 0 stale (00:54:40)", "37 active, 37 counted, 0 stale (00:55:00)"),
    (EV(at=T + 95, type="death", message="worker web-2 died (process 4242 gone): 63 stream(s) cut and reaped",
        count=63, worker_id="web-2", blast_id="b1",
        blast=BlastRadius(cut=63, back=58, not_back=5, window_seconds=10, open=False, cut_at=T + 94,
                          median_back_seconds=2.1, listed=63)),
     "**worker death**: worker web-2 died (process 4242 gone): 63 stream(s) cut and reaped",
     "63 cut; 58 back within 10 s (median 2.1 s), 5 not back", "–",
     "100 active, 100 counted, 0 stale (00:54:40)", "37 active, 37 counted, 0 stale (00:55:00)"),
    (EV(at=T + 200, type="reap", message="worker web-4 reaped on request: 5 stream(s) cut", count=5,
        worker_id="web-4"),
     "**reap (operator)**: worker web-4 reaped on request: 5 stream(s) cut", "5 cut", "–",
     "37 active, 37 counted, 0 stale (00:56:30)", "37 active, 37 counted, 0 stale (00:56:40)"),
    (EV(at=T + 300, type="disconnect", message="connection c-1 disconnected by an operator", count=1,
        worker_id="web-1"),
     "**disconnect (operator)**: connection c-1 disconnected by an operator · by web-1", "1 closed", "–",
     "37 active, 37 counted, 0 stale (00:58:10)", "37 active, 37 counted, 0 stale (00:58:20)"),
    (EV(at=T + 400, type="operator", message="cleanup on request removed 4 stale connection(s)", count=4,
        worker_id="web-1"),
     "**cleanup on request (operator)**: cleanup on request removed 4 stale connection(s) · by web-1", "4 removed",
     "–", "37 active, 37 counted, 0 stale (00:59:50)", "37 active, 37 counted, 0 stale (01:00:00)"),
    (EV(at=T + 260, first_at=T + 140, runs=3, type="cleanup", message="cleanup removed 2 stale connection(s)",
        count=6, worker_id="web-1"),
     "**cleanup (routine)**: cleanup removed 2 stale connection(s) · by web-1", "6 removed in 3 runs",
     "2m (runs 00:55:40–00:57:40)", "37 active, 37 counted, 0 stale (00:55:30)",
     "37 active, 37 counted, 0 stale (00:57:40)"),
    (EV(at=T + 318, first_at=T + 300, until=T + 318, type="outage", message="state store unavailable for 18s (x)",
        worker_id="web-1"),
     "**store outage (numbers unknown over it)**: state store unavailable for 18s (x) · by web-1", "–", "18s",
     "37 active, 37 counted, 0 stale (00:58:10)", "37 active, 37 counted, 0 stale (00:58:40)"),
])
def test_each_kind_of_event_is_one_row_with_its_count_duration_and_the_numbers_around_it(
        event, what, count, duration, before, after) -> None:
    md = tm.build(inp(events=[event], points=POINTS))
    [row] = table_rows(md)
    assert row[2:] == [what, count, duration, before, after], row


def test_numbers_nobody_measured_are_unknown_never_zero() -> None:
    death = EV(at=T + 95, type="death", message="worker w died", count=3, worker_id="w")
    points = [(T + 10 * i, None) for i in range(10)] + [(T + 100, 5)]  # an outage's samples, then known again
    [row] = table_rows(tm.build(inp(events=[death], points=points)))
    assert row[-2] == "? (no known sample before it in the range)"
    assert row[-1].startswith("5 active")
    assert "0 active" not in tm.build(inp(events=[death], points=points))


def test_alert_spans_have_their_duration_and_one_still_on_says_so() -> None:
    spans = [AlertSpan(type="worker_dead", kind="alert", start=T + 90, end=T + 130),
             AlertSpan(type="connection_mismatch", kind="warning", start=T + 500, end=None)]
    rows = table_rows(tm.build(inp(spans=spans, points=POINTS)))
    assert [r[2:5] for r in rows] == [["✖ **alert** `worker_dead`", "–", "40s"],
                                      ["▲ **warning** `connection_mismatch` (still on)", "–", "≥ 1m 40s"]]
    assert rows[0][1] == "00:54:50–00:55:30"
    assert rows[1][-1] == "? (still on at the end of the range)"


def test_an_unknown_period_is_a_row_unless_an_outage_already_says_it() -> None:
    gap = tm.Unknown(T + 300, T + 320, "no frame recorded (the source was down, or nobody polled)")
    rows = table_rows(tm.build(inp(unknown=[gap], points=POINTS)))
    assert [r[2:5] for r in rows] == [["? no frame recorded (the source was down, or nobody polled)", "–", "20s"]]
    outage = EV(at=T + 318, first_at=T + 300, until=T + 318, type="outage", message="state store unavailable for 18s")
    rows = table_rows(tm.build(inp(events=[outage], unknown=[gap], points=POINTS)))
    assert len(rows) == 1 and "store outage" in rows[0][2]


@pytest.mark.parametrize(("tz", "name", "head", "first"), [
    (UTC, "UTC", ["#", "UTC", "what"], ["1", "00:54:55"]),
    (BERLIN, "Europe/Berlin", ["#", "UTC", "Europe/Berlin", "what"], ["1", "00:54:55", "01:54:55"]),
    (ZoneInfo("America/Los_Angeles"), "America/Los_Angeles", ["#", "UTC", "America/Los_Angeles", "what"],
     ["1", "11-30 00:54:55", "11-29 16:54:55"]),  # the range spans two dates: each time carries its date
])
def test_times_are_in_utc_and_in_the_operators_zone(tz, name, head, first) -> None:
    death = EV(at=T + 95, type="death", message="worker w died", count=3, worker_id="w")
    md = tm.build(inp(events=[death], points=POINTS), tz, name)
    header = next(line for line in md.splitlines() if line.startswith("| #"))
    assert [c.strip() for c in header.strip("|").split("|")][:len(head)] == head
    assert table_rows(md)[0][:len(first)] == first
    if tz is not UTC:
        assert f"**Operator's zone:** {tm.escape(name)} (UTC" in md
    else:
        assert "(the same as UTC over this range)" in md


def test_nothing_in_the_range_says_so() -> None:
    md = tm.build(inp(points=POINTS))
    assert "nothing happened in this range" in md and "No event, alert or unknown period in this range." in md


async def test_the_fleet_history_of_a_death_an_outage_and_a_disconnect() -> None:
    """The story of history_data (as ``GET /monitoring/history`` reads it) in 10 s buckets."""
    fleet = Fleet()
    at = await fleet.write(3600)
    series = await fleet.history(3600, 10)
    md = tm.build(tm.from_series(series, "svc", "fleet history of test"), BERLIN, "Europe/Berlin", written_at=END)
    rows = table_rows(md)
    kinds = [r[3].split("**")[1] if "**" in r[3] else r[3] for r in rows]
    death = next(r for r in rows if "worker death" in r[3])
    assert death[4] == f"{HELD} cut" and DEAD_WORKER in death[3]
    assert death[1] == tm._Clock(series.start, series.end, UTC).utc(at["reap"])
    before, after = int(death[-2].split()[0]), int(death[-1].split()[0])
    counted_before = int(death[-2].split()[2])
    # the reap took the dead worker's streams off the counter (the daily curve moves a little between two samples)
    assert abs(counted_before - int(death[-1].split()[2]) - HELD) <= 2
    assert abs(before - after) <= 2  # the dead worker's streams had left the active count before
    outage = next(r for r in rows if "store outage" in r[3])
    assert outage[5] == tm.span(at["up"] - at["down"]) == "9m"
    assert sum(1 for r in rows if r[3].startswith("? numbers unknown")) == 0  # the outage says it
    assert any(k == "disconnect (operator)" for k in kinds)
    assert any("`connection_mismatch`" in r[3] for r in rows) and any("`state_store_unavailable`" in r[3] for r in rows)
    assert "1 store outage (9m in all); 1 worker death (63 streams cut); 1 disconnect (1 closed)" in md
    assert "the history begins at" in md  # before it: nothing known, not zero
    starts = [r[1] for r in rows]
    assert starts == sorted(starts)


def frame(t: float, active: int | None, events=(), alerts=(), store_up: bool = True) -> Snapshot:
    s = sample_stats("healthy", active=50, now=t)
    cs = s.connection_stats.model_copy(update={"active_connections": active, "redis_connection_counters": active,
                                               "store_available": store_up})
    hi = s.health_indicators.model_copy(update={"alerts": [Alert(type=a, message=a, severity="high") for a in alerts],
                                                "warnings": []})
    st = s.store_status.model_copy(update={"state": "up" if store_up else "unreachable"})
    stats = s.model_copy(update={"connection_stats": cs, "health_indicators": hi, "recent_events": list(events),
                                 "store_status": st})
    return Snapshot(stats=stats, recorded_at=t)


def test_a_recordings_frames_give_the_same_rows() -> None:
    death = EV(at=T + 30.5, type="death", message="worker w-9 died: 12 stream(s) cut", count=12, worker_id="w-9")
    frames = [frame(T + i, 50) for i in range(30)]
    frames += [frame(T + 31 + i, 38, events=[death], alerts=["worker_dead"] if i < 5 else []) for i in range(19)]
    frames += [frame(T + 50 + i, None, events=[death], store_up=False) for i in range(10)]  # the store down
    frames += [frame(T + 90 + i, 38, events=[death]) for i in range(10)]  # nothing recorded 60..90
    data = tm.from_frames(frames, "svc", "recording x.jsonl")
    assert data.resolution == "a frame every 1s"
    rows = table_rows(tm.build(data))
    assert [(r[1], r[2]) for r in rows] == [
        ("00:53:50", "**worker death**: worker w-9 died: 12 stream(s) cut"),
        ("00:53:51–00:53:56", "✖ **alert** `worker_dead`"),
        ("00:54:10–00:54:19", "? numbers unknown (store unreachable)"),
        ("00:54:19–00:54:50", "? no frame recorded (the source was down, or nobody polled)"),
    ], rows
    assert rows[0][3] == "12 cut" and rows[0][-2].startswith("50 active") and rows[0][-1].startswith("38 active")
    assert rows[1][4] == "5s"
    assert rows[3][4] == "31s" and rows[3][-1].startswith("38 active, 38 counted, 2 stale (00:54:50)")


async def test_sse_dash_replay_timeline_all_writes_the_recordings_timeline(tmp_path, capsys) -> None:
    """``--replay FILE --timeline all``: a recording made from the fleet history
    (``--export-history``'s frames) gives the same death and outage rows."""
    import asyncio

    from sse_tui import cli
    from sse_tui.history_export import series_to_stats, write_recording

    fleet = Fleet()
    at = await fleet.write(3600)
    series = await fleet.history(3600, 10)
    path = tmp_path / "incident.jsonl"
    write_recording(series_to_stats(series, sample_stats().configuration, "svc"), path)
    code = await asyncio.to_thread(cli.main, ["--replay", str(path), "--timeline", "all", "--tz", "Europe/Berlin"])
    out = capsys.readouterr()
    assert code == 0, out.err
    rows = table_rows(out.out)
    assert "recording incident.jsonl (a frame every 10s)" in out.out
    [death] = [r for r in rows if "worker death" in r[3]]
    assert death[4] == f"{HELD} cut" and death[1] == tm._Clock(at["reap"], at["reap"], UTC).utc(at["reap"])
    assert any("store outage" in r[3] for r in rows)


@pytest.mark.parametrize(("args", "message"), [
    (["--timeline", "all", "--url", "http://127.0.0.1:9/monitoring"], "`all` is for a recording"),
    (["--timeline", "1h", "--tz", "Mars/Olympus", "--url", "http://127.0.0.1:9/monitoring"], "unknown time zone"),
    (["--timeline", "soon", "--url", "http://127.0.0.1:9/monitoring"], "not a duration"),
])
def test_timeline_usage_errors_are_one_line_and_exit_3(args, message, capsys) -> None:
    from sse_tui import cli

    assert cli.main(args) == 3
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


async def test_t_on_a_replay_writes_the_whole_recordings_timeline_and_says_where(tmp_path, clock) -> None:
    """``t`` on a replay: the whole recording's timeline in the export directory (0600), the
    notification names the file; a source with no history says so, and writes nothing."""
    import os

    from test_app_keys import build as build_app
    from test_app_keys import first_poll as wait_first_poll
    from tui_helpers import wait_until

    from sse_tui.history_export import series_to_stats, write_recording
    from sse_tui.recording import ReplaySource
    from sse_tui.samples import ScriptedSource, sample_snapshot

    fleet = Fleet()
    await fleet.write(3600)
    path = tmp_path / "incident.jsonl"
    write_recording(series_to_stats(await fleet.history(3600, 10), sample_stats().configuration, "svc"), path)
    out = tmp_path / "out"
    out.mkdir()
    app, notes = build_app(ReplaySource(path), clock, export_dir=out)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_first_poll(pilot, app)
        await pilot.press("t")
        await wait_until(pilot, lambda: any("written to" in n for n, _ in notes), what="the notification")
    [note] = [n for n, _ in notes if "written to" in n]
    [written] = list(out.glob("sse-dash-timeline-*.md"))
    assert "timeline of the whole recording" in note and str(written) in note
    assert oct(os.stat(written).st_mode & 0o777) == "0o600"
    assert any("**worker death**" in cell and row[-4] == f"{HELD} cut" for row in table_rows(written.read_text())
               for cell in row)

    app, notes = build_app(ScriptedSource([sample_snapshot("healthy")]), clock, export_dir=out)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_first_poll(pilot, app)
        await pilot.press("t")
        await wait_until(pilot, lambda: any("timeline:" in n for n, _ in notes), what="the refusal")
    assert any("keeps no fleet history" in n and sev == "warning" for n, sev in notes), notes
    assert len(list(out.glob("sse-dash-timeline-*.md"))) == 1
