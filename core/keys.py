"""Every Redis key name in one place.

All keys start with ``{<tag>}:``, one Redis Cluster hash tag (one slot) per *shard*, so
every multi-key Lua script touches one slot and works unchanged on a cluster.

With ``SSE_REDIS_SHARDS`` = 1 (the default) there is one shard and its tag is the namespace
(``{ns}``). With more, each connection lives on shard ``crc32(id) % shards``
(:func:`shard_of`) and shard ``i > 0`` uses the tag of :func:`shard_tags` (``{ns#i}``,
or ``{ns#i.k}`` with the first ``k`` whose slot falls in the ``i``-th of ``shards`` equal
slot ranges after shard 0's: on a cluster whose slots are split evenly, as
``redis-cli --cluster create`` does, the shards land on different nodes). Per-shard keys
(marked *shard* below) exist under every shard's tag; fleet-wide keys only under shard 0's.

==============================  ======  =============================================
key                             type    contents
==============================  ======  =============================================
``{ns}:z:activity``             zset    *shard*: connection id -> last activity (unix seconds)
``{ns}:z:connected``            zset    *shard*: connection id -> connected_at (unix seconds)
``{ns}:rec:<n>``                hash    *shard*: record bucket: connection id -> packed record
                                        (worker code, events, bytes, user agent ref, channel, client)
``{ns}:rec:meta``               hash    *shard*: the buckets' linear hashing state: k, p, n (records)
``{ns}:ua``                     hash    *shard*: user agents: index -> text (at most 10,000; then inline)
``{ns}:uaidx``                  hash    *shard*: user agents: sha1 prefix -> index
``{ns}:uaseq``                  string  *shard*: the last user-agent index given
``{ns}:wcode``                  hash    *shard*: worker id -> its short code (named in records)
``{ns}:winfo``                  hash    *shard*: worker code -> worker id, host, pid
``{ns}:wseq``                   string  *shard*: the last worker code given
``{ns}:held``                   hash    *shard*: worker code -> connections the shard holds for it
``{ns}:wl:<code>``              list    *shard*: ids a worker registered (pruned lazily; for reaping and sync)
``{ns}:counter``                string  *shard*: the registry counter (``redis_connection_counters`` = the sum)
``{ns}:reaping:<worker>``       string  *shard*: lease of the worker reaping a dead one (PX 30 s; shard 0's decides)
``{ns}:workers``                zset    worker id -> last heartbeat (unix seconds)
``{ns}:worker:<worker>``        hash    heartbeat: host, pid, connections, ... (PEXPIRE ttl)
``{ns}:cleanup``                hash    fleet-wide cleanup counters and duration buckets
``{ns}:config``                 hash    the fleet's settings (no secrets), for observers
``{ns}:cleanup:runs``           list    the last 500 cleanup runs, "<time>:<error 0/1>" (windowed error rate)
``{ns}:events``                 list    the fleet's last 100 events (cleanups, reaps, disconnects), JSON
``{ns}:history:<step>``         zset    fleet history tier: JSON point -> time (core.history; e.g. ``10s``, ``5m``)
``{ns}:history:workers``        zset    fleet history's per-worker counts, ``t,{worker: n}`` -> time (once a minute)
``{ns}:history:lease:<n>``      string  lease of the worker writing history interval n (SET NX PX, 2 intervals)
``{ns}:trends``                 string  the fleet's trend verdicts, JSON (core.history.trends_to_json; TTL 3 periods)
``{ns}:trends:lease:<n>``       string  lease of the worker computing trend period n (SET NX PX, 2 periods)
==============================  ======  =============================================

Records are packed and bucketed so that a connection costs no key of its own (about 315 to
350 bytes per connection in all, ``python -m bench.bench_memory``); the Lua scripts
(``core/store/lua/_prelude.lua``) are the only code that reads or writes them.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot


def shard_of(connection_id: str, shards: int) -> int:
    """The shard holding a connection: a stable hash of its id (the same in every worker)."""
    return zlib.crc32(connection_id.encode("utf-8", "surrogatepass")) % shards if shards > 1 else 0


def shard_tags(namespace: str, shards: int) -> list[str]:
    """The hash tag of every shard. Shard 0 is the namespace itself (one shard is exactly the
    unsharded layout); shard i's slot is placed in the i-th of ``shards`` equal slot ranges
    counted from shard 0's, so an evenly split cluster holds the shards on different nodes.
    Deterministic: every worker and observer with the same count computes the same tags."""
    tags = [namespace]
    width = REDIS_CLUSTER_HASH_SLOTS / shards
    first = int(key_slot(namespace.encode()) // width)
    for i in range(1, shards):
        want = (first + i) % shards
        tag, k = f"{namespace}#{i}", 0
        while int(key_slot(tag.encode()) // width) != want:
            k += 1
            tag = f"{namespace}#{i}.{k}"
        tags.append(tag)
    return tags


@dataclass(frozen=True, slots=True)
class Keys:
    namespace: str = "sse"
    tag: str = ""  # this shard's hash tag; "" = the namespace (shard 0)

    @property
    def prefix(self) -> str:
        return "{" + (self.tag or self.namespace) + "}:"

    @property
    def activity(self) -> str:
        return self.prefix + "z:activity"

    @property
    def connected(self) -> str:
        return self.prefix + "z:connected"

    @property
    def counter(self) -> str:
        return self.prefix + "counter"

    @property
    def workers(self) -> str:
        return self.prefix + "workers"

    @property
    def cleanup(self) -> str:
        return self.prefix + "cleanup"

    @property
    def config(self) -> str:
        return self.prefix + "config"

    @property
    def user_agents(self) -> str:
        return self.prefix + "ua"

    @property
    def cleanup_runs(self) -> str:
        return self.prefix + "cleanup:runs"

    @property
    def events(self) -> str:
        return self.prefix + "events"

    def history(self, tier_name: str) -> str:
        """One history tier (``tier_name``: core.history.Tier.name, e.g. ``10s``)."""
        return self.prefix + "history:" + tier_name

    @property
    def history_workers(self) -> str:
        """The history's per-worker counts (kept as long as the raw tier; never a tier name:
        those are durations such as ``10s``)."""
        return self.prefix + "history:workers"

    def history_lease(self, slot: int) -> str:
        return self.prefix + "history:lease:" + str(slot)

    @property
    def history_trends(self) -> str:
        return self.prefix + "trends"

    def history_trends_lease(self, period: int) -> str:
        return self.prefix + "trends:lease:" + str(period)

    def reaping(self, worker_id: str) -> str:
        return self.prefix + "reaping:" + worker_id

    def record(self, connection_id: str) -> str:
        """How messages name one connection's record (it lives in a ``rec:<n>`` bucket)."""
        return self.prefix + "rec[" + connection_id + "]"

    @property
    def record_meta(self) -> str:
        return self.prefix + "rec:meta"

    def record_bucket(self, n: int) -> str:
        return self.prefix + "rec:" + str(n)

    @property
    def worker_codes(self) -> str:
        return self.prefix + "wcode"

    @property
    def worker_info(self) -> str:
        return self.prefix + "winfo"

    @property
    def held(self) -> str:
        return self.prefix + "held"

    @property
    def user_agent_index(self) -> str:
        return self.prefix + "uaidx"

    @property
    def user_agent_seq(self) -> str:
        return self.prefix + "uaseq"

    @property
    def worker_seq(self) -> str:
        return self.prefix + "wseq"

    def worker_list(self, code: str) -> str:
        return self.prefix + "wl:" + code

    def worker(self, worker_id: str) -> str:
        return self.prefix + "worker:" + worker_id
