-- Up to `limit` of a worker's registered connections (a dead one's, read before it is reaped:
-- core.blast). ARGV: prefix, worker id, limit.
-- Returns {{id, activity, connected, user agent, {record fields...}}...}.
local code = worker_code(ARGV[2])
if not code then return {} end
local limit = tonumber(ARGV[3])
local out = {}
for _, id in ipairs(worker_list_live(code)) do
  if #out >= limit then break end
  local r = rec_get(id)
  if r and r.code == code then
    local h, ua = rec_fields(r)
    out[#out + 1] = {id, redis.call('ZSCORE', KEYS[1], id) or '', redis.call('ZSCORE', KEYS[2], id) or '', ua, h}
  end
end
return out
