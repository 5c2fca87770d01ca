-- KEYS[4] = workers zset, KEYS[5] = the worker's heartbeat hash, KEYS[6] = its reaping lease.
-- ARGV: prefix, worker id. Returns 1 when this call forgot it (so it is counted once).
local r = redis.call('ZREM', KEYS[4], ARGV[2])
redis.call('DEL', KEYS[5], KEYS[6])
return r
