-- ARGV: prefix. Sets the counter to the registry size. Returns {before, after}.
local before = tonumber(redis.call('GET', KEYS[3]) or '0')
local after = redis.call('ZCARD', KEYS[1])
redis.call('SET', KEYS[3], after)
return {before, after}
