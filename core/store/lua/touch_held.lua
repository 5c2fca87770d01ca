-- A flush's share on a shard other than the heartbeat's (core.store.sharded): touches, and
-- how many connections this shard holds for the worker.
-- ARGV: prefix, worker id, then touches as apply_touches (in _prelude.lua) reads them.
-- Returns {connections held for the worker on this shard, unknown ids...}.
local out = apply_touches(3, {0})
out[1] = held_of(worker_code(ARGV[2]))
return out
