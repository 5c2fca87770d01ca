-- A flush's share on a shard other than the heartbeat's (core.store.sharded): touches, and
-- how many connections this shard holds for the worker (its code here put back if lost).
-- ARGV: prefix, worker id, counts time ('' when this call completes no counted flush), the
-- worker's code here as it knows it ('' none), its worker-info value, then touches as
-- apply_touches (in _prelude.lua) reads them.
-- Returns {connections held for the worker on this shard, its code here ('' none), {unknown ids...},
--          connections registered on this shard}.
local code = ensure_code(ARGV[2], ARGV[4], ARGV[5])
local unknown = apply_touches(6, {})
counts_written(ARGV[2], ARGV[3])
return {held_of(code), code or '', unknown, redis.call('ZCARD', KEYS[1])}
