-- Append one fleet history sample under the interval's lease, roll it up, trim retention.
-- KEYS[1] = the interval's lease, KEYS[2] = the raw tier zset, KEYS[3] = the per-worker
-- counts zset, KEYS[4..] = rollup tier zsets.
-- ARGV: prefix, lease token, lease ms, sample time, the raw member, raw retention (s),
--       the per-worker member ('' = none this interval), then (step, retention) per rollup tier.
-- Returns 1 when this call wrote the sample, 0 when another worker holds the interval's lease.
-- The raw member is core.history's flat format (HistorySample.to_member): the 16 values
-- t, 11 numbers, level, "alert,types", "warning,types", null, without brackets
-- (a JSON array, the format before it, is accepted too). The per-worker counts go to their
-- own zset (HistorySample.workers_member: 't,{worker: n}'), trimmed like the raw tier, so a
-- read that does not show them does not fetch them. A rollup point keeps rows in the
-- row layout [t, 11 numbers, level, [alerts], [warnings]]:
-- [bucket, n, last row, min row, max row, worst level, [alerts], [warnings]];
-- the rules are core.history.merge's. A malformed rollup point is replaced.
if not redis.call('SET', KEYS[1], ARGV[2], 'NX', 'PX', tonumber(ARGV[3])) then
  return 0
end
local t = tonumber(ARGV[4])
redis.call('ZADD', KEYS[2], t, ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (t - tonumber(ARGV[6])))
if ARGV[7] ~= '' then redis.call('ZADD', KEYS[3], t, ARGV[7]) end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. (t - tonumber(ARGV[6])))
local body = ARGV[5]
if string.sub(body, 1, 1) ~= '[' then body = '[' .. body .. ']' end
local ok, row = pcall(cjson.decode, body)
if not ok or type(row) ~= 'table' or #row < 15 then
  return 1
end
local LEVEL, ALERTS, WARNINGS = 13, 14, 15  -- 1-based positions
local function types(v)  -- "a,b" (the flat format) or a list -> a list
  if type(v) == 'table' then return v end
  local out = {}
  if type(v) == 'string' then
    for typ in string.gmatch(v, '[^,]+') do out[#out + 1] = typ end
  end
  return out
end
local last = {}
for i = 1, LEVEL do last[i] = row[i] end
last[ALERTS], last[WARNINGS] = types(row[ALERTS]), types(row[WARNINGS])
local function nulls()
  local r = {}
  for i = 1, WARNINGS do r[i] = cjson.null end
  return r
end
local function has(list, x)
  for _, v in ipairs(list) do if v == x then return true end end
  return false
end
for i = 4, #KEYS do
  local step = tonumber(ARGV[8 + (i - 4) * 2])
  local retention = tonumber(ARGV[9 + (i - 4) * 2])
  local bucket = math.floor(t / step) * step
  local old = redis.call('ZRANGEBYSCORE', KEYS[i], bucket, bucket)
  local a = nil
  if #old > 0 then
    local good, dec = pcall(cjson.decode, old[#old])
    if good and type(dec) == 'table' and type(dec[4]) == 'table' and type(dec[5]) == 'table'
        and #dec[4] == WARNINGS and #dec[5] == WARNINGS and type(dec[7]) == 'table' and type(dec[8]) == 'table' then
      a = dec
    end
    redis.call('ZREMRANGEBYSCORE', KEYS[i], bucket, bucket)
  end
  if a == nil then a = {bucket, 0, cjson.null, nulls(), nulls(), cjson.null, {}, {}} end
  a[2] = (tonumber(a[2]) or 0) + 1
  local mn, mx = a[4], a[5]
  for k = 2, LEVEL - 1 do
    local v = last[k]
    if type(v) == 'number' then
      if type(mn[k]) ~= 'number' or v < mn[k] then mn[k] = v end
      if type(mx[k]) ~= 'number' or v > mx[k] then mx[k] = v end
    end
  end
  mn[1], mx[1] = last[1], last[1]
  a[3] = last
  if type(last[LEVEL]) == 'number' and (type(a[6]) ~= 'number' or last[LEVEL] > a[6]) then a[6] = last[LEVEL] end
  for _, pair in ipairs({{ALERTS, 7}, {WARNINGS, 8}}) do
    if type(last[pair[1]]) == 'table' then
      for _, typ in ipairs(last[pair[1]]) do
        if not has(a[pair[2]], typ) then table.insert(a[pair[2]], typ) end
      end
    end
  end
  redis.call('ZADD', KEYS[i], bucket, cjson.encode(a))
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. (t - retention))
end
return 1
