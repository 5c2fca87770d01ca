-- The connect-rate rollup: one member a rollup step, "<step start>,<connects/s>,<reconnects/s>",
-- each rate the highest recorded in the step (what the history's rollup tier shows of it).
-- KEYS[1] = the rollup zset.
-- ARGV: prefix, the step's start, connects/s, reconnects/s, keep from (s): older steps go.
local b = ARGV[2]
local c, r = ARGV[3], ARGV[4]
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], b, b)) do
  local oc, orr = string.match(m, '^[^,]*,([^,]*),([^,]*)$')
  if oc and tonumber(oc) and tonumber(oc) > tonumber(c) then c = oc end
  if orr and tonumber(orr) and tonumber(orr) > tonumber(r) then r = orr end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], b, b)
redis.call('ZADD', KEYS[1], b, b .. ',' .. c .. ',' .. r)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[5])
return 1
