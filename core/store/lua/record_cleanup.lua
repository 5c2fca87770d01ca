-- KEYS[4] = the cleanup hash, KEYS[5] = the recent runs list.
-- ARGV: prefix, cleaned, failed, duration_ms, error (0/1), bucket field, run time (fleet clock), runs kept.
-- Fields holding something that is not a number (bad data) are reset before counting.
-- Returns the names of the fields it had to repair.
local h = KEYS[4]
local repaired = {}
local function num(field, float)
  local raw = redis.call('HGET', h, field)
  if raw == false then return end
  local v = tonumber(raw)
  if v == nil or v ~= v or v < 0 or v == math.huge or (not float and v ~= math.floor(v)) then
    redis.call('HSET', h, field, 0)
    repaired[#repaired + 1] = field
  end
end
local ints = {'total_cleanups', 'total_connections_cleaned', 'failed_connections', 'cleanup_errors', 'consecutive_errors', ARGV[6]}
for _, f in ipairs(ints) do num(f, false) end
num('total_duration_ms', true)
redis.call('HINCRBY', h, 'total_cleanups', 1)
redis.call('HINCRBY', h, 'total_connections_cleaned', tonumber(ARGV[2]))
redis.call('HINCRBY', h, 'failed_connections', tonumber(ARGV[3]))
redis.call('HINCRBYFLOAT', h, 'total_duration_ms', ARGV[4])
redis.call('HSET', h, 'last_cleanup_duration_ms', ARGV[4])
if ARGV[5] == '1' then
  redis.call('HINCRBY', h, 'cleanup_errors', 1)
  redis.call('HINCRBY', h, 'consecutive_errors', 1)
else
  redis.call('HSET', h, 'consecutive_errors', 0)
end
redis.call('HINCRBY', h, ARGV[6], 1)
redis.call('LPUSH', KEYS[5], ARGV[7] .. ':' .. ARGV[5])
redis.call('LTRIM', KEYS[5], 0, tonumber(ARGV[8]) - 1)
return repaired
