-- KEYS[4] = the dead worker's connection set. ARGV: prefix, limit.
-- Returns {removed count, connections still left in the set}.
local ids = redis.call('SRANDMEMBER', KEYS[4], tonumber(ARGV[2]))
local removed = 0
for _, id in ipairs(ids) do
  removed = removed + remove_conn(id)
end
chunked('SREM', KEYS[4], ids)
counter_down(removed)
return {removed, redis.call('SCARD', KEYS[4])}
