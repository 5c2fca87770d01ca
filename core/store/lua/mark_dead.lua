-- A worker seen dead by a worker on its host (its process is gone): noted on its heartbeat, so
-- every reader sees it dead at once and cleanup reaps it without waiting for the TTL.
-- KEYS[4] = workers zset, KEYS[5] = the dead worker's heartbeat hash.
-- ARGV: prefix, worker id, reason, ttl ms. Returns 1 when it was listed (and is now marked).
if not redis.call('ZSCORE', KEYS[4], ARGV[2]) then return 0 end
redis.call('HSET', KEYS[5], 'dead_reason', ARGV[3])
redis.call('PEXPIRE', KEYS[5], tonumber(ARGV[4]))
return 1
