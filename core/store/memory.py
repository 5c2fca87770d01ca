"""In-process state store: the same contract as the Redis store, for one process.

It is the embedded default (the demo, a single-worker service), not a test double.
Sorted indexes (bisect over ``(score, id)`` lists) keep age counts O(log n), as the
Redis store's ZCOUNTs do.
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import math
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence

from ..blast import BLAST_KEPT_SECONDS, cut_counts, match_arrivals
from ..classify import is_stale, state_range
from ..history import HistorySample, Point, Tier, fold, parse_points, with_workers
from ..liveness import Epoch
from ..models import AgeCounts, CleanupCounters, ConnectionRecord, FleetEvent, Touch, WorkerHeartbeat
from ..stats import duration_bucket
from .base import (
    CONNECT_COUNTS_KEPT,
    RUNS_KEPT,
    SCAN_LIMIT,
    AgeQuery,
    BlastRead,
    Census,
    ChannelCounts,
    Cut,
    FleetRead,
    FlushResult,
    Page,
    reconnect_flags,
)

_WORKERS = "history:workers"  # the history's per-worker counts (Keys.history_workers; never a tier's name)


class SortedScores:
    """A tiny sorted set: member -> score with range counts (like a Redis zset)."""

    def __init__(self) -> None:
        self._score: dict[str, float] = {}
        self._items: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._score)

    def __contains__(self, member: str) -> bool:
        return member in self._score

    def add(self, member: str, score: float) -> bool:
        old = self._score.get(member)
        if old is not None:
            if old == score:
                return False
            del self._items[bisect.bisect_left(self._items, (old, member))]
        self._score[member] = score
        bisect.insort(self._items, (score, member))
        return old is None

    def raise_many(self, updates: Mapping[str, float]) -> None:
        """Raise members' scores (never lowers one; ignores non-members): ``ZADD XX GT``.
        A big batch (a flush of every connection) re-sorts once instead of moving each
        entry (each move is a list memmove, O(n))."""
        changed = [(m, s) for m, s in updates.items() if (old := self._score.get(m)) is not None and s > old]
        if len(changed) > 32 and len(changed) * 8 > len(self._items):
            for m, s in changed:
                self._score[m] = s
            self._items = sorted((s, m) for m, s in self._score.items())
        else:
            for m, s in changed:
                self.add(m, s)

    def remove(self, member: str) -> bool:
        old = self._score.pop(member, None)
        if old is None:
            return False
        del self._items[bisect.bisect_left(self._items, (old, member))]
        return True

    def score(self, member: str) -> float | None:
        return self._score.get(member)

    def count_below(self, bound: float) -> int:
        """Members with score < bound."""
        return bisect.bisect_left(self._items, (bound, ""))

    def range_below(self, bound: float, offset: int = 0, limit: int | None = None) -> list[str]:
        end = self.count_below(bound)
        stop = end if limit is None else min(end, offset + limit)
        return [m for _, m in self._items[offset:stop]]

    def slice(self, start: int, stop: int) -> list[str]:
        """Members at ranks [start, stop) (lowest score first)."""
        return [m for _, m in self._items[start:stop]]

    def __iter__(self) -> Iterator[str]:
        return (m for _, m in self._items)


class MemoryStore:
    kind = "memory"

    def __init__(self, clock: object = None) -> None:
        self._records: dict[str, ConnectionRecord] = {}  # as registered; activity and counts live apart
        self._sent: dict[str, list[int]] = {}  # id -> [events, bytes] touched since registration
        self._activity = SortedScores()
        self._connected = SortedScores()
        self._counter = 0
        self._worker_conns: dict[str, set[str]] = {}
        self._heartbeats: dict[str, WorkerHeartbeat] = {}
        self._cleanup = _CleanupTally()
        self._events: collections.deque[FleetEvent] = collections.deque(maxlen=100)
        self._published: dict[str, str] = {}
        self._history: dict[str, tuple[list[float], dict[float, str]]] = {}  # tier -> (sorted times, t -> stored member)
        self._history_leases: dict[int, str] = {}  # interval slot -> writer
        self._trend_leases: dict[int, str] = {}  # trend period -> the worker computing it
        self._trends: str | None = None  # the fleet's trend verdicts (JSON)
        self._counts_at: dict[str, float] = {}  # worker -> its counts are as of then
        self._epoch: Epoch | None = None  # created by the first flush (one process never loses it)
        self._conditions: dict[str, float] = {}
        self._marks: list[FleetEvent] = []
        self._leases: dict[str, tuple[str, float]] = {}  # name -> (holder, monotonic expiry)
        self._queues: dict[str, tuple[str, float]] = {}  # worker id -> (published view, monotonic expiry)
        self._cuts: dict[str, float] = {}  # client key -> when its stream last closed (core.reconnects)
        self._connects: dict[int, list[int]] = {}  # second -> [connects, reconnects]
        self._history_connects: list[tuple[float, float, float]] = []  # (t, connects/s, reconnects/s)
        self._history_connects_rollup: dict[float, tuple[float, float]] = {}  # step start -> highest rates
        self._arrivals: list[tuple[str, float]] = []  # blast radius (core.blast): recent connects, in order
        self._blasts: dict[str, BlastRead] = {}  # event id -> its cut streams and the clients back
        self._blast_until: dict[str, float] = {}  # event id -> kept until (fleet clock)
        self._clock = clock if callable(clock) else time.time

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def server_time(self) -> float | None:
        return None

    # -- registry ---------------------------------------------------------------------
    def _add(self, record: ConnectionRecord) -> bool:
        cid = record.connection_id
        new = cid not in self._activity
        old = self._records.get(cid)
        if old is not None and old.worker_id != record.worker_id:
            self._worker_conns.get(old.worker_id, set()).discard(cid)
        self._records[cid] = record
        self._sent.pop(cid, None)
        self._activity.add(cid, record.last_activity)
        self._connected.add(cid, record.connected_at)
        self._worker_conns.setdefault(record.worker_id, set()).add(cid)
        if new:
            self._counter += 1
        return new

    def _remove(self, cid: str) -> bool:
        if not self._activity.remove(cid):
            return False
        self._connected.remove(cid)
        rec = self._records.pop(cid, None)
        self._sent.pop(cid, None)
        if rec is not None:
            self._worker_conns.get(rec.worker_id, set()).discard(cid)
        self._counter = max(self._counter - 1, 0)
        return True

    async def register(self, record: ConnectionRecord) -> bool:
        return self._add(record)

    async def register_many(self, records: Sequence[ConnectionRecord]) -> int:
        return sum(1 for r in records if self._add(r))

    async def unregister(self, connection_id: str) -> bool:
        return self._remove(connection_id)

    async def unregister_many(self, connection_ids: Sequence[str]) -> int:
        return sum(1 for c in connection_ids if self._remove(c))

    async def sync_worker(self, worker_id: str, held: Sequence[str]) -> tuple[int, list[str]]:
        keep = set(held)
        members = self._worker_conns.get(worker_id, set())
        extra = [m for m in members if m not in keep]
        removed = sum(1 for c in extra if self._remove(c))
        members.difference_update(extra)
        return removed, [c for c in held if c not in self._activity]

    async def touch_many(self, touches: Mapping[str, Touch]) -> list[str]:
        # like apply_touches in Lua: activity only ever moves forward, counts add up;
        # no record is copied (a flush touches every connection, every second)
        missing: list[str] = []
        raise_to: dict[str, float] = {}
        for cid, t in touches.items():
            if cid not in self._activity:
                if t.events or t.bytes:
                    missing.append(cid)  # like the Lua: only touches that carry counts report unknown ids
                continue
            raise_to[cid] = t.at
            if t.events or t.bytes:
                c = self._sent.get(cid)
                if c is None:
                    self._sent[cid] = [t.events, t.bytes]
                else:
                    c[0] += t.events
                    c[1] += t.bytes
        self._activity.raise_many(raise_to)
        return missing

    async def missing(self, connection_ids: Sequence[str]) -> list[str]:
        return [c for c in connection_ids if c not in self._activity]

    async def remove_stale(self, cutoff: float, limit: int, worker_id: str = "") -> tuple[int, list[str]]:
        ids = self._activity.range_below(cutoff, 0, limit)
        owners = {c: self._records[c].worker_id for c in ids if c in self._records}
        removed = [c for c in ids if self._remove(c)]
        return len(removed), [c for c in removed if owners.get(c) == worker_id]

    async def reap_worker(self, worker_id: str, limit: int, reaper: str = "") -> tuple[int, int]:
        members = self._worker_conns.get(worker_id, set())
        batch = list(members)[:limit]
        removed = []
        for cid in batch:
            members.discard(cid)
            if self._remove(cid):
                removed.append(cid)
        left = len(members)
        if not left:
            self._worker_conns.pop(worker_id, None)
        return len(removed), left

    async def census(self, q: AgeQuery) -> Census:
        total = len(self._activity)
        c = q.cut
        ages = AgeCounts(total=total, stale=self._activity.count_below(c.stale),
                         long_lived=self._connected.count_below(c.long_lived),
                         very_old=self._connected.count_below(c.very_old))
        older = [total if e <= 0 else self._connected.count_below(q.now - e) for e in q.edges]
        return Census(ages=ages, counter=self._counter, older_than=older)

    async def reconcile_counter(self) -> tuple[int, int]:
        before = self._counter
        self._counter = len(self._activity)
        return before, self._counter

    async def list_connections(self, state: str, q: AgeQuery, limit: int, offset: int, *, query: str = "",
                               sort: str | None = None, order: str = "desc") -> Page:
        own = "idle" if state in ("stale", "active") else "age"
        sort = sort or own
        if not query and sort == own:
            ids, total = _select(self._activity, self._connected, state, q, limit, offset, reverse=order == "asc")
            return Page(total=total, records=[self._view(c) for c in ids if c in self._records])
        # bounded scan of the state's candidates (oldest first), as the Redis store does
        cands, total = _select(self._activity, self._connected, state, q, SCAN_LIMIT, 0)
        needle = query.lower()
        rows = [self._view(c) for c in cands if c in self._records]
        if needle:
            rows = [r for r in rows if any(needle in v.lower() for v in (
                r.connection_id, r.client_address, r.worker_id, r.host, r.channel, r.user_agent))]
        keys: dict[str, Callable[[ConnectionRecord], float]] = {
            "age": lambda r: r.connected_at, "idle": lambda r: r.last_activity,
            "events": lambda r: -(-1 if r.events_sent is None else r.events_sent), "bytes": lambda r: -r.bytes_sent}
        key = keys[sort]
        rows.sort(key=lambda r: (key(r), r.connection_id), reverse=order == "asc")
        return Page(total=len(rows), records=rows[offset:offset + limit], scanned=len(cands), truncated=total > len(cands))

    async def get_connection(self, connection_id: str) -> ConnectionRecord | None:
        return self._view(connection_id) if connection_id in self._records else None

    async def channels(self, q: AgeQuery, scan_limit: int = SCAN_LIMIT) -> tuple[list[ChannelCounts], int, bool]:
        age_cut = q.cut
        ids = self._connected.range_below(math.inf, 0, scan_limit)
        by: dict[str, list[float]] = {}
        for c in ids:
            rec = self._records.get(c)
            if rec is None:
                continue
            e = by.setdefault(rec.channel, [0, 0, rec.connected_at])
            e[0] += 1
            act = self._activity.score(c)
            if act is not None and is_stale(act, age_cut):
                e[1] += 1
        rows = [ChannelCounts(ch, int(e[0]), int(e[1]), e[2]) for ch, e in by.items()]
        return rows, len(ids), len(self._connected) > len(ids)

    async def fleet_read(self, q: AgeQuery, events: int = 20) -> FleetRead:
        return FleetRead(census=await self.census(q), counters=self._cleanup.snapshot(), workers=await self.workers(),
                         events=list(self._events)[:events], epoch=self._epoch)

    async def add_event(self, event: FleetEvent, *, group: bool = False, marks_since: float | None = None) -> None:
        head = self._events[0] if self._events else None
        if group and head is not None and head.type == event.type:
            merged = head.model_copy(update={"first_at": head.first_at if head.first_at is not None else head.at,
                                             "count": head.count + event.count, "runs": head.runs + 1, "at": event.at,
                                             "message": event.message, "worker_id": event.worker_id,
                                             "blast_id": event.blast_id})
            self._events[0] = merged
            self._marks = [m for m in self._marks if m is not head] + [merged]
            return
        self._events.appendleft(event)
        self._marks.append(event)
        if marks_since is not None:
            self._marks = [m for m in self._marks if m.at >= marks_since]

    async def history_marks(self, start: float, end: float) -> list[FleetEvent]:
        return sorted((m for m in self._marks if m.at >= start and (m.first_at if m.first_at is not None else m.at) <= end),
                      key=lambda m: m.at)

    async def hold_conditions(self, now: float, holding: Sequence[str], clear: Sequence[str]) -> dict[str, float]:
        for t in clear:
            self._conditions.pop(t, None)
        return {t: self._conditions.setdefault(t, now) for t in holding}

    async def mark_dead(self, worker_id: str, reason: str, ttl: float) -> bool:
        hb = self._heartbeats.get(worker_id)
        if hb is None:
            return False
        self._heartbeats[worker_id] = dataclasses.replace(hb, dead_reason=reason[:200])
        return True

    async def reseed_counters(self, counters: CleanupCounters) -> None:
        self._cleanup.raise_to(counters)

    async def mark_settled(self, since: float) -> bool:
        ep = self._epoch
        if ep is None:
            return False
        done = False
        if ep.rebuild_since is not None and ep.rebuild_since <= since + 1e-6:
            ep, done = dataclasses.replace(ep, rebuild_since=None), True
        if ep.settle_since is not None and ep.settle_since <= since + 1e-6:
            ep, done = dataclasses.replace(ep, settle_since=None), True
        self._epoch = ep
        return done

    async def claim(self, name: str, token: str, ttl: float) -> bool:
        now = time.monotonic()
        held = self._leases.get(name)
        if held is not None and held[1] > now:
            return False
        self._leases[name] = (token, now + ttl)
        return True

    async def record_connects(self, closed: Sequence[tuple[str, float]], connects: Sequence[tuple[str, float, bool]],
                              window: float, now: float) -> int:
        for key, t in closed:
            self._cuts[key] = max(t, self._cuts.get(key, t))
        flags = reconnect_flags(connects, [self._cuts.get(k) for k, _, _ in connects], window)
        for (_, t, _), again in zip(connects, flags, strict=True):
            c = self._connects.setdefault(int(t), [0, 0])
            c[0] += 1
            c[1] += again
        self._cuts = {k: t for k, t in self._cuts.items() if t >= now - window}
        self._connects = {s: c for s, c in self._connects.items() if s >= now - CONNECT_COUNTS_KEPT}
        return sum(flags)

    async def connect_counts(self, since: float, now: float) -> list[tuple[int, int, int]]:
        return sorted((s, c[0], c[1]) for s, c in self._connects.items() if since <= s <= now)

    async def history_connects_append(self, t: float, connects: float, reconnects: float, keep_from: float,
                                      rollup: tuple[float, float] | None = None) -> None:
        kept = [r for r in self._history_connects if r[0] >= keep_from and r[0] != t]
        self._history_connects = sorted([*kept, (t, connects, reconnects)])
        if rollup is not None:
            step, keep = rollup
            c, r = self._history_connects_rollup.get(step, (connects, reconnects))
            self._history_connects_rollup[step] = (max(c, connects), max(r, reconnects))
            self._history_connects_rollup = {b: v for b, v in self._history_connects_rollup.items() if b >= keep}

    async def history_connects(self, start: float, end: float, rollup: bool = False) -> list[tuple[float, float, float]]:
        if rollup:
            return sorted((b, c, r) for b, (c, r) in self._history_connects_rollup.items() if start <= b <= end)
        return [r for r in self._history_connects if start <= r[0] <= end]

    async def worker_records(self, worker_id: str, limit: int) -> list[ConnectionRecord]:
        ids = sorted(self._worker_conns.get(worker_id, set()))[:max(int(limit), 0)]
        return [self._view(c) for c in ids if c in self._records]

    async def put_blast(self, blast_id: str, cut_at: float, window: float, cut_total: int, cuts: Sequence[Cut],
                        keep: float) -> int:
        per = cut_counts(cuts)
        found = match_arrivals(self._arrivals, per, cut_at, window)
        back: dict[str, tuple[float, ...]] = {}
        for i, d in found.items():
            back[self._arrivals[i][0]] = (*back.get(self._arrivals[i][0], ()), d)
        self._blasts[blast_id] = BlastRead(cut_at=cut_at, window=window, cut_total=cut_total, cuts=tuple(cuts),
                                           back={k: tuple(sorted(v)) for k, v in back.items()})
        self._blast_until[blast_id] = cut_at + BLAST_KEPT_SECONDS
        return len(found)

    async def note_arrivals(self, arrivals: Sequence[tuple[str, float]], keep: float, now: float) -> int:
        self._arrivals = [a for a in self._arrivals if a[1] >= now - keep] + list(arrivals)
        for bid in [b for b, until in self._blast_until.items() if until < now]:
            self._blasts.pop(bid, None)
            self._blast_until.pop(bid, None)
        new = 0
        for bid, read in self._blasts.items():
            if read.cut_at < now - keep:
                continue  # closed: no arrival can count any more
            per = cut_counts(read.cuts)
            found = match_arrivals(arrivals, per, read.cut_at, read.window)
            if not found:
                continue
            back = dict(read.back)
            for i, d in found.items():
                key = arrivals[i][0]
                had = back.get(key, ())
                back[key] = tuple(sorted((*had, d)))[:per[key]]  # the earliest ones, one per cut stream
                new += len(back[key]) - len(had)
            self._blasts[bid] = dataclasses.replace(read, back=back)
        return new

    async def get_blasts(self, blast_ids: Sequence[str]) -> dict[str, BlastRead]:
        return {b: self._blasts[b] for b in blast_ids if b in self._blasts}

    async def put_queues(self, worker_id: str, body: str, ttl: float) -> None:
        self._queues[worker_id] = (body, time.monotonic() + ttl)

    async def get_queues(self, worker_ids: Sequence[str]) -> dict[str, str]:
        now = time.monotonic()
        return {w: got[0] for w in worker_ids if (got := self._queues.get(w)) is not None and got[1] > now}

    async def probe_write(self, token: str) -> None:
        return None

    async def diagnose(self) -> list[str]:
        return []

    async def repair_types(self, scan: bool = True) -> list[str]:
        return []

    def _view(self, cid: str) -> ConnectionRecord:
        rec = self._records[cid]
        at = self._activity.score(cid)
        sent = self._sent.get(cid)
        if sent is None and at == rec.last_activity and rec.worker_id not in self._counts_at:
            return rec
        update: dict[str, float | int] = {"last_activity": at if at is not None else rec.last_activity}
        counts_at = self._counts_at.get(rec.worker_id)
        if counts_at is not None:
            update["counts_at"] = max(counts_at, rec.connected_at)
        if sent is not None:
            if rec.events_sent is not None:  # None: not counted (stays unknown)
                update["events_sent"] = rec.events_sent + sent[0]
            update["bytes_sent"] = rec.bytes_sent + sent[1]
        return rec.model_copy(update=update)

    # -- cleanup counters -------------------------------------------------------------
    async def record_cleanup(self, cleaned: int, failed: int, duration_ms: float, error: bool, at: float = 0.0) -> None:
        self._cleanup.record(cleaned, failed, duration_ms, error, at)

    async def cleanup_counters(self) -> CleanupCounters:
        return self._cleanup.snapshot()

    # -- workers ----------------------------------------------------------------------
    async def heartbeat(self, hb: WorkerHeartbeat, ttl: float) -> tuple[bool, int]:
        existed = hb.worker_id in self._heartbeats
        self._heartbeats[hb.worker_id] = hb
        return existed, len(self._worker_conns.get(hb.worker_id, ()))

    async def flush(self, touches: Mapping[str, Touch], hb: WorkerHeartbeat, ttl: float, *,
                    settle: bool = False) -> FlushResult:
        missing = await self.touch_many(touches)
        if hb.counts_at is not None:
            self._counts_at[hb.worker_id] = hb.counts_at
        existed, registered = await self.heartbeat(hb, ttl)
        if self._epoch is None:
            self._epoch = Epoch(id=uuid.uuid4().hex[:16], created=hb.heartbeat_at)
        lost = hb.epoch is not None and hb.epoch != self._epoch.id
        if lost and self._epoch.rebuild_since is None:
            self._epoch = dataclasses.replace(self._epoch, rebuild_since=hb.heartbeat_at, last_loss_at=hb.heartbeat_at)
        if settle and self._epoch.settle_since is None:
            self._epoch = dataclasses.replace(self._epoch, settle_since=hb.heartbeat_at)
        others = sorted((w.worker_id, w.heartbeat_at) for w in self._heartbeats.values())
        return FlushResult(unknown=missing, existed=existed, held=registered, epoch=self._epoch, lost=lost,
                           config_published=bool(self._published), registry_size=len(self._activity), peers=tuple(others))

    async def workers(self) -> list[WorkerHeartbeat]:
        return [dataclasses.replace(h, connections=len(self._worker_conns.get(h.worker_id, ())))
                for h in sorted(self._heartbeats.values(), key=lambda h: h.worker_id)]

    async def forget_worker(self, worker_id: str) -> bool:
        self._counts_at.pop(worker_id, None)
        return self._heartbeats.pop(worker_id, None) is not None

    async def publish_config(self, settings: Mapping[str, str]) -> None:
        self._published = dict(settings)

    async def published_config(self) -> dict[str, str]:
        return dict(self._published)

    # -- fleet history (core.history): the Redis store's history_append.lua, in process ----
    def _tier(self, name: str) -> tuple[list[float], dict[float, str]]:
        return self._history.setdefault(name, ([], {}))

    async def history_append(self, sample: HistorySample, tiers: Sequence[Tier], token: str) -> bool:
        raw, *rollups = tiers
        slot = int(sample.t // raw.step)
        if slot in self._history_leases:
            return False
        self._history_leases[slot] = token
        for old in [k for k in self._history_leases if k < slot - 2]:
            del self._history_leases[old]
        self._put(raw.name, sample.t, sample.to_member(False), raw.retention)
        per_worker = sample.workers_member() if with_workers(sample.t, raw.step) else None
        if per_worker is not None:
            self._put(_WORKERS, sample.t, per_worker, raw.retention)
        self._trim(_WORKERS, sample.t - raw.retention)  # every append, like the script
        for tier in rollups:
            bucket = math.floor(sample.t / tier.step) * tier.step
            _, points = self._tier(tier.name)
            self._put(tier.name, bucket, fold(points.get(bucket), sample, bucket), tier.retention, trim_at=sample.t)
        return True

    def _put(self, name: str, t: float, body: str, retention: float, trim_at: float | None = None) -> None:
        times, points = self._tier(name)
        if t not in points:
            bisect.insort(times, t)
        points[t] = body
        self._trim(name, (trim_at if trim_at is not None else t) - retention)

    def _trim(self, name: str, keep_from: float) -> None:
        times, points = self._tier(name)
        cut = bisect.bisect_left(times, keep_from)
        for old in times[:cut]:
            del points[old]
        del times[:cut]

    async def history_members(self, tier: Tier, start: float, end: float) -> list[str]:
        times, points = self._tier(tier.name)
        lo, hi = bisect.bisect_left(times, start), bisect.bisect_right(times, end)
        return [points[t] for t in times[lo:hi]]

    async def history_workers(self, start: float, end: float) -> list[str]:
        times, points = self._tier(_WORKERS)
        lo, hi = bisect.bisect_left(times, start), bisect.bisect_right(times, end)
        return [points[t] for t in times[lo:hi]]

    async def history_first(self, tier: Tier) -> float | None:
        times, _ = self._tier(tier.name)
        return times[0] if times else None

    async def history_times(self, tier: Tier, members: Sequence[str]) -> list[float | None]:
        at = {body: t for t, body in self._tier(tier.name)[1].items()}
        return [at.get(m) for m in members]

    async def history_range(self, tier: Tier, start: float, end: float) -> tuple[list[Point], int]:
        return parse_points(await self.history_members(tier, start, end))

    async def history_trends_claim(self, period: int, token: str, ttl: float) -> bool:
        """One claim per period (a period's lease outlives the period: older ones are dropped)."""
        if period in self._trend_leases:
            return False
        self._trend_leases[period] = token
        for old in [k for k in self._trend_leases if k < period - 2]:
            del self._trend_leases[old]
        return True

    async def history_trends_put(self, body: str, ttl: float) -> None:
        """Kept until replaced: this store has no clock of its own; the verdicts carry the
        time they were computed at and readers judge their age by it (as they do in Redis)."""
        self._trends = body

    async def history_trends_get(self) -> str | None:
        return self._trends


def _select(activity: SortedScores, connected: SortedScores, state: str, q: AgeQuery, limit: int, offset: int,
            reverse: bool = False) -> tuple[list[str], int]:
    """Which ids one page of ``state`` holds, oldest first (newest first with ``reverse``),
    and how many are in that state."""
    r = state_range(state, q.cut)
    z = activity if r.index == "activity" else connected
    lo = z.count_below(r.from_) if r.from_ is not None else 0
    hi = z.count_below(r.below) if r.below is not None else len(z)
    total = hi - lo
    if reverse:
        stop = hi - offset
        start = max(stop - limit, lo)
        return list(reversed(z.slice(start, max(stop, start)))), total
    start = lo + offset
    return z.slice(start, min(start + limit, hi)), total


class _CleanupTally:
    def __init__(self) -> None:
        self.total = 0
        self.cleaned = 0
        self.errors = 0
        self.failed = 0
        self.last_ms = 0.0
        self.sum_ms = 0.0
        self.consecutive = 0
        self.buckets: dict[float, int] = {}
        self.runs: collections.deque[tuple[float, bool]] = collections.deque(maxlen=RUNS_KEPT)

    def record(self, cleaned: int, failed: int, duration_ms: float, error: bool, at: float = 0.0) -> None:
        self.runs.appendleft((at, error))
        self.total += 1
        self.cleaned += cleaned
        self.failed += failed
        self.last_ms = duration_ms
        self.sum_ms += duration_ms
        if error:
            self.errors += 1
            self.consecutive += 1
        else:
            self.consecutive = 0
        b = duration_bucket(duration_ms / 1000.0)
        self.buckets[b] = self.buckets.get(b, 0) + 1

    def raise_to(self, c: CleanupCounters) -> None:
        self.total = max(self.total, c.total_cleanups)
        self.cleaned = max(self.cleaned, c.total_connections_cleaned)
        self.errors = max(self.errors, c.cleanup_errors)
        self.failed = max(self.failed, c.failed_connections)
        self.sum_ms = max(self.sum_ms, c.total_duration_ms)
        for b, n in c.duration_buckets.items():
            self.buckets[b] = max(self.buckets.get(b, 0), n)

    def snapshot(self) -> CleanupCounters:
        return CleanupCounters(
            total_cleanups=self.total, total_connections_cleaned=self.cleaned, cleanup_errors=self.errors,
            failed_connections=self.failed, last_cleanup_duration_ms=self.last_ms, total_duration_ms=self.sum_ms,
            consecutive_errors=self.consecutive, duration_buckets=dict(self.buckets), recent_runs=tuple(self.runs),
        )
