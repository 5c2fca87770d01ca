-- The fleet's hysteresis clock: when each rule's condition was first seen holding.
-- ARGV: prefix, now (fleet clock), n, then n rule types whose condition holds, then the rule
-- types whose condition was seen not to hold (their clock resets).
-- Returns the time each holding condition was first seen (strings), in order.
local now, n = ARGV[2], tonumber(ARGV[3])
local out = {}
for i = 4, 3 + n do
  redis.call('HSETNX', KEY.conditions, ARGV[i], now)
  out[#out + 1] = redis.call('HGET', KEY.conditions, ARGV[i])
end
for i = 4 + n, #ARGV do redis.call('HDEL', KEY.conditions, ARGV[i]) end
return out
