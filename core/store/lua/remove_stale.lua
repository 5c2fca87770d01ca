-- ARGV: prefix, cutoff, limit. Removes up to limit connections with last_activity < cutoff.
local ids = redis.call('ZRANGE', KEYS[1], '-inf', '(' .. ARGV[2], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[3]))
local removed = {}
for _, id in ipairs(ids) do
  if remove_conn(id) == 1 then removed[#removed + 1] = id end
end
counter_down(#removed)
return removed
