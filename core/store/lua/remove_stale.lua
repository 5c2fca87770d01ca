-- ARGV: prefix, cutoff, limit, worker_id.
-- Removes up to `limit` connections with last_activity < cutoff (the lowest ranks of the
-- activity zset) with grouped, multi-argument calls for the sorted sets and one record
-- read per connection (to find its worker). Returns {removed count, ids held by
-- worker_id...}: the caller closes only its own streams; other workers learn at their
-- next flush.
local ids = redis.call('ZRANGE', KEYS[1], '-inf', '(' .. ARGV[2], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[3]))
local n = #ids
if n == 0 then return {0} end
-- the ids are exactly ranks 0..n-1 (lowest scores first), and nothing runs between
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - 1)
local mine = worker_code(ARGV[4])
local out = {n}
for k = 1, n do
  local code = rec_del(ids[k])
  if mine and code == mine then out[#out + 1] = ids[k] end
end
chunked('ZREM', KEYS[2], ids)
counter_down(n)
return out
