"""Where a timeline's data comes from, and where the Markdown goes (issue 27).

``sse-dash --url URL | --redis URL --timeline 1h [--output FILE] [--tz ZONE]`` reads the
fleet history (``GET /monitoring/history``, or the store through ``FleetReader``) and
``sse-dash --replay FILE --timeline all|RANGE`` a recording; ``t`` in the dashboard writes
the History tab's range (a replay: the whole recording) to a file in the export directory.
The Markdown itself is :func:`sse_tui.timeline_md.build` (pure).
"""

from __future__ import annotations

import math
import os
import sys
import time
from datetime import datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.durations import parse_duration
from core.history import MAX_POINTS
from sse_tui import timeline_md
from sse_tui.recording import ReplaySource, open_private
from sse_tui.sources import Historian, Source, SourceError

BASE_STEP = 10.0  # the default sample interval (HISTORY_INTERVAL_SECONDS): the finest step asked for by default


def zone(name: str | None = None) -> tuple[tzinfo, str]:
    """The operator's zone: ``name`` (an IANA key, e.g. ``Europe/Berlin``), else ``$TZ``,
    else this machine's local zone. ValueError for a name that is no zone."""
    for candidate in (name, os.environ.get("TZ", "").lstrip(":") or None):
        if candidate:
            try:
                return ZoneInfo(candidate), candidate
            except (ZoneInfoNotFoundError, ValueError):
                if candidate is name:
                    raise ValueError(f"unknown time zone {name!r} (an IANA name such as Europe/Berlin)") from None
    local = datetime.now().astimezone().tzinfo
    assert local is not None
    return local, timeline_md.zone_name_of(local, time.time())


def step_for(range_s: float, step: float | None = None) -> float:
    """The step to ask the history for: ``step``, else the default sample interval, raised
    so the range stays within the points one read may hold."""
    if step is not None:
        return step
    return max(BASE_STEP, math.ceil(range_s / MAX_POINTS / BASE_STEP) * BASE_STEP)


async def timeline_input(source: Source, range_text: str, step: float | None = None) -> timeline_md.TimelineInput:
    """Read ``range_text`` (``"1h"``; for a recording also ``"all"``) from ``source``.
    SourceError when the source has no history; ValueError for a bad range."""
    if isinstance(source, ReplaySource):
        frames = source.frames
        last = frames[-1].recorded_at or 0.0
        start = None if range_text == "all" else last - parse_duration(range_text)
        service = frames[-1].stats.service_name
        return timeline_md.from_frames(frames, service, f"recording {source.path.name}", start=start)
    if not isinstance(source, Historian):
        raise SourceError(f"{source.describe()} keeps no fleet history")
    if range_text == "all":
        raise ValueError("`all` is for a recording (--replay); give the fleet history a range such as 1h")
    range_s = parse_duration(range_text)
    snap = await source.fetch()  # the service's name (and: is it reachable at all?)
    series = await source.history(range_s, step_for(range_s, step))
    return timeline_md.from_series(series, snap.stats.service_name, f"fleet history of {source.describe()}")


async def write_timeline(source: Source, range_text: str, path: Path | None, *, tz: tzinfo, zone_name: str,
                         written_at: float, step: float | None = None) -> str:
    """The Markdown of ``range_text`` from ``source``; written to ``path`` (0600) when given."""
    text = timeline_md.build(await timeline_input(source, range_text, step), tz, zone_name, written_at)
    if path is not None:
        with open_private(path, "w") as fh:
            fh.write(text)
    return text


async def dashboard_timeline(source: Source, range_name: str, path: Path, now: float) -> tuple[str, str]:
    """The dashboard's ``t``: (the notification, its severity)."""
    try:
        tz, name = zone()
        rng = "all" if isinstance(source, ReplaySource) else range_name
        text = await write_timeline(source, rng, path, tz=tz, zone_name=name, written_at=now)
    except SourceError as exc:
        return f"timeline: {exc.reason}", "warning"
    except OSError as exc:
        return f"timeline failed: {exc.strerror or exc}", "error"
    rows = sum(1 for line in text.splitlines() if line.startswith("| ") and not line.startswith("| #"))
    what = "the whole recording" if isinstance(source, ReplaySource) else f"the last {range_name}"
    return f"timeline of {what} ({rows} rows) written to {path}", "information"


async def run(source: Source, range_text: str, output: str | None, tz_name: str | None, step_text: str | None) -> int:
    """``sse-dash … --timeline RANGE``: 0 written, 3 (one line on stderr) otherwise."""
    try:
        tz, name = zone(tz_name)
        step = parse_duration(step_text) if step_text else None
        text = await write_timeline(source, range_text, Path(output) if output else None, tz=tz, zone_name=name,
                                    written_at=time.time(), step=step)
    except SourceError as exc:
        print(f"sse-dash: {source.describe()}: {exc.reason}", file=sys.stderr)
        return 3
    except ValueError as exc:
        print(f"sse-dash: {exc}", file=sys.stderr)
        return 3
    except OSError as exc:
        print(f"sse-dash: cannot write {output}: {exc.strerror or exc}", file=sys.stderr)
        return 3
    finally:
        await source.aclose()
    if output:
        print(f"sse-dash: timeline written to {output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
