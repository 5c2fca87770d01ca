-- After the store lost its data: put the fleet's counters back to what a worker last saw
-- (never lower than what is there now), so counters exported from them never go back.
-- KEYS[4] = the cleanup hash. ARGV: prefix, field, value, field, value, ...
for i = 2, #ARGV, 2 do
  local cur = tonumber(redis.call('HGET', KEYS[4], ARGV[i]))
  local want = tonumber(ARGV[i + 1])
  if want and (not cur or cur < want) then redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1]) end
end
return 1
