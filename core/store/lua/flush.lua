-- One call per flush interval per worker: batched touches plus the worker heartbeat.
-- KEYS[4] = worker heartbeat hash, KEYS[5] = workers zset
-- ARGV: prefix, worker_id, ttl_ms, heartbeat_at, nfields, f1, v1, ..., then quadruples
--       touches as apply_touches (in _prelude.lua) reads them.
-- Returns {heartbeat existed (0/1), connections held for the worker, server time (string), unknown ids...}.
local wid, ttl, hb_at = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local nf = tonumber(ARGV[5])
local existed = redis.call('EXISTS', KEYS[4])
local fields = {}
for j = 1, nf * 2 do fields[j] = ARGV[5 + j] end
redis.call('HSET', KEYS[4], unpack(fields))
redis.call('PEXPIRE', KEYS[4], ttl)
redis.call('ZADD', KEYS[5], hb_at, wid)

local out = apply_touches(6 + nf * 2, {existed, 0, ''})
out[2] = held_of(worker_code(wid))
out[3] = tostring(server_now())
return out
