-- KEYS[4] = the dead worker's connection set. ARGV: prefix, limit.
-- Returns {removed ids..., remaining} with remaining as the last element.
local ids = redis.call('SRANDMEMBER', KEYS[4], tonumber(ARGV[2]))
local removed = {}
for _, id in ipairs(ids) do
  if remove_conn(id) == 1 then removed[#removed + 1] = id end
  redis.call('SREM', KEYS[4], id)
end
counter_down(#removed)
removed[#removed + 1] = redis.call('SCARD', KEYS[4])
return removed
