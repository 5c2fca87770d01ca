-- KEYS[4] = the dead worker's connection set, KEYS[5] = its reaping lease.
-- ARGV: prefix, limit, reaper id, lease ms.
-- Only the holder of the lease reaps (so a dead worker is reaped, and counted, once).
-- Returns {removed count, connections still left in the set (-1: another reaper holds the lease)}.
local holder = redis.call('GET', KEYS[5])
if holder and holder ~= ARGV[3] then return {0, -1} end
redis.call('SET', KEYS[5], ARGV[3], 'PX', tonumber(ARGV[4]))
local ids = redis.call('SRANDMEMBER', KEYS[4], tonumber(ARGV[2]))
local removed = 0
for _, id in ipairs(ids) do
  removed = removed + remove_conn(id)
end
chunked('SREM', KEYS[4], ids)
counter_down(removed)
return {removed, redis.call('SCARD', KEYS[4])}
