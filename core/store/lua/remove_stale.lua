-- ARGV: prefix, cutoff, limit, worker_id.
-- Removes up to `limit` connections with last_activity < cutoff (the lowest ranks of the
-- activity zset) with grouped, multi-argument calls: one HGET per connection (to find
-- its worker), the rest batched. Returns {removed count, ids held by worker_id...}: the
-- caller closes only its own streams; other workers learn at their next flush.
local ids = redis.call('ZRANGE', KEYS[1], '-inf', '(' .. ARGV[2], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[3]))
local n = #ids
if n == 0 then return {0} end
-- the ids are exactly ranks 0..n-1 (lowest scores first), and nothing runs between
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - 1)
local mine = ARGV[4]
local out = {n}
local hkeys, by_worker = {}, {}
for k = 1, n do
  local id = ids[k]
  local hkey = prefix .. 'conn:' .. id
  hkeys[k] = hkey
  local wid = redis.call('HGET', hkey, 'worker_id')
  if wid then
    local list = by_worker[wid]
    if not list then list = {}; by_worker[wid] = list end
    list[#list + 1] = id
    if wid == mine then out[#out + 1] = id end
  end
end
chunked('ZREM', KEYS[2], ids)
chunked('DEL', nil, hkeys)
for wid, list in pairs(by_worker) do
  chunked('SREM', prefix .. 'wconns:' .. wid, list)
end
counter_down(n)
return out
