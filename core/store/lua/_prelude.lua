-- Shared by every script (prepended at load time).
-- KEYS[1] = activity zset, KEYS[2] = connected zset, KEYS[3] = counter
-- ARGV[1] = key prefix "{ns}:"
local prefix = ARGV[1]

local function remove_conn(id)
  if redis.call('ZREM', KEYS[1], id) == 0 then
    return 0
  end
  redis.call('ZREM', KEYS[2], id)
  local hkey = prefix .. 'conn:' .. id
  local wid = redis.call('HGET', hkey, 'worker_id')
  redis.call('DEL', hkey)
  if wid then
    redis.call('SREM', prefix .. 'wconns:' .. wid, id)
  end
  return 1
end

-- decrement the counter by n, never below zero
local function counter_down(n)
  if n <= 0 then return end
  local c = tonumber(redis.call('GET', KEYS[3]) or '0')
  local d = math.min(c, n)
  if d > 0 then redis.call('DECRBY', KEYS[3], d) end
end
