"""Every Redis key name in one place.

All keys start with ``{<namespace>}:`` so the whole namespace is one Redis Cluster hash
tag (one slot): multi-key Lua scripts and pipelines work unchanged on a cluster.

==============================  ======  =============================================
key                             type    contents
==============================  ======  =============================================
``{ns}:z:activity``             zset    connection id -> last activity (unix seconds)
``{ns}:z:connected``            zset    connection id -> connected_at (unix seconds)
``{ns}:rec:<n>``                hash    record bucket: connection id -> packed record (worker code,
                                        events, bytes, user agent ref, channel, client)
``{ns}:rec:meta``               hash    the buckets' linear hashing state: k, p, n (records)
``{ns}:ua``                     hash    user agents: index -> text (at most 10,000; then inline)
``{ns}:uaidx``                  hash    user agents: sha1 prefix -> index
``{ns}:uaseq``                  string  the last user-agent index given
``{ns}:wcode``                  hash    worker id -> its short code (named in records)
``{ns}:winfo``                  hash    worker code -> worker id, host, pid
``{ns}:wseq``                   string  the last worker code given
``{ns}:held``                   hash    worker code -> connections the registry holds for it
``{ns}:wl:<code>``              list    ids a worker registered (pruned lazily; for reaping and sync)
``{ns}:counter``                string  the registry counter (``redis_connection_counters``)
``{ns}:workers``                zset    worker id -> last heartbeat (unix seconds)
``{ns}:worker:<worker>``        hash    heartbeat: host, pid, connections, ... (PEXPIRE ttl)
``{ns}:cleanup``                hash    fleet-wide cleanup counters and duration buckets
``{ns}:config``                 hash    the fleet's settings (no secrets), for observers
``{ns}:cleanup:runs``           list    the last 500 cleanup runs, "<time>:<error 0/1>" (windowed error rate)
``{ns}:events``                 list    the fleet's last 100 events (cleanups, reaps, disconnects), JSON
``{ns}:reaping:<worker>``       string  lease of the worker reaping a dead one (PX 30 s)
``{ns}:history:<step>``         zset    fleet history tier: JSON point -> time (core.history; e.g. ``10s``, ``5m``)
``{ns}:history:lease:<n>``      string  lease of the worker writing history interval n (SET NX PX, 2 intervals)
==============================  ======  =============================================

Records are packed and bucketed so that a connection costs no key of its own (about 330
bytes per connection in all, ``python -m bench.bench_memory``); the Lua scripts
(``core/store/lua/_prelude.lua``) are the only code that reads or writes them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    namespace: str = "sse"

    @property
    def prefix(self) -> str:
        return "{" + self.namespace + "}:"

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

    def history_lease(self, slot: int) -> str:
        return self.prefix + "history:lease:" + str(slot)

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

    def worker_list(self, code: str) -> str:
        return self.prefix + "wl:" + code

    def worker(self, worker_id: str) -> str:
        return self.prefix + "worker:" + worker_id
