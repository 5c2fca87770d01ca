"""Every Redis key name in one place.

All keys start with ``{<namespace>}:`` so the whole namespace is one Redis Cluster hash
tag (one slot): multi-key Lua scripts and pipelines work unchanged on a cluster.

===========================  ======  ================================================
key                         type    contents
===========================  ======  ================================================
``{ns}:z:activity``         zset    connection id -> last activity (unix seconds)
``{ns}:z:connected``        zset    connection id -> connected_at (unix seconds)
``{ns}:conn:<id>``          hash    the record's fields the sorted sets do not hold (user agent by reference)
``{ns}:ua``                 hash    user agents by sha1 prefix (at most 10,000; then stored inline)
``{ns}:counter``            string  the registry counter (``redis_connection_counters``)
``{ns}:wconns:<worker>``    set     connection ids held by one worker
``{ns}:workers``            zset    worker id -> last heartbeat (unix seconds)
``{ns}:worker:<worker>``    hash    heartbeat: host, pid, connections, ... (PEXPIRE ttl)
``{ns}:cleanup``            hash    fleet-wide cleanup counters and duration buckets
``{ns}:config``             hash    the fleet's settings (no secrets), for observers
``{ns}:cleanup:runs``       list    the last 500 cleanup runs, "<time>:<error 0/1>" (windowed error rate)
``{ns}:events``             list    the fleet's last 100 events (cleanups, reaps, disconnects), JSON
``{ns}:reaping:<worker>``   string  lease of the worker reaping a dead one (PX 30 s)
``{ns}:history:<step>``     zset    fleet history tier: JSON point -> time (core.history; e.g. ``10s``, ``5m``)
``{ns}:history:lease:<n>``  string  lease of the worker writing history interval n (SET NX PX, 2 intervals)
``{ns}:trends``             string  the fleet's trend verdicts, JSON (core.history.trends_to_json; TTL 3 periods)
``{ns}:trends:lease:<n>``   string  lease of the worker computing trend period n (SET NX PX, 2 periods)
===========================  ======  ================================================
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

    @property
    def history_trends(self) -> str:
        return self.prefix + "trends"

    def history_trends_lease(self, period: int) -> str:
        return self.prefix + "trends:lease:" + str(period)

    def reaping(self, worker_id: str) -> str:
        return self.prefix + "reaping:" + worker_id

    def conn(self, connection_id: str) -> str:
        return self.prefix + "conn:" + connection_id

    def worker(self, worker_id: str) -> str:
        return self.prefix + "worker:" + worker_id

    def worker_conns(self, worker_id: str) -> str:
        return self.prefix + "wconns:" + worker_id
