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
``{ns}:wcounts``                hash    *shard*: worker code -> when its per-connection counts were last written
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
``{ns}:epoch``                  hash    the registry's generation: id, created; rebuild_since / settle_since while
                                        the workers re-register after a loss / resync after an outage
``{ns}:conditions``             hash    rule type -> when the fleet first saw its condition hold (hysteresis)
``{ns}:history:marks``          zset    notable fleet events (deaths, reaps, disconnects, outages, rebuilds,
                                        cleanups grouped), JSON -> time, kept as long as the rollup tier
``{ns}:history:connects``       zset    fleet history's connect rates, ``t,connects/s,reconnects/s`` -> time (raw tier)
``{ns}:history:connects:roll``  zset    the same per rollup step, the highest rates of the step -> the step's start
``{ns}:probe``                  string  an observer's write probe (PX 2 s): does the store accept writes?
``{ns}:lease:<name>``           string  a fleet-wide lease (SET NX PX): the judge of a period, an outage's record
``{ns}:arrivals``               zset    blast radius: recent connects, ``<client key>|<time>`` -> time
``{ns}:blasts``                 zset    blast radius: events whose cut clients may still come back, id -> cut time
``{ns}:blast:<id>``             hash    one event's cut clients (``_at``, ``_window``, ``_cut`` JSON; key -> n), EXPIRE 1 day
``{ns}:blast:<id>:back``        hash    one event's clients back: client key -> seconds after the cut, EXPIRE 1 day
==============================  ======  =============================================

