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
(``{ns}:blasts``). Every connect is kept (a browser's EventSources share one client key: five
of its streams cut are five cuts of one key, and each of its connects is one comeback). The
matching is one connect per cut (:func:`match_arrivals`, :func:`summarize`): the k-th connect of
a key after the cut is the comeback of the k-th of its cut streams (oldest stream first), so a
key with five streams cut and one connect back is one back and four not back, and a client
back more often than it was cut counts no more than its cuts. Each comeback is stored once
(``HSETNX`` on the connect itself: an event recorded while its connects arrive may see one
twice); one back after the window does not count; a client with another user agent is
another client.

The cut time of a death is the last moment the dead worker was known alive
(:func:`death_time`): its last heartbeat, or the connect of the newest stream it accepted
when that is later (registrations reach the store on their own, between heartbeats: a
worker killed right after a burst of connects had a last heartbeat from before some of
them, and those streams' own connects were counted as comebacks). A comeback's time
includes the moments between that and the death, at most a flush interval for a death
seen on its host.
"""

from __future__ import annotations

import json
import statistics
import uuid
from collections.abc import Iterable, Mapping, Sequence

from .config import SSEConfig
from .models import BlastRadius, ConnectionRecord, CutClient, FleetEvent
from .reconnects import client_key
from .store.base import BlastRead, Cut, StateStore

__all__ = ["BLAST_KEPT_SECONDS", "MAX_CUT_LISTED", "BlastRead", "Cut", "arrivals_kept", "cut_counts", "cuts_from_records", "death_time", "decode_cuts",
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


def death_time(last_heartbeat: float | None, cuts: Iterable[Cut]) -> float | None:
    """When a dead worker was last known alive (fleet clock): its last heartbeat, or the
    newest connect among the streams it held (it accepted them, so it lived then) when that
    is later. None when the heartbeat is unknown (the event then takes the moment it is
    recorded, as before)."""
    if last_heartbeat is None:
        return None
    return max([last_heartbeat, *(c.connected_at for c in cuts)])


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


def match_arrivals(arrivals: Sequence[tuple[str, float]], cuts: Mapping[str, int], cut_at: float,
                   window: float) -> dict[int, float]:
    """The connects among ``arrivals`` that count as comebacks: of a client key cut
    (``cuts``: key -> streams of it cut), within ``(cut_at, cut_at + window]`` (a connect at the
    cut's very moment is the stream cut, not a comeback), and per key at most as many as its
    cuts, the earliest first (one connect matches one cut: five streams of one browser cut and
    one back is one back). Index in ``arrivals`` -> seconds after the cut."""
    per_key: dict[str, list[tuple[float, int]]] = {}
    for i, (key, t) in enumerate(arrivals):
        if cuts.get(key, 0) > 0 and cut_at < t <= cut_at + window:
            per_key.setdefault(key, []).append((t - cut_at, i))
    out: dict[int, float] = {}
    for key, found in per_key.items():
        for d, i in sorted(found)[:cuts[key]]:
            out[i] = d
    return out


def cut_counts(cuts: Iterable[Cut]) -> dict[str, int]:
    """Client key -> streams of it cut."""
    per: dict[str, int] = {}
    for c in cuts:
        per[c.client] = per.get(c.client, 0) + 1
    return per


def _secs(x: float) -> str:
    return f"{x:.0f} s" if x == int(x) else f"{x:g} s"


def summarize(read: BlastRead, now: float) -> BlastRadius:
    """The figures of one event at ``now`` (fleet clock)."""
    is_open = now < read.cut_at + read.window
    # the k-th comeback of a client key is the k-th of its cut streams (oldest stream first);
    # comebacks beyond its cuts count for nothing
    by_key: dict[str, list[int]] = {}
    for i, c in sorted(enumerate(read.cuts), key=lambda ic: ic[1].connected_at):
        by_key.setdefault(c.client, []).append(i)
    back_of: dict[int, float] = {}
    for key, idx in by_key.items():
        times = sorted(d for d in read.back.get(key, ()) if 0 < d <= read.window)
        back_of.update(zip(idx, times, strict=False))
    back_times = [back_of[i] for i in sorted(back_of)]
    not_back = [CutClient(client=c.client, channel=c.channel, user_agent=c.user_agent,
                          age_seconds=round(max(read.cut_at - c.connected_at, 0.0), 1))
                for i, c in enumerate(read.cuts) if i not in back_of]
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
