"""``--record`` (append every polled snapshot as a JSON line) and ``--replay``.

A line is ``{"recorded_at": <epoch s>, "poll_ms": .., "response_bytes": ..,
"connections_state": .., "connections_total": .., "stats": {...}, "connections": [...]}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.models import CleanupResult, ConnectionRecord, MonitoringStats
from sse_tui.sources import Snapshot, SourceError


def snapshot_to_json(snapshot: Snapshot, recorded_at: float) -> dict[str, Any]:
    return {
        "recorded_at": recorded_at,
        "poll_ms": snapshot.poll_ms,
        "response_bytes": snapshot.response_bytes,
        "connections_state": snapshot.connections_state,
        "connections_total": snapshot.connections_total,
        "stats": snapshot.stats.model_dump(mode="json"),
        "connections": (
            None if snapshot.connections is None else [c.model_dump(mode="json") for c in snapshot.connections]
        ),
    }


def snapshot_from_json(data: dict[str, Any]) -> Snapshot:
    conns = data.get("connections")
    return Snapshot(
        stats=MonitoringStats.model_validate(data["stats"]),
        connections=None if conns is None else tuple(ConnectionRecord.model_validate(c) for c in conns),
        connections_total=data.get("connections_total"),
        connections_state=data.get("connections_state") or "all",
        poll_ms=data.get("poll_ms"),
        response_bytes=data.get("response_bytes"),
        recorded_at=data.get("recorded_at"),
    )


class Recorder:
    """Appends snapshots to a JSON-lines file (flushed per line, so a crash loses nothing)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fh = self.path.open("a", encoding="utf-8")
        self.count = 0

    def write(self, snapshot: Snapshot, recorded_at: float) -> None:
        self._fh.write(json.dumps(snapshot_to_json(snapshot, recorded_at), separators=(",", ":")) + "\n")
        self._fh.flush()
        self.count += 1

    def close(self) -> None:
        self._fh.close()


class ReplaySource:
    """Plays a recording back: each ``fetch()`` moves one frame on and stops at the end.

    ``step(delta)`` moves by hand (the App uses it when paused). Cleanup is refused:
    a recording cannot be changed.
    """

    replay = True

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise SourceError(f"cannot read recording {self.path}: {exc.strerror or exc}") from None
        frames: list[Snapshot] = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                frames.append(snapshot_from_json(json.loads(line)))
            except (ValueError, KeyError, TypeError, ValidationError):
                raise SourceError(f"{self.path.name} line {number} is not a recorded snapshot") from None
        if not frames:
            raise SourceError(f"recording {self.path} has no snapshots")
        self.frames = frames
        self.position = -1

    def describe(self) -> str:
        return f"replay {self.path.name} [{max(self.position, 0) + 1}/{len(self.frames)}]"

    def step(self, delta: int) -> Snapshot:
        self.position = min(max(self.position + delta, 0), len(self.frames) - 1)
        return self.frames[self.position]

    async def fetch(self) -> Snapshot:
        return self.step(1)

    async def cleanup(self, batch_size: int) -> CleanupResult:
        raise SourceError("cleanup is not possible on a replay")

    async def aclose(self) -> None:
        return None
