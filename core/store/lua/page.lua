-- One page of connections in one call (bounded work whatever the page size).
-- KEYS[1..3] as the prelude. ARGV: prefix, state zset ('activity'|'connected'), lo, hi,
--   sort ('age'|'idle'|'events'|'bytes'), order ('desc'|'asc'), query (lower case; '' none),
--   offset, limit, scan limit.
-- Without a query, sorting by the state's own index (age on connected, idle on activity)
-- reads only that page. Otherwise up to `scan limit` candidates of the state are read
-- (oldest first) and filtered / sorted here; `truncated` says the bound was hit.
-- Returns {total, scanned, truncated (0/1), {id, activity, connected, user agent, {hash fields...}}...}.
-- KEYS[4] = the user-agent table.
local zkey = (ARGV[2] == 'activity') and KEYS[1] or KEYS[2]
local lo, hi, sort, order, q = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local offset, limit, scan_limit = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local sort_zset = (sort == 'idle') and KEYS[1] or KEYS[2]

-- {id, activity, connected, user agent, {record fields...}} ({} fields: no or a malformed record)
local function row(id, r)
  r = r or rec_get(id)
  local h, ua = {}, ''
  if r then h, ua = rec_fields(r) end
  return {id, redis.call('ZSCORE', KEYS[1], id) or '', redis.call('ZSCORE', KEYS[2], id) or '', ua, h}
end

if q == '' and (sort == 'age' or sort == 'idle') and sort_zset == zkey then
  local total = redis.call('ZCOUNT', zkey, lo, hi)
  local ids
  if order == 'desc' then
    ids = redis.call('ZRANGE', zkey, lo, hi, 'BYSCORE', 'LIMIT', offset, limit)
  else
    ids = redis.call('ZRANGE', zkey, hi, lo, 'BYSCORE', 'REV', 'LIMIT', offset, limit)
  end
  local out = {total, 0, 0}
  for _, id in ipairs(ids) do out[#out + 1] = row(id) end
  return out
end

local n = redis.call('ZCOUNT', zkey, lo, hi)
local ids = redis.call('ZRANGE', zkey, lo, hi, 'BYSCORE', 'LIMIT', 0, scan_limit)
local need_hash = (q ~= '') or sort == 'events' or sort == 'bytes'
local searched = {'connection_id', 'client_address', 'worker_id', 'host', 'channel', 'user_agent'}
local cands = {}
for _, id in ipairs(ids) do
  local r, fields = nil, nil
  local keep = true
  if need_hash then
    r = rec_get(id)
    fields = {}
    if r then
      local h, ua = rec_fields(r)
      for k = 1, #h, 2 do fields[h[k]] = h[k + 1] end
      fields.user_agent = ua
    end
    if q ~= '' then
      keep = false
      if string.find(string.lower(id), q, 1, true) then keep = true end
      for _, f in ipairs(searched) do
        local v = fields[f]
        if not keep and v and string.find(string.lower(v), q, 1, true) then keep = true end
      end
    end
  end
  if keep then
    local key
    if sort == 'events' then key = -(tonumber(fields.events_sent) or -1)  -- not counted: after every count
    elseif sort == 'bytes' then key = -(tonumber(fields.bytes_sent) or 0)
    else key = tonumber(redis.call('ZSCORE', sort_zset, id)) or 0 end
    cands[#cands + 1] = {id, key, r}
  end
end
if order == 'desc' then
  table.sort(cands, function(a, b) if a[2] == b[2] then return a[1] < b[1] end return a[2] < b[2] end)
else
  table.sort(cands, function(a, b) if a[2] == b[2] then return a[1] > b[1] end return a[2] > b[2] end)
end
local out = {#cands, #ids, (n > #ids) and 1 or 0}
for k = offset + 1, math.min(offset + limit, #cands) do
  out[#out + 1] = row(cands[k][1], cands[k][3])
end
return out
