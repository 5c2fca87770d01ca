-- A flush's share on a shard other than the heartbeat's (core.store.sharded): touches, and
-- how many connections this shard holds for the worker.
-- KEYS[4] = the worker's connection set on this shard.
-- ARGV: prefix, then touches as apply_touches (in _prelude.lua) reads them.
-- Returns {connections held for the worker on this shard, unknown ids...}.
local out = apply_touches(2, {0})
out[1] = redis.call('SCARD', KEYS[4])
return out
