"""Redis state store (``redis.asyncio``), shared by every worker on every host.

* Every read-then-write is one Lua script (``lua/``), so removals are atomic across
  workers and counted once; scripts are registered once and run by EVALSHA.
* Age counts are ZCOUNTs on two sorted sets (by last activity, by connect time) in one
  pipeline: the cost of a stats call does not grow with the number of connections.
* Redis errors are translated once, here, into :class:`StoreUnavailable`.
"""

from __future__ import annotations

import functools
import math
import re
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from importlib import resources
from typing import Any, ParamSpec, TypeVar

import redis.asyncio as aioredis
from pydantic import ValidationError
from redis.exceptions import (
    AuthenticationError,
    NoPermissionError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    ResponseError,
)
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..blast import BLAST_KEPT_SECONDS, cut_counts, decode_cuts, encode_cuts, match_arrivals
from ..classify import state_range
from ..history import HistorySample, Point, Tier, fold, parse_points, with_workers
from ..keys import KEY_TYPES, SHARD_KEYS, Keys, lua_prelude
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
    StoreUnavailable,
    reconnect_flags,
)

T = TypeVar("T")
P = ParamSpec("P")

_RECORD_INT_FIELDS = ("pid", "events_sent", "bytes_sent")
_RECORD_FLOAT_FIELDS = ("connected_at", "last_activity", "counts_at")


def _load_script(name: str) -> str:
    """A script as Redis runs it: the key names (generated from core/keys.py), the shared
    prelude, then the script itself."""
    lua = resources.files("core.store") / "lua"
    return ("local prefix = ARGV[1]\n" + lua_prelude() + (lua / "_prelude.lua").read_text() + "\n"
            + (lua / f"{name}.lua").read_text())


_ADDRESS = re.compile(r"\(\s*'[^']*'\s*,\s*\d+[^)]*\)|\[?[0-9a-fA-F:.]*[0-9a-fA-F]\]?:\d{2,5}\b|\b(?:\d{1,3}\.){3}\d{1,3}\b|(?<=connecting to )\S+|\bunix:\S+|/\S*\.sock\b")
_REFUSING = ("OOM", "READONLY", "MISCONF", "NOREPLICAS", "NOTREADY")


def _redact(text: str) -> str:
    """Connection errors may echo the URL or address: never let a password or address through."""
    text = re.sub(r"(rediss?://)([^@/\s]*)@", r"\1***@", text)
    text = re.sub(r"rediss?://\S+", "<redis-url>", text)
    return _ADDRESS.sub("<address>", text)


def _classify(exc: BaseException) -> StoreUnavailable:
    name = type(exc).__name__
    detail = _redact(str(exc))[:200]
    if isinstance(exc, OutOfMemoryError):
        return StoreUnavailable(f"redis refusing writes (maxmemory reached): {detail}", "refusing_writes")
    if isinstance(exc, ReadOnlyError):
        return StoreUnavailable(f"redis refusing writes (read-only replica): {detail}", "refusing_writes")
    if isinstance(exc, NoPermissionError):  # redis-py strips its NOPERM prefix
        return StoreUnavailable(f"redis permission denied (ACL): {detail}", "error")
    if isinstance(exc, ResponseError):
        # the error's code: its first word, or (a pipeline's or script's error wraps it) the
        # first known code anywhere in the message
        words = str(exc).replace(":", " ").split()
        code = words[0].upper() if words else ""
        known = ("WRONGTYPE", "NOPERM", "NOSCRIPT", *_REFUSING)
        if code not in known:
            code = next((w for w in words if w in known), code)
        if code in _REFUSING:
            reason = {"OOM": "maxmemory reached", "READONLY": "read-only replica",
                      "MISCONF": "persistence failing"}.get(code, code)
            return StoreUnavailable(f"redis refusing writes ({reason}): {detail}", "refusing_writes")
        if code == "NOPERM":
            return StoreUnavailable(f"redis permission denied (ACL): {detail}", "error")
        if code == "WRONGTYPE":
            return StoreUnavailable(f"redis wrong type: a key of the namespace holds another type than the store "
                                    f"writes: {detail}", "error")
        if code == "NOSCRIPT":
            return StoreUnavailable(f"redis script cache flushed (reloaded on the next call): {detail}", "error")
        return StoreUnavailable(f"redis error: {name}: {detail}", "error")
    if isinstance(exc, AuthenticationError):
        return StoreUnavailable(f"redis refused the credentials: {detail}", "error")
    if isinstance(exc, (RedisTimeoutError, TimeoutError)):
        return StoreUnavailable(f"redis unreachable: timed out ({name})", "unreachable")
    return StoreUnavailable(f"redis unreachable: {name}: {detail}", "unreachable")


