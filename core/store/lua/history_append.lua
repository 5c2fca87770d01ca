-- Append one fleet history sample under the interval's lease, roll it up, trim retention.
-- KEYS[1] = the interval's lease, KEYS[2] = the raw tier zset, KEYS[3..] = rollup tier zsets.
-- ARGV: prefix, lease token, lease ms, sample time, sample JSON, raw retention (s),
--       then (step, retention) per rollup tier.
-- Returns 1 when this call wrote the sample, 0 when another worker holds the interval's lease.
-- The rollup rules are core.history.merge's: n, min and max of every number, the last
-- sample, the worst level, every alert / warning type. A malformed rollup point is replaced.
if not redis.call('SET', KEYS[1], ARGV[2], 'NX', 'PX', tonumber(ARGV[3])) then
  return 0
end
local t = tonumber(ARGV[4])
redis.call('ZADD', KEYS[2], t, ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (t - tonumber(ARGV[6])))
local ok, s = pcall(cjson.decode, ARGV[5])
if not ok or type(s) ~= 'table' then
  return 1
end
local rank = {healthy = 0, degraded = 1, unhealthy = 2}
for i = 3, #KEYS do
  local step = tonumber(ARGV[7 + (i - 3) * 2])
  local retention = tonumber(ARGV[8 + (i - 3) * 2])
  local bucket = math.floor(t / step) * step
  local old = redis.call('ZRANGEBYSCORE', KEYS[i], bucket, bucket)
  local a = nil
  if #old > 0 then
    local good, dec = pcall(cjson.decode, old[#old])
    if good and type(dec) == 'table' and type(dec.mn) == 'table' and type(dec.mx) == 'table' then a = dec end
    redis.call('ZREMRANGEBYSCORE', KEYS[i], bucket, bucket)
  end
  if a == nil then a = {t = bucket, n = 0, mn = {}, mx = {}, al = {}, wa = {}} end
  if type(a.al) ~= 'table' then a.al = {} end
  if type(a.wa) ~= 'table' then a.wa = {} end
  a.n = (tonumber(a.n) or 0) + 1
  for k, v in pairs(s) do
    if k ~= 't' and type(v) == 'number' then
      if a.mn[k] == nil or v < a.mn[k] then a.mn[k] = v end
      if a.mx[k] == nil or v > a.mx[k] then a.mx[k] = v end
    end
  end
  a.s = s
  if type(s.level) == 'string' and (rank[s.level] or -1) > (rank[a.lv or ''] or -1) then a.lv = s.level end
  if type(s.alerts) == 'table' then for _, typ in ipairs(s.alerts) do a.al[typ] = 1 end end
  if type(s.warnings) == 'table' then for _, typ in ipairs(s.warnings) do a.wa[typ] = 1 end end
  redis.call('ZADD', KEYS[i], bucket, cjson.encode(a))
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. (t - retention))
end
return 1
