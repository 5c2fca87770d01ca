"""Blast radius (issue 27): who an event cut, and who came back.

When a worker dies or is reaped, or a cleanup or a disconnect removes streams, the worker
acting on it reads the streams' records *before* they are removed
(:meth:`StateStore.worker_records`, the stale page a cleanup batch takes,
:meth:`StateStore.get_connection`) and records them with the event
(:meth:`StateStore.put_blast`, ``{ns}:blast:<id>``, expiring after :data:`BLAST_KEPT_SECONDS`):
client key (core.reconnects.client_key: address without the port, user agent), channel,
user agent, age.

A cut stream is *back* when the same client key connects again anywhere in the fleet within
``SSE_BLAST_WINDOW_SECONDS`` of the cut (a connect with ``Last-Event-ID`` is matched the same
way: by its client key). The connects come from the connect path (manager.register ->
ConnectMeter.connected) and reach the store at each flush
(:meth:`StateStore.note_arrivals`): they are kept a while (``{ns}:arrivals``: a death may be
reaped after its clients came back) and matched against the events still open
(``{ns}:blasts``). The first connect after the cut is the one timed (``HSETNX``): a client
back twice counts once; one back after the window does not count; a client with another user
agent is another client.

The cut time of a death is the dead worker's last heartbeat (the last moment it was known
alive; a comeback's time includes the moments between that and the death, at most a flush
interval for a death seen on its host).
"""

from __future__ import annotations

import json
import statistics
import uuid
from collections.abc import Iterable, Sequence

from .config import SSEConfig
from .models import BlastRadius, ConnectionRecord, CutClient, FleetEvent
from .reconnects import client_key
from .store.base import BlastRead, Cut, StateStore

__all__ = ["BLAST_KEPT_SECONDS", "MAX_CUT_LISTED", "BlastRead", "Cut", "arrivals_kept", "cuts_from_records", "decode_cuts",
           "encode_cuts", "match_arrivals", "new_blast_id", "summarize", "with_blasts"]

BLAST_KEPT_SECONDS = 86_400.0  # an event's cut list and comebacks are kept a day
MAX_CUT_LISTED = 10_000  # streams recorded per event (beyond: counted, not listed)
NOT_BACK_SHOWN = 100  # clients not back named on the event


def arrivals_kept(config: SSEConfig) -> float:
    """How long the fleet keeps its connects for events recorded later: the window, and the
    longest a death may go unreaped (the heartbeat TTL, a flush and a cleanup's reap)."""
    return config.BLAST_WINDOW_SECONDS + config.WORKER_HEARTBEAT_TTL_SECONDS + 2 * config.TOUCH_FLUSH_INTERVAL_SECONDS \
        + 10.0


def new_blast_id() -> str:
    return uuid.uuid4().hex[:16]


def cuts_from_records(records: Iterable[ConnectionRecord]) -> list[Cut]:
    return [Cut(client_key(r.client_address, r.user_agent), r.channel, r.user_agent, r.connected_at)
            for r in records][:MAX_CUT_LISTED]


def encode_cuts(cuts: Sequence[Cut]) -> str:
    return json.dumps([[c.client, c.channel, c.user_agent[:200], round(c.connected_at, 3)] for c in cuts],
                      separators=(",", ":"))


def decode_cuts(text: str | bytes | None) -> tuple[Cut, ...]:
    """The stored list (bad data: nothing)."""
    if not text:
        return ()
    try:
        rows = json.loads(text)
        return tuple(Cut(str(r[0]), str(r[1]), str(r[2]), float(r[3])) for r in rows)
    except (ValueError, TypeError, IndexError):
        return ()


def match_arrivals(arrivals: Iterable[tuple[str, float]], keys: Iterable[str], cut_at: float,
                   window: float) -> dict[str, float]:
    """The first connect of each of ``keys`` within ``(cut_at, cut_at + window]``: key -> seconds
    after the cut (a connect at the cut's very moment is the stream cut, not a comeback)."""
    wanted = set(keys)
    out: dict[str, float] = {}
    for key, t in arrivals:
        if key in wanted and cut_at < t <= cut_at + window:
            d = t - cut_at
            if key not in out or d < out[key]:
                out[key] = d
    return out


def _secs(x: float) -> str:
    return f"{x:.0f} s" if x == int(x) else f"{x:g} s"


def summarize(read: BlastRead, now: float) -> BlastRadius:
    """The figures of one event at ``now`` (fleet clock)."""
    is_open = now < read.cut_at + read.window
    back_times: list[float] = []
    not_back: list[CutClient] = []
    for c in read.cuts:
        d = read.back.get(c.client)
        if d is not None and d <= read.window:
            back_times.append(d)
        else:
            not_back.append(CutClient(client=c.client, channel=c.channel, user_agent=c.user_agent,
                                      age_seconds=round(max(read.cut_at - c.connected_at, 0.0), 1)))
    cut = max(read.cut_total, len(read.cuts))
    back = len(back_times)
    unlisted = cut - len(read.cuts)
    median = round(statistics.median(back_times), 1) if back_times else None
    text = f"{cut} stream{'s' if cut != 1 else ''} cut; {back} back within {_secs(read.window)}"
    if median is not None:
        text += f", median {median:g} s"
    text += f"; {len(read.cuts) - back} not back" + (" yet" if is_open else "")
    if unlisted:
        text += f"; {unlisted} not followed (unknown)"
    return BlastRadius(cut=cut, back=back, not_back=len(read.cuts) - back, window_seconds=read.window, open=is_open,
                       cut_at=read.cut_at, median_back_seconds=median, not_back_clients=not_back[:NOT_BACK_SHOWN],
                       listed=len(read.cuts), summary=text)


async def with_blasts(store: StateStore, events: Sequence[FleetEvent], now: float) -> list[FleetEvent]:
    """``events`` with their blast radius filled in (one read for all of them; an event whose
    record expired is shown without it)."""
    ids = [e.blast_id for e in events if e.blast_id]
    if not ids:
        return list(events)
    got = await store.get_blasts(ids)
    return [e.model_copy(update={"blast": summarize(got[e.blast_id], now)}) if e.blast_id in got else e
            for e in events]