Records are packed and bucketed so that a connection costs no key of its own (about 315 to
350 bytes per connection in all, ``python -m bench.bench_memory``); the Lua scripts
(``core/store/lua/_prelude.lua``) are the only code that reads or writes them.
"""

from __future__ import annotations

import re
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


# Every key name, once: fixed keys by their name in Lua (``KEY.<name>``) and in Python
# (the ``Keys`` property of the same name), and the prefixes of keys that take a part
# (``KEYP.<name> .. part`` in Lua, ``Keys.<name>(part)`` in Python). The Lua scripts get
# both tables from :func:`lua_prelude`, so renaming a key is one edit here.
FIXED: dict[str, str] = {
    "activity": "z:activity",
    "connected": "z:connected",
    "counter": "counter",
    "workers": "workers",
    "cleanup": "cleanup",
    "config": "config",
    "user_agents": "ua",
    "cleanup_runs": "cleanup:runs",
    "events": "events",
    "history_workers": "history:workers",
    "history_trends": "trends",
    "record_meta": "rec:meta",
    "worker_codes": "wcode",
    "worker_info": "winfo",
    "held": "held",
    "user_agent_index": "uaidx",
    "user_agent_seq": "uaseq",
    "worker_seq": "wseq",
    "worker_counts": "wcounts",
    "epoch": "epoch",
    "conditions": "conditions",
    "history_marks": "history:marks",
    "probe": "probe",
    "recent_cuts": "cuts",
    "history_connects": "history:connects",
    "history_connects_rollup": "history:connects:roll",
    "arrivals": "arrivals",
    "blasts": "blasts",
}
# what Redis TYPE each fixed key has (a key of another type is bad data, named by
# RedisStore.diagnose), and which of them every shard has (the others: shard 0 only)
KEY_TYPES: dict[str, str] = {
    "activity": "zset", "connected": "zset", "counter": "string", "workers": "zset", "cleanup": "hash",
    "config": "hash", "user_agents": "hash", "cleanup_runs": "list", "events": "list", "history_workers": "zset",
    "history_trends": "string", "record_meta": "hash", "worker_codes": "hash", "worker_info": "hash", "held": "hash",
    "user_agent_index": "hash", "user_agent_seq": "string", "worker_seq": "string", "worker_counts": "hash",
    "epoch": "hash", "conditions": "hash", "history_marks": "zset", "probe": "string", "recent_cuts": "zset",
    "history_connects": "zset", "history_connects_rollup": "zset", "arrivals": "zset", "blasts": "zset",
}
SHARD_KEYS: frozenset[str] = frozenset({
    "activity", "connected", "counter", "user_agents", "record_meta", "worker_codes", "worker_info", "held",
    "user_agent_index", "user_agent_seq", "worker_seq", "worker_counts",
})
PARTS: dict[str, str] = {
    "history": "history:",
    "history_lease": "history:lease:",
    "history_trends_lease": "trends:lease:",
    "reaping": "reaping:",
    "record_bucket": "rec:",
    "worker_list": "wl:",
    "worker": "worker:",
    "lease": "lease:",
    "queues": "queues:",
    "connects": "connects:",
    "blast": "blast:",
}


def _lua_string(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9:_.#\-\[\]]*", text):
        raise ValueError(f"key part {text!r} is not a plain name")
    return "'" + text + "'"


def lua_prelude() -> str:
    """The key tables every Lua script starts with (``prefix`` is ARGV[1], the shard's
    ``{tag}:``): generated from :data:`FIXED` and :data:`PARTS`, so no script spells a key."""
    fixed = ", ".join(f"{name} = prefix .. {_lua_string(v)}" for name, v in FIXED.items())
    parts = ", ".join(f"{name} = prefix .. {_lua_string(v)}" for name, v in PARTS.items())
    return f"local KEY = {{{fixed}}}\nlocal KEYP = {{{parts}}}\n"


@dataclass(frozen=True, slots=True)
class Keys:
    namespace: str = "sse"
    tag: str = ""  # this shard's hash tag; "" = the namespace (shard 0)

    @property
    def prefix(self) -> str:
        return "{" + (self.tag or self.namespace) + "}:"

    def _fixed(self, name: str) -> str:
        return self.prefix + FIXED[name]

    def _part(self, name: str, part: str) -> str:
        return self.prefix + PARTS[name] + part

    @property
    def activity(self) -> str:
        return self._fixed("activity")

    @property
    def connected(self) -> str:
        return self._fixed("connected")

    @property
    def counter(self) -> str:
        return self._fixed("counter")

    @property
    def workers(self) -> str:
        return self._fixed("workers")

    @property
    def cleanup(self) -> str:
        return self._fixed("cleanup")

    @property
    def config(self) -> str:
        return self._fixed("config")

    @property
    def user_agents(self) -> str:
        return self._fixed("user_agents")

    @property
    def cleanup_runs(self) -> str:
        return self._fixed("cleanup_runs")

    @property
    def events(self) -> str:
        return self._fixed("events")

    @property
    def history_workers(self) -> str:
        return self._fixed("history_workers")

    @property
    def history_trends(self) -> str:
        return self._fixed("history_trends")

    @property
    def record_meta(self) -> str:
        return self._fixed("record_meta")

    @property
    def worker_codes(self) -> str:
        return self._fixed("worker_codes")

    @property
    def worker_info(self) -> str:
        return self._fixed("worker_info")

    @property
    def held(self) -> str:
        return self._fixed("held")

    @property
    def user_agent_index(self) -> str:
        return self._fixed("user_agent_index")

    @property
    def user_agent_seq(self) -> str:
        return self._fixed("user_agent_seq")

    @property
    def worker_seq(self) -> str:
        return self._fixed("worker_seq")

    @property
    def worker_counts(self) -> str:
        return self._fixed("worker_counts")

    @property
    def epoch(self) -> str:
        return self._fixed("epoch")

    @property
    def conditions(self) -> str:
        return self._fixed("conditions")

    @property
    def history_marks(self) -> str:
        return self._fixed("history_marks")

    @property
    def probe(self) -> str:
        return self._fixed("probe")

    def history(self, tier_name: str) -> str:
        """One history tier (``tier_name``: core.history.Tier.name, e.g. ``10s``; never
        ``workers``: the per-worker counts are :attr:`history_workers`)."""
        return self._part("history", tier_name)

    def history_lease(self, slot: int) -> str:
        return self._part("history_lease", str(slot))

    def history_trends_lease(self, period: int) -> str:
        return self._part("history_trends_lease", str(period))

    def reaping(self, worker_id: str) -> str:
        return self._part("reaping", worker_id)

    def record(self, connection_id: str) -> str:
        """How messages name one connection's record (it lives in a ``rec:<n>`` bucket)."""
        return self.prefix + PARTS["record_bucket"].rstrip(":") + "[" + connection_id + "]"

    def record_bucket(self, n: int | str) -> str:
        return self._part("record_bucket", str(n))

    def worker_list(self, code: str) -> str:
        return self._part("worker_list", code)

    def worker(self, worker_id: str) -> str:
        return self._part("worker", worker_id)

    @property
    def history_connects(self) -> str:
        """The history's connect rates (core.reconnects): ``t,connects/s,reconnects/s`` -> t, one per sample."""
        return self._fixed("history_connects")

    @property
    def history_connects_rollup(self) -> str:
        """The connect rates per rollup step (their highest), for the rollup tier's reads."""
        return self._fixed("history_connects_rollup")

    @property
    def recent_cuts(self) -> str:
        """Clients (core.reconnects.client_key) whose stream closed or was cut lately -> when."""
        return self._fixed("recent_cuts")

    def connects(self, minute: int) -> str:
        """The fleet's connects in one minute of the fleet clock: second -> n, ``<second>:r`` -> reconnects."""
        return self._part("connects", str(minute))

    @property
    def arrivals(self) -> str:
        """Blast radius (core.blast): the fleet's recent connects, ``<client key>|<time>`` -> time
        (trimmed to the blast window plus the heartbeat TTL: a death is reaped that late)."""
        return self._fixed("arrivals")

    @property
    def blasts(self) -> str:
        """Blast radius: the events whose cut clients may still come back, id -> when they were cut."""
        return self._fixed("blasts")

    def blast(self, blast_id: str) -> str:
        """One event's cut clients: ``_at``, ``_window``, ``_cut`` (JSON list) and client key -> streams
        cut (EXPIRE core.blast.BLAST_KEPT_SECONDS)."""
        return self._part("blast", blast_id)

    def blast_back(self, blast_id: str) -> str:
        """One event's clients back: client key -> seconds after the cut (the first connect; EXPIRE as above)."""
        return self._part("blast", blast_id + ":back")

    def queues(self, worker_id: str) -> str:
        """A worker's streams' send queues as it last read them (core.queues), expiring."""
        return self._part("queues", worker_id)

    def lease(self, name: str) -> str:
        """A fleet-wide lease (``SET NX PX``): one worker does a thing per period."""
        return self._part("lease", name)
