-- Make the registry agree with what one worker really holds.
-- KEYS[4] = the worker's connection set. ARGV: prefix, then the ids the worker holds.
-- Removes (counted once) every id of the worker's set that the worker no longer holds
-- (phantoms: a register applied late after a Redis hang, an unregister that was lost),
-- and returns {phantoms removed, ids the worker holds that the registry lacks...}.
local held = {}
for i = 2, #ARGV do held[ARGV[i]] = true end
local removed = 0
local gone = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  if not held[id] then
    removed = removed + remove_conn(id)
    gone[#gone + 1] = id
  end
end
chunked('SREM', KEYS[4], gone)
counter_down(removed)
local out = {removed}
for s = 2, #ARGV, 400 do
  local ids = {}
  for i = s, math.min(s + 399, #ARGV) do ids[#ids + 1] = ARGV[i] end
  local scores = redis.call('ZMSCORE', KEYS[1], unpack(ids))
  for k = 1, #ids do
    if not scores[k] then out[#out + 1] = ids[k] end
  end
end
return out
