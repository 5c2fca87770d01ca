-- ARGV: prefix, then triples (id, at, events, bytes) as quadruples. Returns unknown ids.
local missing = {}
local i = 2
while i <= #ARGV do
  local id, at, ev, by = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if redis.call('ZSCORE', KEYS[1], id) then
    redis.call('ZADD', KEYS[1], 'XX', 'GT', at, id)
    local hkey = prefix .. 'conn:' .. id
    local cur = tonumber(redis.call('HGET', hkey, 'last_activity') or '0')
    if tonumber(at) > cur then redis.call('HSET', hkey, 'last_activity', at) end
    if ev ~= '0' then redis.call('HINCRBY', hkey, 'events_sent', ev) end
    if by ~= '0' then redis.call('HINCRBY', hkey, 'bytes_sent', by) end
  else
    missing[#missing + 1] = id
  end
  i = i + 4
end
return missing
