-- Append one fleet history sample under the interval's lease, with its rollup points, and
-- trim retention. The rollup points are folded by the caller (core.history.fold: the rules
-- live there only); this script writes them only if every bucket is still what the caller
-- read (else it returns -1 and the caller reads and folds again).
-- KEYS[1] = the interval's lease, KEYS[2] = the raw tier zset, KEYS[3] = the per-worker
-- counts zset, KEYS[4..] = rollup tier zsets.
-- ARGV: prefix, lease token, lease ms, sample time, the raw member, raw retention (s),
--       the per-worker member ('' = none this interval), then per rollup tier: its bucket,
--       retention (s), the bucket's member as read ('' = none), the folded member.
-- Returns 1 when this call wrote the sample, 0 when the interval's lease is taken, -1 when
-- a rollup bucket changed since it was read.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
for i = 4, #KEYS do
  local j = 8 + (i - 4) * 4
  local cur = redis.call('ZRANGEBYSCORE', KEYS[i], ARGV[j], ARGV[j])
  if (cur[#cur] or '') ~= ARGV[j + 2] then return -1 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', tonumber(ARGV[3]))
local t = tonumber(ARGV[4])
redis.call('ZADD', KEYS[2], t, ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (t - tonumber(ARGV[6])))
if ARGV[7] ~= '' then redis.call('ZADD', KEYS[3], t, ARGV[7]) end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. (t - tonumber(ARGV[6])))
for i = 4, #KEYS do
  local j = 8 + (i - 4) * 4
  redis.call('ZREMRANGEBYSCORE', KEYS[i], ARGV[j], ARGV[j])
  redis.call('ZADD', KEYS[i], ARGV[j], ARGV[j + 3])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. (t - tonumber(ARGV[j + 1])))
end
return 1
