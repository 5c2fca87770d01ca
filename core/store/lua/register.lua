-- ARGV: prefix, then repeated groups of (id, last_activity, connected_at, worker_id, nfields, f1, v1, ...)
-- Returns how many connections were new.
local i = 2
local added = 0
while i <= #ARGV do
  local id, la, ca, wid = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local nf = tonumber(ARGV[i + 4])
  local hkey = prefix .. 'conn:' .. id
  local old_wid = redis.call('HGET', hkey, 'worker_id')
  if old_wid and old_wid ~= wid then
    redis.call('SREM', prefix .. 'wconns:' .. old_wid, id)
  end
  local new = redis.call('ZADD', KEYS[1], la, id)
  redis.call('ZADD', KEYS[2], ca, id)
  local fields = {}
  for j = 1, nf * 2 do fields[j] = ARGV[i + 4 + j] end
  redis.call('DEL', hkey)
  redis.call('HSET', hkey, unpack(fields))
  redis.call('SADD', prefix .. 'wconns:' .. wid, id)
  if new == 1 then
    added = added + 1
  end
  i = i + 5 + nf * 2
end
counter_up(added)
return added
