-- KEYS[4] = workers zset, KEYS[5] = the worker's heartbeat hash, KEYS[6] = its reaping lease.
-- ARGV: prefix, worker id. Returns 1 when this call forgot it (so it is counted once).
-- Its code (and host, pid) stay while the registry still holds connections of it.
local r = redis.call('ZREM', KEYS[4], ARGV[2])
redis.call('DEL', KEYS[5], KEYS[6])
local code = worker_code(ARGV[2])
if code and held_of(code) == 0 then
  redis.call('HDEL', KEY.worker_codes, ARGV[2])
  redis.call('HDEL', KEY.worker_info, code)
  redis.call('HDEL', KEY.held, code)
  redis.call('DEL', KEYP.worker_list .. code)
end
return r
