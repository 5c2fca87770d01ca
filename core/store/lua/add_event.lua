-- Append one fleet event; routine cleanups in a row are one event (the list keeps notable
-- events: reaps, deaths, disconnects, outages are never pushed out by routine runs).
-- ARGV: prefix, the event (JSON), group (1: a routine cleanup, merged into a routine cleanup
-- at the head), events kept, marks kept since (fleet clock; the history's marks).
-- The event also goes to the history marks (a group's mark is replaced as it grows).
local ev = ARGV[2]
local kept, since = tonumber(ARGV[4]), ARGV[5]
if ARGV[3] == '1' then
  local head = redis.call('LINDEX', KEY.events, 0)
  if head then
    local ok, h = pcall(cjson.decode, head)
    local ok2, e = pcall(cjson.decode, ev)
    if ok and ok2 and type(h) == 'table' and type(e) == 'table' and h.type == e.type and tonumber(h.count)
        and tonumber(e.count) and tonumber(h.at) and tonumber(e.at) then
      h.first_at = tonumber(h.first_at) or tonumber(h.at)
      h.count = tonumber(h.count) + tonumber(e.count)
      h.runs = (tonumber(h.runs) or 1) + 1
      h.at = tonumber(e.at)
      h.message = e.message
      h.worker_id = e.worker_id
      h.blast_id = e.blast_id  -- a group's blast radius: its latest run's (core.blast)
      ev = cjson.encode(h)
      redis.call('LSET', KEY.events, 0, ev)
      redis.call('ZREM', KEY.history_marks, head)
      redis.call('ZADD', KEY.history_marks, h.at, ev)
      return 1
    end
  end
end
redis.call('LPUSH', KEY.events, ev)
redis.call('LTRIM', KEY.events, 0, kept - 1)
local ok, e = pcall(cjson.decode, ev)
if ok and type(e) == 'table' and tonumber(e.at) then
  redis.call('ZADD', KEY.history_marks, tonumber(e.at), ev)
  redis.call('ZREMRANGEBYSCORE', KEY.history_marks, '-inf', '(' .. since)
end
return 0
