-- KEYS[4] = the dead worker's reaping lease.
-- ARGV: prefix, limit, reaper id, lease ms, dead worker id.
-- Only the holder of the lease reaps (so a dead worker is reaped, and counted, once).
-- Returns {removed count, connections it still holds (-1: another reaper holds the lease)}.
local holder = redis.call('GET', KEYS[4])
if holder and holder ~= ARGV[3] then return {0, -1} end
redis.call('SET', KEYS[4], ARGV[3], 'PX', tonumber(ARGV[4]))
local code = worker_code(ARGV[5])
if not code then return {0, 0} end
local key = KEYP.worker_list .. code
local removed = 0
local limit = tonumber(ARGV[2])
-- pop ids off the worker's list until `limit` of its connections are removed (ids the list
-- still holds for connections removed elsewhere cost a pop, nothing else)
while removed < limit do
  local ids = redis.call('LPOP', key, math.min(1000, (limit - removed) * 2))
  if not ids then break end
  for _, id in ipairs(ids) do
    local r = rec_get(id)
    if r and r.code == code then removed = removed + remove_conn(id) end
  end
end
counter_down(removed)
local left = held_of(code)
if redis.call('LLEN', key) == 0 and left > 0 then
  -- the list lost ids (bad data, a flushed key): nothing is left to find them by here; the
  -- stale cleanup removes them when they go stale
  left = 0
end
return {removed, left}
