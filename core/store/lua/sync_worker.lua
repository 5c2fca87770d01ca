-- Make the registry agree with what one worker really holds.
-- ARGV: prefix, worker id, then the ids the worker holds.
-- Removes (counted once) every connection the registry has for this worker that the
-- worker no longer holds (phantoms: a register applied late after a Redis hang, an
-- unregister that was lost), rewrites the worker's id list to what it holds, repairs its
-- ``held`` count when it disagrees, and returns {phantoms removed, ids the worker holds
-- that the registry lacks...}. Records are read only for listed ids the worker does not
-- hold (and, to repair ``held``, for the held ones): about 1 µs per connection otherwise.
local held = {}
for i = 3, #ARGV do held[ARGV[i]] = true end
local removed = 0
local code = worker_code(ARGV[2])
if code then
  for _, id in ipairs(worker_list_live(code)) do
    if not held[id] then
      local r = rec_get(id)
      if r and r.code == code then removed = removed + remove_conn(id) end
    end
  end
end
counter_down(removed)
local out = {removed}
local kept = {}
for s = 3, #ARGV, 400 do
  local ids = {}
  for i = s, math.min(s + 399, #ARGV) do ids[#ids + 1] = ARGV[i] end
  local scores = redis.call('ZMSCORE', KEYS[1], unpack(ids))
  for k = 1, #ids do
    if not scores[k] then out[#out + 1] = ids[k] else kept[#kept + 1] = ids[k] end
  end
end
if code then
  redis.call('DEL', KEYP.worker_list .. code)
  chunked('RPUSH', KEYP.worker_list .. code, kept)
  if held_of(code) ~= #kept then
    -- the count disagrees with what the worker holds: count its records (bad data, or
    -- ids it holds that another worker registered since)
    local mine = 0
    for _, id in ipairs(kept) do
      local r = rec_get(id)
      if r and r.code == code then mine = mine + 1 end
    end
    redis.call('HSET', KEY.held, code, mine)
  end
end
return out
