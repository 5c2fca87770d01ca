"""``--record`` (append every polled snapshot as a JSON line) and ``--replay``.

A line is ``{"recorded_at": <epoch s>, "poll_ms": .., "response_bytes": .., "stats": {...},
"page": {...} | null}``. Files are created readable by the owner only (0600: they hold
client addresses) and rotate by size (``FILE`` -> ``FILE.1`` -> ... ``FILE.<keep>``).
Recordings from before connection pages (``"connections": [...]``) still play.

A replay is an incident review: alerts carry the recorded time, ``seek(t)`` jumps to a
time, ``next_alert(+1/-1)`` to the next/previous frame where an alert or warning starts,
and the App's interval steps (down to 0.1 s) play it faster.
"""

from __future__ import annotations

import json
import os
from bisect import bisect_left
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.models import (
    ChannelsPage,
    ConnectionPage,
    ConnectionRecord,
    MonitoringStats,
)
from sse_tui.model import ConnectionQuery, RecordedScope, Snapshot
from sse_tui.sources import SourceError, channels_locally, local_page

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_KEEP = 3
PRIVATE = 0o600


def open_private(path: Path, mode: str = "a") -> Any:
    """Open ``path`` for writing, created 0600 (an existing file is tightened to 0600)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    fd = os.open(path, flags, PRIVATE)
    try:
        os.fchmod(fd, PRIVATE)
    except OSError:
        pass
    return os.fdopen(fd, mode, encoding="utf-8")


def snapshot_to_json(snapshot: Snapshot, recorded_at: float) -> dict[str, Any]:
    return {
        "recorded_at": recorded_at,
        "poll_ms": snapshot.poll_ms,
        "response_bytes": snapshot.response_bytes,
        "stats": snapshot.stats.model_dump(mode="json"),
        "page": None if snapshot.page is None else snapshot.page.model_dump(mode="json"),
    }


def snapshot_from_json(data: dict[str, Any]) -> Snapshot:
    stats = MonitoringStats.model_validate(data["stats"])
    page = None
    if data.get("page") is not None:
        page = ConnectionPage.model_validate(data["page"])
    elif data.get("connections") is not None:  # a recording from before connection pages
        conns = [ConnectionRecord.model_validate(c) for c in data["connections"]]
        page = ConnectionPage(state=data.get("connections_state") or "all", total=data.get("connections_total") or len(conns),
                              limit=len(conns), offset=0, now=float(data.get("recorded_at") or 0.0),
                              stale_threshold_seconds=stats.configuration.stale_threshold_seconds, connections=conns)
    return Snapshot(stats=stats, page=page, poll_ms=data.get("poll_ms"), response_bytes=data.get("response_bytes"),
                    recorded_at=data.get("recorded_at"))


class Recorder:
    """Appends snapshots to a JSON-lines file (flushed per line, so a crash loses nothing)."""

    def __init__(self, path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES, keep: int = DEFAULT_KEEP) -> None:
        self.path = Path(path)
        self.max_bytes = max(int(max_bytes), 1024)
        self.keep = max(int(keep), 1)
        self._fh = open_private(self.path)
        self.count = 0

    def _rotate(self) -> None:
        self._fh.close()
        for n in range(self.keep - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{n + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        self._fh = open_private(self.path)

    def write(self, snapshot: Snapshot, recorded_at: float) -> None:
        line = json.dumps(snapshot_to_json(snapshot, recorded_at), separators=(",", ":")) + "\n"
        if self._fh.tell() > 0 and self._fh.tell() + len(line) > self.max_bytes:
            self._rotate()
        self._fh.write(line)
        self._fh.flush()
        self.count += 1

    def close(self) -> None:
        self._fh.close()


class ReplaySource:
    """Plays a recording back: each ``fetch()`` moves one frame on and stops at the end.

    Implements the ``Pager`` capability over the recorded page (filter, sort and page in
    memory); refuses every action (a recording cannot be changed).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise SourceError(f"cannot read recording {self.path.name}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise SourceError(f"recording {self.path.name} is not text") from None
        frames: list[Snapshot] = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                frames.append(snapshot_from_json(json.loads(line)))
            except (ValueError, KeyError, TypeError, ValidationError):
                raise SourceError(f"{self.path.name} line {number} is not a recorded snapshot") from None
        if not frames:
            raise SourceError(f"recording {self.path.name} has no snapshots")
        self.frames = frames
        self.times = [f.recorded_at or 0.0 for f in frames]
        self.position = -1

    def describe(self) -> str:
        return f"replay {self.path.name} {self.frame_label}"

    @property
    def frame_label(self) -> str:
        """Where the replay is: ``[n/N]`` (the header keeps it whatever the width)."""
        return f"[{max(self.position, 0) + 1}/{len(self.frames)}]"

    @property
    def current(self) -> Snapshot:
        return self.frames[max(self.position, 0)]

    def step(self, delta: int) -> Snapshot:
        self.position = min(max(self.position + delta, 0), len(self.frames) - 1)
        return self.frames[self.position]

    def seek(self, when: float) -> Snapshot:
        """The first frame recorded at or after ``when`` (the last one if none)."""
        self.position = min(bisect_left(self.times, when), len(self.frames) - 1)
        return self.frames[self.position]

    def alert_starts(self) -> list[int]:
        """Frames where an alert or warning appears that was not on the frame before."""
        starts: list[int] = []
        before: set[str] = set()
        for i, f in enumerate(self.frames):
            hi = f.stats.health_indicators
            now = {a.type for a in [*hi.alerts, *hi.warnings]}
            if now - before:
                starts.append(i)
            before = now
        return starts

    def next_alert(self, direction: int) -> Snapshot | None:
        """Jump to the next (``+1``) or previous (``-1``) frame where an alert starts."""
        starts = self.alert_starts()
        pos = max(self.position, 0)
        picks = [i for i in starts if i > pos] if direction > 0 else [i for i in starts if i < pos]
        if not picks:
            return None
        self.position = picks[0] if direction > 0 else picks[-1]
        return self.frames[self.position]

    async def fetch(self) -> Snapshot:
        return self.step(1)

    def _page_frame(self) -> Snapshot:
        """The frame whose recorded connections page is shown: this one, else the latest
        earlier one that has a page (the dashboard records a page only while its
        connections tab is open)."""
        for frame in reversed(self.frames[: max(self.position, 0) + 1]):
            if frame.page is not None:
                return frame
        raise SourceError("no connections list recorded up to this frame "
                          "(the connections tab was not open while recording)")

    def recorded_scope(self) -> RecordedScope | None:
        """What the recorded page is of the server's list (None: no page recorded yet)."""
        try:
            frame = self._page_frame()
        except SourceError:
            return None
        page = frame.page
        assert page is not None
        lag = (self.current.recorded_at or 0.0) - (frame.recorded_at or 0.0)
        return RecordedScope(total=page.total, offset=page.offset, count=len(page.connections), limit=page.limit,
                             state=page.state, query=page.query, sort=page.sort, order=page.order,
                             truncated=page.truncated, lag=max(lag, 0.0))

    def _records(self) -> tuple[list[ConnectionRecord], float]:
        page = self._page_frame().page
        assert page is not None
        return list(page.connections), page.now

    def page_for(self, query: ConnectionQuery) -> ConnectionPage:
        """``query`` over the recorded page's records (filter, sort and page in memory)."""
        records, now = self._records()
        return local_page(records, query, now, self.current.thresholds)

    async def list_connections(self, query: ConnectionQuery) -> ConnectionPage:
        return self.page_for(query)

    async def connection(self, connection_id: str) -> ConnectionRecord | None:
        records, _ = self._records()
        return next((r for r in records if r.connection_id == connection_id), None)

    async def channels(self) -> ChannelsPage:
        records, now = self._records()
        return channels_locally(records, now, self.current.thresholds.stale_seconds)

    async def aclose(self) -> None:
        return None
