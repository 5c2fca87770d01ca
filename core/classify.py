"""PURE: a connection's age classes, written once.

Every place that classes a connection (the stores' counts and pages, the dashboard's
tables and dialogs, a replay's local paging) asks here:

* **stale**: idle past the threshold, ``last_activity < now - stale_threshold``;
  **active** otherwise;
* **long-lived**: ``connected_at < now - long_lived``; **very old**:
  ``connected_at < now - very_old``.

The boundaries are strict: a connection idle (or open) exactly as long as the threshold is
not in the class. The stores ask their indexes the same question as ranges
(:func:`state_range`): scores strictly below a cut, or at or above it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["STATES", "AgeCut", "Range", "classes", "cut", "in_state", "is_stale", "state_range"]

STATES: tuple[str, ...] = ("all", "stale", "active", "long_lived", "very_old")  # what a listing filters by
Index = Literal["activity", "connected"]


@dataclass(frozen=True, slots=True)
class AgeCut:
    """The cuts at one moment: a connection is stale when its last activity is before
    ``stale``, long-lived / very old when it connected before ``long_lived`` / ``very_old``."""

    stale: float
    long_lived: float
    very_old: float


def cut(now: float, stale_threshold: float, long_lived: float, very_old: float) -> AgeCut:
    return AgeCut(stale=now - stale_threshold, long_lived=now - long_lived, very_old=now - very_old)


def is_stale(last_activity: float, c: AgeCut) -> bool:
    return last_activity < c.stale


def classes(connected_at: float, last_activity: float, c: AgeCut) -> frozenset[str]:
    """Every class a connection is in: ``stale`` or ``active``, and ``long_lived`` /
    ``very_old`` when old enough."""
    out = {"stale" if is_stale(last_activity, c) else "active"}
    if connected_at < c.long_lived:
        out.add("long_lived")
    if connected_at < c.very_old:
        out.add("very_old")
    return frozenset(out)


def in_state(state: str, connected_at: float, last_activity: float, c: AgeCut) -> bool:
    """Whether a connection belongs to a listing's ``state`` (``all``: every one)."""
    if state == "all":
        return True
    if state not in STATES:
        raise ValueError(f"unknown state {state!r}")
    return state in classes(connected_at, last_activity, c)


@dataclass(frozen=True, slots=True)
class Range:
    """A state as a range of one index's scores: ``below`` (strictly) and ``from`` (at or
    above); None: unbounded."""

    index: Index
    from_: float | None = None
    below: float | None = None


def state_range(state: str, c: AgeCut) -> Range:
    """The index and score range holding exactly the connections of ``state``."""
    if state == "stale":
        return Range("activity", below=c.stale)
    if state == "active":
        return Range("activity", from_=c.stale)
    if state == "long_lived":
        return Range("connected", below=c.long_lived)
    if state == "very_old":
        return Range("connected", below=c.very_old)
    if state == "all":
        return Range("connected")
    raise ValueError(f"unknown state {state!r}")