def _translate(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Translate every Redis error once, here (keeps the wrapped method's signature)."""
    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except (RedisError, OSError) as exc:
            raise _classify(exc) from exc
    return wrapper


def _num(value: float) -> str:
    return repr(float(value))


def _arrival_member(key: str, t: float, i: int) -> str:
    """A connect in ``{ns}:arrivals`` (and a comeback's field in an event's back hash): its
    client key, its time and its place in the flush that sent it, so that no two connects of
    one client are ever one member."""
    return f"{key}|{_num(t)}|{i}"


def _touch_args(touches: Mapping[str, Touch]) -> list[Any]:
    """ARGV for the Lua ``apply_touches``: activity-only touches grouped by their time (a
    flush of stream totals is one group: one argument per connection), then quadruples
    (id, at, events, bytes) for touches that carry counts.

    Ids go in sorted order. Connections refreshed together were last written together
    (one time, one flush), and members with equal scores sit in the sorted set in member
    order, so sorted ids make Redis walk neighbouring skiplist nodes instead of jumping
    through memory: at 1M registered, 1.6 µs of Redis CPU per touch instead of 2.4
    (``python -m bench.bench_activity``, docs/benchmarks.md)."""
    groups: dict[float, list[str]] = {}
    quads: list[Any] = []
    for cid, t in sorted(touches.items()):
        if t.events or t.bytes:
            quads.extend((cid, _num(t.at), int(t.events), int(t.bytes)))
        else:
            ids = groups.get(t.at)
            if ids is None:
                groups[t.at] = [cid]
            else:
                ids.append(cid)
    args: list[Any] = [len(groups)]
    for at, ids in groups.items():
        args.append(_num(at))
        args.append(len(ids))
        args.extend(ids)
    args.extend(quads)
    return args


TOUCHES_PER_CALL = 5_000  # a counted touch costs Redis up to ~10 µs: a call stays well under 100 ms


def _chunks(touches: Mapping[str, Touch]) -> tuple[Mapping[str, Touch], list[dict[str, Touch]]]:
    """The touches in script-sized parts: the first (sent with the heartbeat), the rest."""
    if len(touches) <= TOUCHES_PER_CALL:
        return touches, []
    items = sorted(touches.items())
    parts = [dict(items[i:i + TOUCHES_PER_CALL]) for i in range(0, len(items), TOUCHES_PER_CALL)]
    return parts[0], parts[1:]


def redact_url(url: str) -> str:
    """The URL with any password masked (for describing a store; never for errors)."""
    return re.sub(r"(rediss?://)([^@/\s]*)@", r"\1***@", url)


SCRIPTS = ("register", "unregister", "remove_stale", "reap_worker", "touch", "flush", "reconcile", "sync_worker",
           "forget_worker", "record_cleanup", "page", "channels", "get", "history_append", "touch_held", "hold",
           "add_event", "mark_dead", "reseed", "worker_records", "connects_rollup")
EVENTS_KEPT = 100
SCAN_WRONG_TYPES = 10_000
HISTORY_FOLD_TRIES = 5  # reads and folds of a rollup bucket another writer changed meanwhile  # keys of one pattern a wrong-type diagnosis looks at
MAX_FIELD = 4096  # characters of a stored field shown back; longer values are bad data


class RedisStore:
    kind = "redis"

    def __init__(self, url: str, namespace: str = "sse", *, timeout: float = 2.0, client: Any = None,
                 tag: str = "") -> None:
        """``tag``: the hash tag of the shard this store works on ("" = the namespace: shard 0,
        the whole registry when unsharded; core.store.sharded builds one store per shard)."""
        self._url = url
        self.keys = Keys(namespace, tag)
        # the shards this store's fleet-wide reads sum (census, fleet_read, the workers' held
        # counts), in one pipeline: core.store.sharded sets every shard's keys on shard 0's store
        self.shard_keys: tuple[Keys, ...] = (self.keys,)
        self._timeout = timeout
        self._client = client
        self._owns_client = client is None
        self._scripts: dict[str, Any] = {}
        self._codes: dict[str, str] = {}  # worker id -> its code on this shard, as last told (put back if lost)

    def use_client(self, client: Any) -> None:
        """Work on another store's client (the shards of one registry share one connection
        pool); this store never closes it."""
        self._client = client
        self._owns_client = False

    def describe(self) -> str:
        return redact_url(self._url) + f" (namespace {self.keys.namespace})"

    @property
    def client(self) -> Any:
        if self._client is None:
            raise StoreUnavailable("redis store not connected yet", "unreachable")
        return self._client

    @property
    def connected(self) -> bool:
        return self._client is not None

    async def start(self) -> None:
        """Connect (raises StoreUnavailable when Redis cannot be reached: call again later)."""
        if self._client is None:
            self._client = await _connect(self._url, self._timeout)
        for name in SCRIPTS:
            if name not in self._scripts:
                self._scripts[name] = self._client.register_script(_load_script(name))

    async def close(self) -> None:
        if self._client is not None and self._owns_client:
            if isinstance(self._client, aioredis.Redis):
                await self._client.aclose(close_connection_pool=True)
            else:  # RedisCluster
                await self._client.aclose()
            self._client = None

    @_translate
    async def ping(self) -> None:
        await self.client.ping()

    @_translate
    async def server_time(self) -> float | None:
        if isinstance(self.client, aioredis.Redis):
            sec, usec = await self.client.time()
            return sec + usec / 1e6
        return None  # a cluster has one clock per node; flushes measure the one holding our slot

    def _base_keys(self) -> list[str]:
        k = self.keys
        return [k.activity, k.connected, k.counter]

    async def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        client = self.client  # StoreUnavailable before the first connect (scripts are registered then)
        return await self._scripts[name](keys=keys, args=[self.keys.prefix, *args], client=client)

    # -- registry ---------------------------------------------------------------------
    @staticmethod
    def _record_args(r: ConnectionRecord) -> list[Any]:
        """The register script's 11 arguments for one record (it packs them: _prelude.lua)."""
        return [r.connection_id, _num(r.last_activity), _num(r.connected_at), r.worker_id, r.host, r.pid,
                r.user_agent, r.channel, r.client_address,
                "" if r.events_sent is None else int(r.events_sent), int(r.bytes_sent)]  # "": not counted

    def _register_keys(self) -> list[str]:
        return [*self._base_keys(), self.keys.user_agents]

    @_translate
    async def register(self, record: ConnectionRecord) -> bool:
        return bool(await self.register_many([record]))

    @_translate
    async def register_many(self, records: Sequence[ConnectionRecord]) -> int:
        added = 0
        for start in range(0, len(records), 500):
            args: list[Any] = []
            for r in records[start:start + 500]:
                args.extend(self._record_args(r))
            if args:
                res = await self._run("register", self._register_keys(), args)
                added += int(res[0])
                for i in range(1, len(res) - 1, 2):
                    self._codes[_s(res[i])] = _s(res[i + 1])
        return added

    @_translate
    async def unregister(self, connection_id: str) -> bool:
        return bool(await self._run("unregister", self._base_keys(), [connection_id]))

    @_translate
    async def unregister_many(self, connection_ids: Sequence[str]) -> int:
        removed = 0
        for start in range(0, len(connection_ids), 1000):
            chunk = list(connection_ids[start:start + 1000])
            if chunk:
                removed += int(await self._run("unregister", self._base_keys(), chunk))
        return removed

    @_translate
    async def sync_worker(self, worker_id: str, held: Sequence[str]) -> tuple[int, list[str]]:
        res = await self._run("sync_worker", self._base_keys(), [worker_id, *held])
        return int(res[0]), [_s(x) for x in res[1:]]

    @_translate
    async def touch_many(self, touches: Mapping[str, Touch]) -> list[str]:
        if not touches:
            return []
        first, rest = _chunks(touches)
        missing = [_s(m) for m in await self._run("touch", self._base_keys(), ["", "", *_touch_args(first)])]
        for part in rest:
            missing.extend(_s(m) for m in await self._run("touch", self._base_keys(), ["", "", *_touch_args(part)]))
        return missing

    @_translate
    async def touch_held(self, touches: Mapping[str, Touch], worker_id: str, counts_at: float | None = None,
                         info: str = "") -> tuple[list[str], int, int]:
        """Touches plus how many connections this shard holds for ``worker_id``, in one call
        (a sharded flush's share on the shards that do not hold the heartbeat; the worker's
        code here put back if lost). ``counts_at``: these touches complete the worker's counts
        on this shard as of then. Returns (unknown ids, held for the worker, registered here)."""
        first, rest = _chunks(touches)
        at = _num(counts_at) if counts_at is not None else ""
        res = await self._run("touch_held", self._base_keys(),
                              [worker_id, "" if rest else at, self._codes.get(worker_id, ""), info, *_touch_args(first)])
        if res[1]:
            self._codes[worker_id] = _s(res[1])
        unknown = [_s(m) for m in res[2]]
        for i, part in enumerate(rest):
            last = i == len(rest) - 1
            unknown.extend(_s(m) for m in await self._run("touch", self._base_keys(),
                                                          [worker_id, at if last else "", *_touch_args(part)]))
        return unknown, int(res[0]), int(res[3])

    @_translate
    async def stale_candidates(self, cutoff: float, limit: int) -> list[tuple[str, float]]:
        """The ``limit`` least recently active connections with activity < cutoff, oldest
        first, with their activity (read only: a sharded cleanup picks the oldest across shards)."""
        rows = await self.client.zrangebyscore(self.keys.activity, "-inf", f"({_num(cutoff)}", start=0,
                                               num=int(limit), withscores=True)
        return [(_s(m), float(sc)) for m, sc in rows]

    @_translate
    async def drop_lease(self, worker_id: str) -> None:
        """Forget ``worker_id`` on a shard that holds no heartbeat (a sharded store's shards
        1..n): its reaping lease, and its code once the shard holds nothing of it."""
        await self.forget_worker(worker_id)

    @_translate
    async def drop_shard_keys(self) -> None:
        """Delete this shard's counter, record-bucket state, user-agent table and worker codes
        (retiring an emptied shard; its buckets, ids lists and ``held`` emptied with it)."""
        k = self.keys
        for key in (k.counter, k.record_meta, k.user_agents, k.user_agent_index, k.user_agent_seq,
                    k.worker_codes, k.worker_info, k.worker_seq, k.held):
            await self.client.delete(key)
        async for key in self.client.scan_iter(match=k.worker_list("*"), count=1000):
            await self.client.delete(key)

    @_translate
    async def missing(self, connection_ids: Sequence[str]) -> list[str]:
        out: list[str] = []
        for start in range(0, len(connection_ids), 1000):
            chunk = list(connection_ids[start:start + 1000])
            scores = await self.client.zmscore(self.keys.activity, chunk)
            out.extend(c for c, s in zip(chunk, scores, strict=True) if s is None)
        return out

    @_translate
    async def remove_stale(self, cutoff: float, limit: int, worker_id: str = "") -> tuple[int, list[str]]:
        res = await self._run("remove_stale", self._base_keys(), [_num(cutoff), int(limit), worker_id])
        return int(res[0]), [_s(x) for x in res[1:]]

    @_translate
    async def reap_worker(self, worker_id: str, limit: int, reaper: str = "") -> tuple[int, int]:
        k = self.keys
        removed, left = await self._run("reap_worker", [*self._base_keys(), k.reaping(worker_id)],
                                        [int(limit), reaper or worker_id, 30_000, worker_id])
        return int(removed), int(left)

    def _census_commands(self, pipe: Any, q: AgeQuery) -> int:
        """Queue the census of every shard in ``shard_keys``; returns how many replies."""
        for k in self.shard_keys:
            self._shard_census_commands(pipe, k, q)
        return len(self.shard_keys) * (5 + len([e for e in q.edges if e > 0]))

    def _census_parse(self, q: AgeQuery, res: list[Any]) -> Census:
        """The shards' censuses summed (the counter: the sum; None when one is bad data)."""
        each = len(res) // len(self.shard_keys)
        parts = [self._shard_census_parse(q, k, res[i * each:(i + 1) * each]) for i, k in enumerate(self.shard_keys)]
        if len(parts) == 1:
            return parts[0]
        counters = [c.counter for c in parts]
        return Census(
            ages=AgeCounts(total=sum(c.ages.total for c in parts), stale=sum(c.ages.stale for c in parts),
                           long_lived=sum(c.ages.long_lived for c in parts), very_old=sum(c.ages.very_old for c in parts)),
            counter=None if any(c is None for c in counters) else sum(c or 0 for c in counters),
            older_than=[sum(c.older_than[i] for c in parts) for i in range(len(q.edges))],
            bad_data=tuple(b for c in parts for b in c.bad_data))

    @staticmethod
    def _shard_census_commands(pipe: Any, k: Keys, q: AgeQuery) -> None:
        pipe.zcard(k.activity)
        for state in ("stale", "long_lived", "very_old"):
            _, lo, hi = _state_range(state, q)
            pipe.zcount(k.activity if state == "stale" else k.connected, lo, hi)
        pipe.get(k.counter)
        edges = [e for e in q.edges if e > 0]
        for e in edges:
            pipe.zcount(k.connected, "-inf", f"({_num(q.now - e)}")

    @staticmethod
    def _shard_census_parse(q: AgeQuery, k: Keys, res: list[Any]) -> Census:
        total = int(res[0])
        older_iter = iter(int(x) for x in res[5:])
        older = [total if e <= 0 else next(older_iter) for e in q.edges]
        ages = AgeCounts(total=total, stale=int(res[1]), long_lived=int(res[2]), very_old=int(res[3]))
        bad: list[str] = []
        counter = _count(res[4], k.counter, bad)
        return Census(ages=ages, counter=counter, older_than=older, bad_data=tuple(bad))

    @_translate
    async def census(self, q: AgeQuery) -> Census:
        pipe = self.client.pipeline(transaction=False)
        n = self._census_commands(pipe, q)
        res = await pipe.execute()
        return self._census_parse(q, res[:n])

    @_translate
    async def fleet_read(self, q: AgeQuery, events: int = 20) -> FleetRead:
        """census, cleanup counters, workers (two round trips: the worker hashes need their ids)
        and the latest fleet events."""
        k = self.keys
        pipe = self.client.pipeline(transaction=False)
        n = self._census_commands(pipe, q)
        pipe.hgetall(k.cleanup)
        pipe.zrange(k.workers, 0, -1, withscores=True)
        pipe.lrange(k.events, 0, max(events - 1, 0))
        pipe.lrange(k.cleanup_runs, 0, RUNS_KEPT - 1)
        pipe.hgetall(k.epoch)
        res = await pipe.execute()
        census = self._census_parse(q, res[:n])
        counters = _cleanup_counters(res[n], k.cleanup, res[n + 3])
        workers, wbad = await self._workers_from(res[n + 1])
        evs, ebad = _events(res[n + 2] if events > 0 else [], k.events)
        epoch, pbad = _epoch(res[n + 4], k.epoch)
        bad = (*census.bad_data, *counters.bad_fields, *wbad, *ebad, *pbad)
        return FleetRead(census=census, counters=counters, workers=workers, events=evs, bad_data=bad, epoch=epoch)

    @_translate
    async def reconcile_counter(self) -> tuple[int, int]:
        before, after = await self._run("reconcile", self._base_keys(), [])
        return int(before), int(after)

    @_translate
    async def list_connections(self, state: str, q: AgeQuery, limit: int, offset: int, *, query: str = "",
                               sort: str | None = None, order: str = "desc") -> Page:
        k = self.keys
        zset, lo, hi = _state_range(state, q)
        sort = sort or ("idle" if zset == "activity" else "age")
        res = await self._run("page", [*self._base_keys(), k.user_agents], [zset, lo, hi, sort, order, query.lower(),
                                                                           int(offset), int(limit), SCAN_LIMIT])
        bad: list[str] = []
        records = []
        for cid, act, connected, ua, flat in res[3:]:
            rec = _record_flat(_s(cid), flat, act, connected, ua, k.record(_s(cid)), bad)
            if rec is not None:
                records.append(rec)
        return Page(total=int(res[0]), records=records, scanned=int(res[1]), truncated=bool(int(res[2])),
                    bad_data=tuple(bad))

    @_translate
    async def get_connection(self, connection_id: str) -> ConnectionRecord | None:
        res = await self._run("get", self._base_keys(), [connection_id])
        if not res:
            return None
        act, connected, ua, flat = res
        if not flat:
            return None
        return _record_flat(connection_id, flat, act, connected, ua, self.keys.record(connection_id), [])

    @_translate
    async def channels(self, q: AgeQuery, scan_limit: int = SCAN_LIMIT) -> tuple[list[ChannelCounts], int, bool]:
        res = await self._run("channels", self._base_keys(), [_num(q.cut.stale), int(scan_limit)])
        rows = []
        flat = res[2:]
        for i in range(0, len(flat), 4):
            oldest = _float(flat[i + 3])
            rows.append(ChannelCounts(channel=_s(flat[i])[:MAX_FIELD], connections=int(flat[i + 1]),
                                      stale=int(flat[i + 2]), oldest_connected_at=oldest))
        return rows, int(res[0]), bool(int(res[1]))

    # -- cleanup counters and events --------------------------------------------------
    @_translate
    async def record_cleanup(self, cleaned: int, failed: int, duration_ms: float, error: bool, at: float = 0.0) -> None:
        await self._run("record_cleanup", [*self._base_keys(), self.keys.cleanup, self.keys.cleanup_runs],
                        [int(cleaned), int(failed), _num(duration_ms), 1 if error else 0,
                         f"duration_le:{duration_bucket(duration_ms / 1000.0)!r}", _num(at), RUNS_KEPT])

    @_translate
    async def cleanup_counters(self) -> CleanupCounters:
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(self.keys.cleanup)
        pipe.lrange(self.keys.cleanup_runs, 0, RUNS_KEPT - 1)
        raw, runs = await pipe.execute()
        return _cleanup_counters(raw, self.keys.cleanup, runs)

    @_translate
    async def add_event(self, event: FleetEvent, *, group: bool = False, marks_since: float | None = None) -> None:
        since = _num(marks_since) if marks_since is not None else "-inf"
        await self._run("add_event", self._base_keys(), [event.model_dump_json(exclude_none=True), "1" if group else "0",
                                                         EVENTS_KEPT, since])

    @_translate
    async def history_marks(self, start: float, end: float) -> list[FleetEvent]:
        """Marks whose time (a group's latest run) is at or after ``start`` and whose first
        moment is at or before ``end`` (oldest first)."""
        raw = await self.client.zrangebyscore(self.keys.history_marks, _num(start), "+inf")
        evs, _ = _events(raw, self.keys.history_marks)
        return [e for e in evs if (e.first_at if e.first_at is not None else e.at) <= end]

    @_translate
    async def hold_conditions(self, now: float, holding: Sequence[str], clear: Sequence[str]) -> dict[str, float]:
        if not holding and not clear:
            return {}
        res = await self._run("hold", self._base_keys(), [_num(now), len(holding), *holding, *clear])
        return {t: (_float(v) if _float(v) is not None else now) for t, v in zip(holding, res, strict=True)}  # type: ignore[misc]

    @_translate
    async def mark_dead(self, worker_id: str, reason: str, ttl: float) -> bool:
        k = self.keys
        return bool(await self._run("mark_dead", [*self._base_keys(), k.workers, k.worker(worker_id)],
                                    [worker_id, reason[:200], max(int(ttl * 1000), 1)]))

    @_translate
    async def reseed_counters(self, counters: CleanupCounters) -> None:
        args: list[Any] = []
        for f in ("total_cleanups", "total_connections_cleaned", "cleanup_errors", "failed_connections"):
            args.extend((f, int(getattr(counters, f))))
        args.extend(("total_duration_ms", _num(counters.total_duration_ms)))
        for bound, n in counters.duration_buckets.items():
            args.extend((f"duration_le:{bound!r}", int(n)))
        await self._run("reseed", [*self._base_keys(), self.keys.cleanup], args)

    @_translate
    async def mark_settled(self, since: float) -> bool:
        """HDEL the rebuild / settle mark if it is still the one that began at ``since``."""
        k = self.keys.epoch
        ep = await self.client.hmget(k, "rebuild_since", "settle_since")
        done = False
        for field, value in zip(("rebuild_since", "settle_since"), ep, strict=True):
            v = _float(value)
            if v is not None and v <= since + 1e-6:
                done = bool(await self.client.hdel(k, field)) or done
        return done

    @_translate
    async def claim(self, name: str, token: str, ttl: float) -> bool:
        return bool(await self.client.set(self.keys.lease(name), token[:64], nx=True, px=max(int(ttl * 1000), 1)))

    @_translate
    async def record_connects(self, closed: Sequence[tuple[str, float]], connects: Sequence[tuple[str, float, bool]],
                              window: float, now: float) -> int:
        k = self.keys
        pipe = self.client.pipeline(transaction=False)
        if closed:
            latest: dict[str, float] = {}
            for key, t in closed:
                latest[key] = max(t, latest.get(key, t))
            pipe.zadd(k.recent_cuts, latest, gt=True)
        if connects:
            pipe.zmscore(k.recent_cuts, [key for key, _, _ in connects])
        pipe.zremrangebyscore(k.recent_cuts, "-inf", now - window)
        got = await pipe.execute()
        scores = got[1 if closed else 0] if connects else []
        flags = reconnect_flags(connects, [None if v is None else float(v) for v in scores], window)
        per: dict[int, list[int]] = {}
        for (_, t, _), again in zip(connects, flags, strict=True):
            c = per.setdefault(int(t), [0, 0])
            c[0] += 1
            c[1] += again
        if per:
            pipe = self.client.pipeline(transaction=False)
            for second, (n, r) in per.items():
                key = k.connects(second // 60)
                pipe.hincrby(key, str(second), n)
                if r:
                    pipe.hincrby(key, f"{second}:r", r)
                pipe.expire(key, int(CONNECT_COUNTS_KEPT))
            await pipe.execute()
        return sum(flags)

    # -- blast radius (core.blast) -----------------------------------------------------
    @_translate
    async def worker_records(self, worker_id: str, limit: int) -> list[ConnectionRecord]:
        k = self.keys
        res = await self._run("worker_records", self._base_keys(), [worker_id, int(limit)])
        out = []
        for cid, act, connected, ua, flat in res:
            rec = _record_flat(_s(cid), flat, act, connected, ua, k.record(_s(cid)), [])
            if rec is not None:
                out.append(rec)
        return out

    @_translate
    async def put_blast(self, blast_id: str, cut_at: float, window: float, cut_total: int, cuts: Sequence[Cut],
                        keep: float) -> int:
        """The record first, then the connects already noted (a connect noted meanwhile is
        matched by one of the two: note_arrivals adds it before it reads the open events)."""
        k = self.keys
        key, back_key = k.blast(blast_id), k.blast_back(blast_id)
        ttl = int(BLAST_KEPT_SECONDS)
        per = cut_counts(cuts)
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(key, mapping={"_at": _num(cut_at), "_window": _num(window), "_total": int(cut_total),
                                "_cut": encode_cuts(cuts), **per})
        pipe.expire(key, ttl)
        pipe.zadd(k.blasts, {blast_id: cut_at})
        pipe.zrangebyscore(k.arrivals, f"({_num(cut_at)}", _num(cut_at + window), withscores=True)
        got = await pipe.execute()
        members = [_s(m) for m, _ in got[-1]]
        back = match_arrivals([(m.partition("|")[0], float(t)) for m, (_, t) in zip(members, got[-1], strict=True)],
                              per, cut_at, window)
        if back:
            pipe = self.client.pipeline(transaction=False)
            for i, d in back.items():
                pipe.hsetnx(back_key, members[i], _num(d))  # one field per connect (the same as note_arrivals')
            pipe.expire(back_key, ttl)
            await pipe.execute()
        return len(back)

    @_translate
    async def note_arrivals(self, arrivals: Sequence[tuple[str, float]], keep: float, now: float) -> int:
        if not arrivals:
            return 0
        k = self.keys
        pipe = self.client.pipeline(transaction=False)
        members = [_arrival_member(key, t, i) for i, (key, t) in enumerate(arrivals)]
        pipe.zadd(k.arrivals, {m: t for m, (_, t) in zip(members, arrivals, strict=True)})
        pipe.zremrangebyscore(k.arrivals, "-inf", f"({_num(now - keep)}")
        pipe.zremrangebyscore(k.blasts, "-inf", f"({_num(now - keep)}")
        pipe.zrangebyscore(k.blasts, _num(min(t for _, t in arrivals) - keep), "+inf", withscores=True)
        open_ = [(_s(b), float(at)) for b, at in (await pipe.execute())[-1]]
        if not open_:
            return 0
        keys = sorted({key for key, _ in arrivals})
        pipe = self.client.pipeline(transaction=False)
        for bid, _ in open_:
            pipe.hmget(k.blast(bid), ["_window", *keys])
        got = await pipe.execute()
        pipe = self.client.pipeline(transaction=False)
        n = 0
        setnx: list[bool] = []  # which replies are HSETNX's
        for (bid, at), vals in zip(open_, got, strict=True):
            window = _float(vals[0])
            if window is None:
                continue  # expired, or bad data
            cut_keys = {key: int(_float(v) or 0) for key, v in zip(keys, vals[1:], strict=True) if v is not None}
            found = match_arrivals(arrivals, cut_keys, at, window)
            for i, d in found.items():
                pipe.hsetnx(k.blast_back(bid), members[i], _num(d))
                setnx.append(True)
                n += 1
            if found:
                pipe.expire(k.blast_back(bid), int(BLAST_KEPT_SECONDS))
                setnx.append(False)
        if not n:
            return 0
        res = await pipe.execute()
        return sum(1 for r, is_set in zip(res, setnx, strict=True) if is_set and int(r) == 1)

    @_translate
    async def get_blasts(self, blast_ids: Sequence[str]) -> dict[str, BlastRead]:
        k = self.keys
        if not blast_ids:
            return {}
        pipe = self.client.pipeline(transaction=False)
        for bid in blast_ids:
            pipe.hmget(k.blast(bid), ["_at", "_window", "_total", "_cut"])
            pipe.hgetall(k.blast_back(bid))
        got = await pipe.execute()
        out: dict[str, BlastRead] = {}
        for i, bid in enumerate(blast_ids):
            (at, window, total, cut), back = got[2 * i], got[2 * i + 1]
            at_f, window_f = _float(at), _float(window)
            if at_f is None or window_f is None:
                continue
            backs: dict[str, list[float]] = {}
            for f, v in back.items():  # one field per comeback: "<client key>|<time>|<n>"
                d = _float(v)
                if d is not None:
                    backs.setdefault(_s(f).partition("|")[0], []).append(d)
            cuts = decode_cuts(_s(cut) if cut is not None else None)
            out[bid] = BlastRead(cut_at=at_f, window=window_f, cut_total=int(_float(total) or len(cuts)), cuts=cuts,
                                 back={key: tuple(sorted(ds)) for key, ds in backs.items()})
        return out

    @_translate
    async def connect_counts(self, since: float, now: float) -> list[tuple[int, int, int]]:
        minutes = range(int(since) // 60, int(now) // 60 + 1)
        pipe = self.client.pipeline(transaction=False)
        for m in minutes:
            pipe.hgetall(self.keys.connects(m))
        out: dict[int, list[int]] = {}
        for fields in await pipe.execute():
            for f, v in fields.items():
                name = _s(f)
                second, _, kind = name.partition(":")
                try:
                    s, n = int(second), int(_s(v))
                except ValueError:
                    continue  # not ours: skipped
                if since <= s <= now:
                    out.setdefault(s, [0, 0])[1 if kind == "r" else 0] += n
        return sorted((s, c[0], c[1]) for s, c in out.items())

    @_translate
    async def history_connects_append(self, t: float, connects: float, reconnects: float, keep_from: float,
                                      rollup: tuple[float, float] | None = None) -> None:
        key = self.keys.history_connects
        pipe = self.client.pipeline(transaction=False)
        pipe.zadd(key, {f"{_num(t)},{_num(connects)},{_num(reconnects)}": t})
        pipe.zremrangebyscore(key, "-inf", f"({_num(keep_from)}")
        await pipe.execute()
        if rollup is not None:  # the step's highest rates, kept by the script (one writer or several)
            await self._run("connects_rollup", [self.keys.history_connects_rollup],
                            [_num(rollup[0]), _num(connects), _num(reconnects), _num(rollup[1])])

    @_translate
    async def history_connects(self, start: float, end: float, rollup: bool = False) -> list[tuple[float, float, float]]:
        out = []
        key = self.keys.history_connects_rollup if rollup else self.keys.history_connects
        for m in await self.client.zrangebyscore(key, _num(start), _num(end)):
            try:
                t, c, r = (float(x) for x in _s(m).split(","))
            except ValueError:
                continue  # not ours: skipped
            out.append((t, c, r))
        return out

    @_translate
    async def put_queues(self, worker_id: str, body: str, ttl: float) -> None:
        await self.client.set(self.keys.queues(worker_id), body, px=max(int(ttl * 1000), 1))

    @_translate
    async def get_queues(self, worker_ids: Sequence[str]) -> dict[str, str]:
        ids = list(dict.fromkeys(worker_ids))
        if not ids:
            return {}
        got = await self.client.mget([self.keys.queues(w) for w in ids])
        return {w: _s(v) for w, v in zip(ids, got, strict=True) if v is not None}

    @_translate
    async def probe_write(self, token: str) -> None:
        await self.client.set(self.keys.probe, token[:64], px=2000)

    async def _wrong_types(self, scan: bool = True) -> list[tuple[str, str, str]]:
        """(key, type it holds, type the store writes) for every key of the namespace that
        holds another type: the fixed keys on every shard, and (``scan``) the record buckets,
        worker lists and heartbeats (by SCAN, at most SCAN_WRONG_TYPES keys each)."""
        pipe = self.client.pipeline(transaction=False)
        names: list[tuple[str, str]] = []
        for sk in self.shard_keys:
            for name, want in KEY_TYPES.items():
                if sk is not self.keys and name not in SHARD_KEYS:
                    continue
                key = getattr(sk, name)
                names.append((key, want))
                pipe.type(key)
        got = [_s(t) for t in await pipe.execute()]
        out = [(key, t, want) for (key, want), t in zip(names, got, strict=True) if t not in ("none", want)]
        if not scan:
            return out
        patterns = [(sk.record_bucket("*"), "hash") for sk in self.shard_keys] + \
                   [(sk.worker_list("*"), "list") for sk in self.shard_keys] + [(self.keys.worker("*"), "hash")]
        for pattern, want in patterns:
            seen = 0
            async for key in self.client.scan_iter(match=pattern, count=1000):
                seen += 1
                if seen > SCAN_WRONG_TYPES:
                    break
                t = _s(await self.client.type(key))
                if t not in ("none", want) and _s(key) != self.keys.record_meta:
                    out.append((_s(key), t, want))
        return out

    async def diagnose(self) -> list[str]:
        """Keys of the namespace holding another type than the store writes there."""
        try:
            return [f"{key} is a {t}, expected a {want}" for key, t, want in await self._wrong_types()]
        except (RedisError, OSError):
            return []

    @_translate
    async def repair_types(self, scan: bool = True) -> list[str]:
        """Delete every key of the namespace that holds another type than the store writes
        (what it holds is unusable: nothing of ours reads it). A registry key among them
        (the sorted sets, records, worker codes and counts, the counter, the workers) also
        deletes the epoch: every worker then sees the store lost the fleet's data and
        re-registers what it holds. ``scan``: also the keys with a part (a SCAN of the keyspace:
        after a WRONGTYPE error only). Returns what was repaired ("key: a T where a W belongs")."""
        wrong = await self._wrong_types(scan)
        if not wrong:
            return []
        registry = {getattr(sk, n) for sk in self.shard_keys for n in (*SHARD_KEYS, "workers")}
        parts = tuple(p for sk in self.shard_keys for p in (sk.record_bucket(""), sk.worker_list("")))
        keys = [k for k, _, _ in wrong]
        if any(k in registry or k.startswith(parts) for k in keys):
            keys.append(self.keys.epoch)
        for k in keys:
            await self.client.delete(k)
        return [f"{key}: a {t} where a {want} belongs" for key, t, want in wrong]

    # -- workers ----------------------------------------------------------------------
    @_translate
    async def heartbeat(self, hb: WorkerHeartbeat, ttl: float) -> tuple[bool, int]:
        r = await self.flush({}, hb, ttl)
        return r.existed, r.held

    @_translate
    async def flush(self, touches: Mapping[str, Touch], hb: WorkerHeartbeat, ttl: float, *,
                    settle: bool = False) -> FlushResult:
        """Touches and heartbeat in one EVALSHA (works on Redis Cluster, where pipelined
        scripts are refused), with the registry's health (epoch, worker code, published
        settings). The answer carries Redis's clock (``TIME``)."""
        k = self.keys
        fields: dict[str, Any] = {
            "worker_id": hb.worker_id, "host": hb.host, "pid": hb.pid, "connections": hb.connections,
            "heartbeat_at": _num(hb.heartbeat_at), "started_at": _num(hb.started_at),
            "cleanup_running": int(hb.cleanup_running), "hostkey": hb.hostkey or "", "epoch": hb.epoch or "",
            "synced_at": _num(hb.synced_at) if hb.synced_at is not None else "",
        }
        first, rest = _chunks(touches)
        counts_at = _num(hb.counts_at) if hb.counts_at is not None else ""
        info = worker_info_value(hb)
        args: list[Any] = [hb.worker_id, max(int(ttl * 1000), 1), _num(hb.heartbeat_at), hb.epoch or "",
                           uuid.uuid4().hex[:16], self._codes.get(hb.worker_id, ""), info, "" if rest else counts_at,
                           "1" if settle else "0", len(fields)]
        for f, v in fields.items():
            args.extend((f, v))
        args.extend(_touch_args(first))
        res = await self._run("flush", [*self._base_keys(), k.worker(hb.worker_id), k.workers], args)
        unknown = [_s(m) for m in res[8]]
        for i, part in enumerate(rest):  # a big worker's touches: more calls, each short (Redis runs one script at a time)
            last = i == len(rest) - 1
            unknown.extend(_s(m) for m in await self._run("touch", self._base_keys(),
                                                          [hb.worker_id, counts_at if last else "", *_touch_args(part)]))
        ep = res[3]
        if res[4]:
            self._codes[hb.worker_id] = _s(res[4])
        flat = res[7]
        peers = tuple((_s(flat[i]), float(flat[i + 1])) for i in range(0, len(flat) - 1, 2)
                      if _float(flat[i + 1]) is not None)
        return FlushResult(unknown=unknown, existed=bool(int(res[0])), held=int(res[1]), server_time=_float(res[2]),
                           epoch=Epoch(id=_s(ep[0]), created=_float(ep[4]) or 0.0, rebuild_since=_float(ep[2]),
                                       settle_since=_float(ep[3])),
                           lost=bool(int(ep[1])), config_published=bool(int(res[5])), registry_size=int(res[6]),
                           peers=peers)

    async def _workers_from(self, entries: list[Any]) -> tuple[list[WorkerHeartbeat], list[str]]:
        k = self.keys
        bad: list[str] = []
        good = []
        for wid, score in entries:
            if not math.isfinite(score):
                bad.append(f"{k.workers}: worker {_s(wid)[:80]!r} has heartbeat score {score}")
                continue
            good.append((_s(wid), float(score)))
        if not good:
            return [], bad
        pipe = self.client.pipeline(transaction=False)
        for wid, _ in good:
            pipe.hgetall(k.worker(wid))
        for hk in self.shard_keys:  # small: one field per worker the shard knows; one pipeline
            pipe.hgetall(hk.worker_codes)
            pipe.hgetall(hk.held)
        res = await pipe.execute()
        n = len(good)
        holds = [0] * n
        for codes, held_by_code in zip(res[n::2], res[n + 1::2], strict=True):  # per shard: codes are the shard's
            for i, (wid, _) in enumerate(good):
                holds[i] += max(_int(held_by_code.get(codes.get(wid, ""), 0)) or 0, 0)
        out = []
        for (wid, score), row, held in zip(good, res[:n], holds, strict=True):
            row = {_s(a): _s(b) for a, b in row.items()}
            pid = _int(row.get("pid"))
            started = _float(row.get("started_at"))
            if row and (pid is None or started is None):
                bad.append(f"{k.worker(wid)}: pid or started_at is not a number")
            out.append(WorkerHeartbeat(
                # connections: what the registry holds for the worker right now (exact, no
                # heartbeat lag, so a burst of registrations is never a false mismatch);
                # host/pid None: unknown (the heartbeat hash expired with the worker)
                worker_id=wid, host=row.get("host") or None, pid=pid,
                connections=int(held), heartbeat_at=score,
                started_at=started if started is not None else score,
                cleanup_running=row.get("cleanup_running") == "1",
                hostkey=row.get("hostkey") or None, dead_reason=(row.get("dead_reason") or None),
                synced_at=_float(row.get("synced_at")), epoch=row.get("epoch") or None,
            ))
        return out, bad

    @_translate
    async def workers(self) -> list[WorkerHeartbeat]:
        entries = await self.client.zrange(self.keys.workers, 0, -1, withscores=True)
        return (await self._workers_from(entries))[0]

    @_translate
    async def forget_worker(self, worker_id: str) -> bool:
        k = self.keys
        return bool(await self._run("forget_worker", [*self._base_keys(), k.workers, k.worker(worker_id),
                                                      k.reaping(worker_id)], [worker_id]))

    @_translate
    async def publish_config(self, settings: Mapping[str, str]) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.delete(self.keys.config)
        if settings:
            pipe.hset(self.keys.config, mapping=dict(settings))
        await pipe.execute()

    @_translate
    async def published_config(self) -> dict[str, str]:
        return {_s(a): _s(b) for a, b in (await self.client.hgetall(self.keys.config)).items()}

    # -- fleet history (core.history) -------------------------------------------------
    @_translate
    async def history_append(self, sample: HistorySample, tiers: Sequence[Tier], token: str) -> bool:
        """Under the interval's lease: add the raw sample (and its per-worker counts, once a
        minute, to their own key) and each rollup tier's point with it folded in
        (``core.history.fold``: read the bucket, fold here, write it if it did not change
        meanwhile), trim retention. False: another worker holds the lease."""
        raw, *rollups = tiers
        slot = int(sample.t // raw.step)
        k = self.keys
        per_worker = sample.workers_member() if with_workers(sample.t, raw.step) else None
        keys = [k.history_lease(slot), k.history(raw.name), k.history_workers, *(k.history(t.name) for t in rollups)]
        buckets = [math.floor(sample.t / tier.step) * tier.step for tier in rollups]
        for _ in range(HISTORY_FOLD_TRIES):
            pipe = self.client.pipeline(transaction=False)
            for tier, bucket in zip(rollups, buckets, strict=True):
                pipe.zrangebyscore(k.history(tier.name), _num(bucket), _num(bucket))
            olds = [_s(m[-1]) if m else "" for m in await pipe.execute()] if rollups else []
            args: list[Any] = [token, max(int(raw.step * 2000), 1), _num(sample.t), sample.to_member(False),
                               _num(raw.retention), per_worker or ""]
            for tier, bucket, old in zip(rollups, buckets, olds, strict=True):
                args.extend((_num(bucket), _num(tier.retention), old, fold(old or None, sample, bucket)))
            res = int(await self._scripts["history_append"](keys=keys, args=[k.prefix, *args], client=self.client))
            if res >= 0:
                return bool(res)
        return False  # the rollup kept changing under this writer (another interval's): the next sample folds in

    @_translate
    async def history_members(self, tier: Tier, start: float, end: float) -> list[str]:
        """The tier's stored points with ``start <= t <= end`` (oldest first), as stored, in
        one ZRANGEBYSCORE: the cost depends on the range, never on the number of connections."""
        members = await self.client.zrangebyscore(self.keys.history(tier.name), _num(start), _num(end))
        return members if set(map(type, members)) <= {str} else [_s(m) for m in members]  # str: decode_responses

    @_translate
    async def history_workers(self, start: float, end: float) -> list[str]:
        """The per-worker counts stored with ``start <= t <= end`` (oldest first), as stored
        (``HistorySample.workers_member``), in one ZRANGEBYSCORE."""
        members = await self.client.zrangebyscore(self.keys.history_workers, _num(start), _num(end))
        return members if set(map(type, members)) <= {str} else [_s(m) for m in members]

    @_translate
    async def history_first(self, tier: Tier) -> float | None:
        first = await self.client.zrange(self.keys.history(tier.name), 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    @_translate
    async def history_times(self, tier: Tier, members: Sequence[str]) -> list[float | None]:
        """The times of stored points (their scores; None: no longer stored). For the few
        malformed points a read skipped: WITHSCORES on every read would double its cost."""
        if not members:
            return []
        pipe = self.client.pipeline(transaction=False)
        for m in members:
            pipe.zscore(self.keys.history(tier.name), m)
        return [float(v) if v is not None else None for v in await pipe.execute()]

    async def history_range(self, tier: Tier, start: float, end: float) -> tuple[list[Point], int]:
        """The tier's points with ``start <= t <= end`` (oldest first) and how many were malformed."""
        return parse_points(await self.history_members(tier, start, end))

    @_translate
    async def history_trends_claim(self, period: int, token: str, ttl: float) -> bool:
        """Take the lease of trend period ``period`` (SET NX PX): True for one caller per period."""
        return bool(await self.client.set(self.keys.history_trends_lease(period), token, nx=True,
                                          px=max(int(ttl * 1000), 1)))

    @_translate
    async def history_trends_put(self, body: str, ttl: float) -> None:
        """Store the fleet's trend verdicts (``core.history.trends_to_json``) for ``ttl`` seconds."""
        await self.client.set(self.keys.history_trends, body, px=max(int(ttl * 1000), 1))

    @_translate
    async def history_trends_get(self) -> str | None:
        """The stored trend verdicts (None: none, or expired)."""
        body = await self.client.get(self.keys.history_trends)
        return _s(body) if body is not None else None

    @_translate
    async def history_bytes(self, tiers: Sequence[Tier]) -> int:
        """Redis memory held by the history tiers and the per-worker counts (``MEMORY USAGE
        ... SAMPLES 0``)."""
        total = 0
        for key in (*(self.keys.history(tier.name) for tier in tiers), self.keys.history_workers):
            total += int(await self.client.memory_usage(key, samples=0) or 0)
        return total


def worker_info_value(hb: WorkerHeartbeat) -> str:
    """What ``{ns}:winfo`` holds for a worker's code (id, host, pid; as register.lua writes it)."""
    return f"{hb.worker_id}\x1f{hb.host or ''}\x1f{hb.pid if hb.pid is not None else ''}"


def _s(x: Any) -> str:
    return x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x)


def _float(x: Any) -> float | None:
    try:
        v = float(_s(x))
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _int(x: Any) -> int | None:
    try:
        return int(_s(x))
    except (TypeError, ValueError):
        return None


def _count(raw: Any, key: str, bad: list[str]) -> int | None:
    """A whole number >= 0, or None (and a note in ``bad``) for anything else."""
    if raw is None:
        return 0
    v = _int(raw)
    if v is None or v < 0:
        bad.append(f"{key}: {_s(raw)[:40]!r} is not a count")
        return None
    return v


def _state_range(state: str, q: AgeQuery) -> tuple[str, str, str]:
    """The state's range (core.classify.state_range) as ZRANGE BYSCORE arguments."""
    r = state_range(state, q.cut)
    return (r.index, _num(r.from_) if r.from_ is not None else "-inf",
            f"({_num(r.below)}" if r.below is not None else "+inf")


_COUNTER_FIELDS = ("total_cleanups", "total_connections_cleaned", "cleanup_errors", "failed_connections",
                   "consecutive_errors")


def _runs(raw: list[Any]) -> tuple[tuple[float, bool], ...]:
    out = []
    for item in raw:
        at, _, err = _s(item).rpartition(":")
        t = _float(at)
        if t is not None and err in ("0", "1"):
            out.append((t, err == "1"))
    return tuple(out)


def _cleanup_counters(raw_map: Mapping[Any, Any], key: str, runs: list[Any] | None = None) -> CleanupCounters:
    raw = {_s(a): _s(b) for a, b in raw_map.items()}
    bad: list[str] = []
    ints: dict[str, int] = {}
    for f in _COUNTER_FIELDS:
        iv = _int(raw.get(f, 0))
        if iv is None or iv < 0:
            bad.append(f"{key} {f}: {raw.get(f, '')[:40]!r} is not a count")
            iv = 0
        ints[f] = iv
    floats: dict[str, float] = {}
    for f in ("last_cleanup_duration_ms", "total_duration_ms"):
        fv = _float(raw.get(f, 0.0))
        if fv is None or fv < 0:
            bad.append(f"{key} {f}: {raw.get(f, '')[:40]!r} is not a duration")
            fv = 0.0
        floats[f] = fv
    buckets: dict[float, int] = {}
    for f, text in raw.items():
        if not f.startswith("duration_le:"):
            continue
        try:
            bound = float(f.split(":", 1)[1])
        except ValueError:
            bad.append(f"{key} {f[:60]}: not a bucket")
            continue
        n = _int(text)
        if n is None or n < 0:
            bad.append(f"{key} {f}: {text[:40]!r} is not a count")
            continue
        buckets[bound] = n
    return CleanupCounters(
        total_cleanups=ints["total_cleanups"], total_connections_cleaned=ints["total_connections_cleaned"],
        cleanup_errors=ints["cleanup_errors"], failed_connections=ints["failed_connections"],
        consecutive_errors=ints["consecutive_errors"], last_cleanup_duration_ms=floats["last_cleanup_duration_ms"],
        total_duration_ms=floats["total_duration_ms"], duration_buckets=buckets, bad_fields=tuple(bad),
        recent_runs=_runs(runs or []))


def _epoch(raw: Mapping[Any, Any], key: str) -> tuple[Epoch | None, list[str]]:
    d = {_s(a): _s(b) for a, b in raw.items()}
    if not d:
        return None, []
    created = _float(d.get("created"))
    if not d.get("id") or created is None:
        return None, [f"{key}: not an epoch (id and created)"]
    return Epoch(id=d["id"][:64], created=created, rebuild_since=_float(d.get("rebuild_since")),
                 settle_since=_float(d.get("settle_since")), last_loss_at=_float(d.get("last_loss_at"))), []


def _events(raw: list[Any], key: str) -> tuple[list[FleetEvent], list[str]]:
    out, bad = [], []
    for item in raw:
        try:
            out.append(FleetEvent.model_validate_json(_s(item)))
        except (ValidationError, ValueError):
            bad.append(f"{key}: an entry is not a fleet event")
    return out, bad


def _record(row: Mapping[Any, Any], last_activity: float | None, key: str, bad: list[str], *,
            connected: float | None = None, user_agent: str | None = None,
            connection_id: str | None = None) -> ConnectionRecord | None:
    """A ConnectionRecord from a stored hash (plus what the sorted sets and the user-agent
    table hold), or None (noted in ``bad``) when it is malformed."""
    d = {_s(a): _s(b) for a, b in row.items()}
    d.pop("uaref", None)
    if user_agent is not None:
        d["user_agent"] = _s(user_agent)
    if any("\ufffd" in v or len(v) > MAX_FIELD for v in d.values()):
        bad.append(f"{key}: a field is not valid UTF-8 text or is too long")
        return None
    data: dict[str, Any] = dict(d)
    if connection_id is not None:
        data.setdefault("connection_id", connection_id)
    if connected is not None:
        data["connected_at"] = connected
    if last_activity is not None:
        data["last_activity"] = last_activity
        data.setdefault("connected_at", last_activity)
    if data.get("counts_at") == "":
        del data["counts_at"]  # the worker has not written its counts yet: as of when is unknown
    if data.get("events_sent") == "":
        data["events_sent"] = None  # its worker does not count events (SSE_COUNT_EVENTS off): unknown
    try:
        for f in _RECORD_INT_FIELDS:
            if data.get(f) is not None:
                data[f] = int(data[f])
        for f in _RECORD_FLOAT_FIELDS:
            if f in data:
                data[f] = float(data[f])
                if not math.isfinite(data[f]):
                    raise ValueError(f)
        return ConnectionRecord.model_validate(data)
    except (ValueError, ValidationError):
        bad.append(f"{key}: not a connection record")
        return None


def _record_flat(cid: str, flat: list[Any], act: Any, connected: Any, ua: Any, key: str,
                 bad: list[str]) -> ConnectionRecord | None:
    if not flat:
        return None
    row = {flat[i]: flat[i + 1] for i in range(0, len(flat) - 1, 2)}
    return _record(row, _float(act), key, bad, connected=_float(connected), user_agent=_s(ua), connection_id=cid)


async def _connect(url: str, timeout: float) -> Any:
    """A client for ``url``; a Redis Cluster client when the server runs in cluster mode."""
    opts = dict(decode_responses=True, encoding_errors="replace", socket_timeout=timeout,
                socket_connect_timeout=timeout, health_check_interval=30)
    try:
        # A blocking pool: a burst of concurrent calls waits for a connection instead of failing.
        pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=64, timeout=max(timeout * 5, 5.0), **opts)
    except ValueError as exc:
        raise StoreUnavailable(f"redis: malformed URL: {_redact(str(exc))}", "error") from exc
    client = aioredis.Redis(connection_pool=pool)
    try:
        info = await client.info("cluster")
    except (RedisError, OSError) as exc:
        await client.aclose(close_connection_pool=True)
        raise _classify(exc) from exc
    if int(info.get("cluster_enabled", 0)) == 1:
        await client.aclose(close_connection_pool=True)
        from redis.asyncio.cluster import RedisCluster
        cluster = RedisCluster.from_url(url, decode_responses=True, encoding_errors="replace", socket_timeout=timeout,
                                        socket_connect_timeout=timeout, max_connections=512)
        try:
            await cluster.initialize()
        except (RedisError, OSError) as exc:
            await cluster.aclose()
            raise _classify(exc) from exc
        return cluster
    return client
