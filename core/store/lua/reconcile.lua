-- ARGV: prefix. Sets the counter to the registry size. Returns {before (-1 when it held
-- something that is not a count), after}.
local before = counter_value() or -1
local after = redis.call('ZCARD', KEYS[1])
redis.call('SET', KEYS[3], after)
return {before, after}
