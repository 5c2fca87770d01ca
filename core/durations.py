"""Durations as people type them: ``"90s"``, ``"5m"``, ``"6h"``, ``"7d"``, ``"2w"``, both ways.

The one place that reads and writes them: the ``range``/``step`` of ``/monitoring/history``,
``FleetReader.history``, ``sse-dash --export-history``, and the history chart's caption.
PURE: no clock, no I/O.
"""

from __future__ import annotations

import math
import re

__all__ = ["DAY", "format_duration", "parse_duration"]

DAY = 86_400.0  # seconds in a day
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": DAY, "w": 7 * DAY}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_duration(text: str) -> float:
    """``"90s"``, ``"5m"``, ``"1h"``, ``"7d"``, ``"2w"`` or plain seconds; ValueError otherwise."""
    m = _DURATION.match(text or "")
    if not m:
        raise ValueError(f"not a duration: {text[:40]!r} (use e.g. 90s, 5m, 1h, 7d)")
    value = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"duration must be positive: {text[:40]!r}")
    return value


def format_duration(seconds: float) -> str:
    """The largest whole unit: ``3600`` -> ``"1h"``, ``90`` -> ``"90s"`` (the inverse of
    :func:`parse_duration` for the durations it writes)."""
    for unit, size in (("w", 7 * DAY), ("d", DAY), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
