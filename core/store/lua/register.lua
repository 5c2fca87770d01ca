-- KEYS[4] = the user-agent table. ARGV: prefix, then repeated groups of
-- (id, last_activity, connected_at, worker_id, user_agent, nfields, f1, v1, ...).
-- The hash holds only what the sorted sets do not (no id, no times), and the user agent
-- by reference to a shared table (sha1 prefix -> text, at most UA_TABLE_MAX entries;
-- past that it is stored inline): records then stay in Redis's compact listpack encoding
-- (long values, such as browser user agents, turn a hash into a hashtable of 3x the size).
-- Returns how many connections were new.
local UA_TABLE_MAX = 10000
local i = 2
local added = 0
while i <= #ARGV do
  local id, la, ca, wid, ua = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local nf = tonumber(ARGV[i + 5])
  local hkey = prefix .. 'conn:' .. id
  local old_wid = redis.call('HGET', hkey, 'worker_id')
  if old_wid and old_wid ~= wid then
    redis.call('SREM', prefix .. 'wconns:' .. old_wid, id)
  end
  local new = redis.call('ZADD', KEYS[1], la, id)
  redis.call('ZADD', KEYS[2], ca, id)
  local fields = {}
  for j = 1, nf * 2 do fields[j] = ARGV[i + 5 + j] end
  if ua ~= '' then
    local ref = string.sub(redis.sha1hex(ua), 1, 16)
    if redis.call('HEXISTS', KEYS[4], ref) == 1 or redis.call('HLEN', KEYS[4]) < UA_TABLE_MAX then
      redis.call('HSETNX', KEYS[4], ref, ua)
      fields[#fields + 1] = 'uaref'
      fields[#fields + 1] = ref
    else
      fields[#fields + 1] = 'user_agent'
      fields[#fields + 1] = ua
    end
  end
  redis.call('DEL', hkey)
  redis.call('HSET', hkey, unpack(fields))
  redis.call('SADD', prefix .. 'wconns:' .. wid, id)
  if new == 1 then
    added = added + 1
  end
  i = i + 6 + nf * 2
end
counter_up(added)
return added
