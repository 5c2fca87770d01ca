"""Redis state store (``redis.asyncio``), shared by every worker on every host.

* Every read-then-write is one Lua script (``lua/``), so removals are atomic across
  workers and counted once; scripts are registered once and run by EVALSHA.
* Age counts are ZCOUNTs on two sorted sets (by last activity, by connect time) in one
  pipeline: the cost of a stats call does not grow with the number of connections.
* Redis errors are translated once, here, into :class:`StoreUnavailable`.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any, Awaitable, Callable, Mapping, Sequence, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..keys import Keys
from ..models import AgeCounts, CleanupCounters, ConnectionRecord, Touch, WorkerHeartbeat
from ..stats import duration_bucket
from .base import AgeQuery, Census, StoreUnavailable

T = TypeVar("T")

_RECORD_INT_FIELDS = ("pid", "events_sent", "bytes_sent")
_RECORD_FLOAT_FIELDS = ("connected_at", "last_activity")


def _load_script(name: str) -> str:
    lua = resources.files("core.store") / "lua"
    return (lua / "_prelude.lua").read_text() + "\n" + (lua / f"{name}.lua").read_text()


def _translate(fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    @functools.wraps(fn)
    async def wrapper(self: "RedisStore", *args: Any, **kwargs: Any) -> T:
        try:
            return await fn(self, *args, **kwargs)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis: {type(exc).__name__}: {_redact(str(exc))}") from exc
    return wrapper


def _redact(text: str) -> str:
    # Connection errors may echo the URL; never let a password through.
    import re
    return re.sub(r"(rediss?://)([^@/\s]*)@", r"\1***@", text)


def _num(value: float) -> str:
    return repr(float(value))


def _touch_args(touches: Mapping[str, Touch]) -> list[Any]:
    """ARGV for the Lua ``apply_touches``: activity-only touches grouped by their time (a
    flush of stream totals is one group: one argument per connection), then quadruples
    (id, at, events, bytes) for touches that carry counts."""
    groups: dict[float, list[str]] = {}
    quads: list[Any] = []
    for cid, t in touches.items():
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


class RedisStore:
    kind = "redis"

    def __init__(self, url: str, namespace: str = "sse", *, timeout: float = 2.0, client: Any = None) -> None:
        self._url = url
        self.keys = Keys(namespace)
        self._timeout = timeout
        self._client = client
        self._owns_client = client is None
        self._scripts: dict[str, Any] = {}

    def describe(self) -> str:
        return _redact(self._url) + f" (namespace {self.keys.namespace})"

    @property
    def client(self) -> Any:
        if self._client is None:
            raise StoreUnavailable("redis store not started")
        return self._client

    async def start(self) -> None:
        if self._client is None:
            self._client = await _connect(self._url, self._timeout)
        for name in ("register", "unregister", "remove_stale", "reap_worker", "touch", "flush", "reconcile"):
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

    def _base_keys(self) -> list[str]:
        k = self.keys
        return [k.activity, k.connected, k.counter]

    async def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        return await self._scripts[name](keys=keys, args=[self.keys.prefix, *args], client=self.client)

    # -- registry ---------------------------------------------------------------------
    @staticmethod
    def _record_args(r: ConnectionRecord) -> list[Any]:
        fields = r.model_dump()
        flat: list[Any] = []
        for k, v in fields.items():
            flat.extend((k, _num(v) if k in _RECORD_FLOAT_FIELDS else str(v)))
        return [r.connection_id, _num(r.last_activity), _num(r.connected_at), r.worker_id, len(fields), *flat]

    @_translate
    async def register(self, record: ConnectionRecord) -> bool:
        return bool(await self._run("register", self._base_keys(), self._record_args(record)))

    @_translate
    async def register_many(self, records: Sequence[ConnectionRecord]) -> int:
        added = 0
        for start in range(0, len(records), 500):
            args: list[Any] = []
            for r in records[start:start + 500]:
                args.extend(self._record_args(r))
            if args:
                added += int(await self._run("register", self._base_keys(), args))
        return added

    @_translate
    async def unregister(self, connection_id: str) -> bool:
        return bool(await self._run("unregister", self._base_keys(), [connection_id]))

    @_translate
    async def touch_many(self, touches: Mapping[str, Touch]) -> list[str]:
        if not touches:
            return []
        missing = await self._run("touch", self._base_keys(), _touch_args(touches))
        return [_s(m) for m in missing]

    @_translate
    async def missing(self, connection_ids: Sequence[str]) -> list[str]:
        out: list[str] = []
        for start in range(0, len(connection_ids), 1000):
            chunk = list(connection_ids[start:start + 1000])
            scores = await self.client.zmscore(self.keys.activity, chunk)
            out.extend(c for c, s in zip(chunk, scores) if s is None)
        return out

    @_translate
    async def remove_stale(self, cutoff: float, limit: int, worker_id: str = "") -> tuple[int, list[str]]:
        res = await self._run("remove_stale", self._base_keys(), [_num(cutoff), int(limit), worker_id])
        return int(res[0]), [_s(x) for x in res[1:]]

    @_translate
    async def reap_worker(self, worker_id: str, limit: int) -> tuple[int, int]:
        removed, left = await self._run("reap_worker", [*self._base_keys(), self.keys.worker_conns(worker_id)], [int(limit)])
        return int(removed), int(left)

    @_translate
    async def census(self, q: AgeQuery) -> Census:
        k = self.keys
        pipe = self.client.pipeline(transaction=False)
        pipe.zcard(k.activity)
        pipe.zcount(k.activity, "-inf", f"({_num(q.now - q.stale_threshold)}")
        pipe.zcount(k.connected, "-inf", f"({_num(q.now - q.long_lived)}")
        pipe.zcount(k.connected, "-inf", f"({_num(q.now - q.very_old)}")
        pipe.get(k.counter)
        edges = [e for e in q.edges if e > 0]
        for e in edges:
            pipe.zcount(k.connected, "-inf", f"({_num(q.now - e)}")
        res = await pipe.execute()
        total = int(res[0])
        older_iter = iter(int(x) for x in res[5:])
        older = [total if e <= 0 else next(older_iter) for e in q.edges]
        ages = AgeCounts(total=total, stale=int(res[1]), long_lived=int(res[2]), very_old=int(res[3]))
        return Census(ages=ages, counter=int(res[4] or 0), older_than=older)

    @_translate
    async def reconcile_counter(self) -> tuple[int, int]:
        before, after = await self._run("reconcile", self._base_keys(), [])
        return int(before), int(after)

    @_translate
    async def list_connections(self, state: str, q: AgeQuery, limit: int, offset: int) -> tuple[int, list[ConnectionRecord]]:
        k = self.keys
        stale_cut = f"({_num(q.now - q.stale_threshold)}"
        if state == "stale":
            key, lo, hi = k.activity, "-inf", stale_cut
        elif state == "active":
            key, lo, hi = k.activity, _num(q.now - q.stale_threshold), "+inf"
        elif state in ("long_lived", "very_old"):
            age = q.long_lived if state == "long_lived" else q.very_old
            key, lo, hi = k.connected, "-inf", f"({_num(q.now - age)}"
        elif state == "all":
            key, lo, hi = k.connected, "-inf", "+inf"
        else:
            raise ValueError(f"unknown state {state!r}")
        pipe = self.client.pipeline(transaction=False)
        pipe.zcount(key, lo, hi)
        pipe.zrange(key, lo, hi, byscore=True, offset=offset, num=limit)
        total, ids = await pipe.execute()
        if not ids:
            return int(total), []
        ids = [_s(c) for c in ids]
        pipe = self.client.pipeline(transaction=False)
        for cid in ids:
            pipe.hgetall(k.conn(cid))
        pipe.zmscore(k.activity, ids)  # last activity lives in the zset (touches update only it)
        *rows, activity = await pipe.execute()
        return int(total), [_record(r, a) for r, a in zip(rows, activity) if r and a is not None]

    # -- cleanup counters -------------------------------------------------------------
    @_translate
    async def record_cleanup(self, cleaned: int, failed: int, duration_ms: float, error: bool) -> None:
        key = self.keys.cleanup
        pipe = self.client.pipeline(transaction=True)
        pipe.hincrby(key, "total_cleanups", 1)
        pipe.hincrby(key, "total_connections_cleaned", cleaned)
        pipe.hincrby(key, "failed_connections", failed)
        pipe.hincrby(key, "cleanup_errors", 1 if error else 0)
        pipe.hset(key, "last_cleanup_duration_ms", _num(duration_ms))
        pipe.hincrbyfloat(key, "total_duration_ms", duration_ms)
        if error:
            pipe.hincrby(key, "consecutive_errors", 1)
        else:
            pipe.hset(key, "consecutive_errors", 0)
        pipe.hincrby(key, f"duration_le:{duration_bucket(duration_ms / 1000.0)!r}", 1)
        await pipe.execute()

    @_translate
    async def cleanup_counters(self) -> CleanupCounters:
        raw = {_s(a): _s(b) for a, b in (await self.client.hgetall(self.keys.cleanup)).items()}
        buckets = {float(f.split(":", 1)[1]): int(v) for f, v in raw.items() if f.startswith("duration_le:")}
        return CleanupCounters(
            total_cleanups=int(raw.get("total_cleanups", 0)),
            total_connections_cleaned=int(raw.get("total_connections_cleaned", 0)),
            cleanup_errors=int(raw.get("cleanup_errors", 0)),
            failed_connections=int(raw.get("failed_connections", 0)),
            last_cleanup_duration_ms=float(raw.get("last_cleanup_duration_ms", 0.0)),
            total_duration_ms=float(raw.get("total_duration_ms", 0.0)),
            consecutive_errors=int(raw.get("consecutive_errors", 0)),
            duration_buckets=buckets,
        )

    # -- workers ----------------------------------------------------------------------
    @_translate
    async def heartbeat(self, hb: WorkerHeartbeat, ttl: float) -> tuple[bool, int]:
        _, existed, registered = await self.flush({}, hb, ttl)
        return existed, registered

    @_translate
    async def flush(self, touches: Mapping[str, Touch], hb: WorkerHeartbeat, ttl: float) -> tuple[list[str], bool, int]:
        """Touches and heartbeat in one EVALSHA (works on Redis Cluster, where pipelined
        scripts are refused)."""
        k = self.keys
        fields = {
            "worker_id": hb.worker_id, "host": hb.host, "pid": hb.pid, "connections": hb.connections,
            "heartbeat_at": _num(hb.heartbeat_at), "started_at": _num(hb.started_at),
            "cleanup_running": int(hb.cleanup_running),
        }
        args: list[Any] = [hb.worker_id, max(int(ttl * 1000), 1), _num(hb.heartbeat_at), len(fields)]
        for f, v in fields.items():
            args.extend((f, v))
        args.extend(_touch_args(touches))
        res = await self._run("flush", [*self._base_keys(), k.worker(hb.worker_id), k.workers,
                                        k.worker_conns(hb.worker_id)], args)
        return [_s(m) for m in res[2:]], bool(int(res[0])), int(res[1])

    @_translate
    async def workers(self) -> list[WorkerHeartbeat]:
        k = self.keys
        entries = await self.client.zrange(k.workers, 0, -1, withscores=True)
        if not entries:
            return []
        pipe = self.client.pipeline(transaction=False)
        for wid, _ in entries:
            pipe.hgetall(k.worker(_s(wid)))
            pipe.scard(k.worker_conns(_s(wid)))
        res = await pipe.execute()
        out = []
        for (wid, score), row, held in zip(entries, res[0::2], res[1::2]):
            row = {_s(a): _s(b) for a, b in row.items()}
            out.append(WorkerHeartbeat(
                # connections: what the registry holds for the worker right now (exact, no
                # heartbeat lag, so a burst of registrations is never a false mismatch)
                worker_id=_s(wid), host=row.get("host", "?"), pid=int(row.get("pid", 0)),
                connections=int(held), heartbeat_at=float(score),
                started_at=float(row.get("started_at", score)),
                cleanup_running=row.get("cleanup_running") == "1",
            ))
        return out

    @_translate
    async def forget_worker(self, worker_id: str) -> None:
        k = self.keys
        pipe = self.client.pipeline(transaction=False)
        pipe.zrem(k.workers, worker_id)
        pipe.delete(k.worker(worker_id))
        await pipe.execute()


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


def _s(x: Any) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


def _record(row: Mapping[Any, Any], last_activity: float | None = None) -> ConnectionRecord:
    d = {_s(a): _s(b) for a, b in row.items()}
    data: dict[str, Any] = dict(d)
    if last_activity is not None:
        data["last_activity"] = last_activity
    for f in _RECORD_INT_FIELDS:
        if f in data:
            data[f] = int(data[f])
    for f in _RECORD_FLOAT_FIELDS:
        if f in data:
            data[f] = float(data[f])
    return ConnectionRecord.model_validate(data)


async def _connect(url: str, timeout: float) -> Any:
    """A client for ``url``; a Redis Cluster client when the server runs in cluster mode."""
    opts = dict(decode_responses=True, socket_timeout=timeout, socket_connect_timeout=timeout,
                health_check_interval=30)
    # A blocking pool: a burst of concurrent calls waits for a connection instead of failing.
    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=64, timeout=max(timeout * 5, 5.0), **opts)
    client = aioredis.Redis(connection_pool=pool)
    try:
        info = await client.info("cluster")
    except (RedisError, OSError) as exc:
        await client.aclose(close_connection_pool=True)
        raise StoreUnavailable(f"redis: cannot connect to {_redact(url)}: {type(exc).__name__}: {_redact(str(exc))}") from exc
    if int(info.get("cluster_enabled", 0)) == 1:
        await client.aclose(close_connection_pool=True)
        from redis.asyncio.cluster import RedisCluster
        cluster = RedisCluster.from_url(url, decode_responses=True, socket_timeout=timeout,
                                        socket_connect_timeout=timeout, max_connections=512)
        await cluster.initialize()
        return cluster
    return client
