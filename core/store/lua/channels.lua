-- Per-channel summary from up to `scan limit` connections (oldest first).
-- ARGV: prefix, stale cutoff, scan limit. Returns {scanned, truncated, channel, count, stale, oldest, ...}.
local cutoff, scan_limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local n = redis.call('ZCARD', KEYS[2])
local rows = redis.call('ZRANGE', KEYS[2], 0, scan_limit - 1, 'WITHSCORES')
local by = {}
local order = {}
for k = 1, #rows, 2 do
  local id, ca = rows[k], rows[k + 1]
  local r = rec_get(id)
  local ch = r and r.channel or '?'
  local e = by[ch]
  if not e then e = {0, 0, ca}; by[ch] = e; order[#order + 1] = ch end
  e[1] = e[1] + 1
  local act = tonumber(redis.call('ZSCORE', KEYS[1], id))
  if act and act < cutoff then e[2] = e[2] + 1 end
end
local out = {#rows / 2, (n > #rows / 2) and 1 or 0}
for _, ch in ipairs(order) do
  local e = by[ch]
  out[#out + 1] = ch; out[#out + 1] = e[1]; out[#out + 1] = e[2]; out[#out + 1] = e[3]
end
return out
