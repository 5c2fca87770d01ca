-- Shared by every script (prepended at load time).
-- KEYS[1] = activity zset, KEYS[2] = connected zset, KEYS[3] = counter
-- ARGV[1] = key prefix "{ns}:"
local prefix = ARGV[1]

local function remove_conn(id)
  if redis.call('ZREM', KEYS[1], id) == 0 then
    return 0
  end
  redis.call('ZREM', KEYS[2], id)
  local hkey = prefix .. 'conn:' .. id
  local wid = redis.call('HGET', hkey, 'worker_id')
  redis.call('DEL', hkey)
  if wid then
    redis.call('SREM', prefix .. 'wconns:' .. wid, id)
  end
  return 1
end

-- run `cmd [key] items...` in chunks (Lua's unpack has a stack limit)
local function chunked(cmd, key, items)
  for s = 1, #items, 4000 do
    local e = math.min(s + 3999, #items)
    if key then
      redis.call(cmd, key, unpack(items, s, e))
    else
      redis.call(cmd, unpack(items, s, e))
    end
  end
end

-- The counter as a number, or nil when it holds something that is not a whole number
-- >= 0 (bad data planted in the namespace): callers then repair it from the registry.
local function counter_value()
  local raw = redis.call('GET', KEYS[3])
  if not raw then return 0 end
  local c = tonumber(raw)
  if c == nil or c < 0 or c ~= math.floor(c) or c ~= c or c == math.huge then return nil end
  return c
end

-- decrement the counter by n, never below zero; a bad counter is reset from the registry
local function counter_down(n)
  if n <= 0 then return end
  local c = counter_value()
  if c == nil then
    redis.call('SET', KEYS[3], redis.call('ZCARD', KEYS[1]))
    return
  end
  local d = math.min(c, n)
  if d > 0 then redis.call('DECRBY', KEYS[3], d) end
end

-- increment the counter by n; a bad counter is reset from the registry (which already holds the new ones)
local function counter_up(n)
  if n <= 0 then return end
  if counter_value() == nil then
    redis.call('SET', KEYS[3], redis.call('ZCARD', KEYS[1]))
  else
    redis.call('INCRBY', KEYS[3], n)
  end
end

-- HINCRBY that repairs a field holding a non-integer (bad data) instead of failing the script
local function hincr(key, field, n)
  local r = redis.pcall('HINCRBY', key, field, n)
  if type(r) == 'table' and r.err then
    redis.call('HSET', key, field, n)
  end
end

-- the server's clock in seconds (every worker's times are translated to it)
local function server_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

-- Apply touches from ARGV index i on: first groups of activity-only touches that share
-- one time (ngroups, then per group: at, n, n ids: a flush of streams read at the same
-- moment is one group), then quadruples (id, at, events, bytes) to the end of ARGV.
-- Activity lives in the activity zset only: one variadic ZADD per chunk of connections
-- (plus one ZMSCORE per chunk for touches that carry counts, so a removed connection's
-- hash is never re-created), so a flush costs a few commands, not several per stream.
-- Counters (events, bytes) are HINCRBYed only when non-zero (the manager sends them on a
-- slower cadence). Appends ids that are no longer registered to ``out``.
local function touch_chunk(ids, ats, evs, bys, out)
  local scores = redis.call('ZMSCORE', KEYS[1], unpack(ids))
  local zargs = {'XX', 'GT'}
  for k = 1, #ids do
    if scores[k] then
      zargs[#zargs + 1] = ats[k] or ats[0]
      zargs[#zargs + 1] = ids[k]
      if evs and (evs[k] ~= '0' or bys[k] ~= '0') then
        local hkey = prefix .. 'conn:' .. ids[k]
        if evs[k] ~= '0' then hincr(hkey, 'events_sent', evs[k]) end
        if bys[k] ~= '0' then hincr(hkey, 'bytes_sent', bys[k]) end
      end
    else
      out[#out + 1] = ids[k]
    end
  end
  if #zargs > 2 then redis.call('ZADD', KEYS[1], unpack(zargs)) end
end

local function apply_touches(i, out)
  local chunk = 400
  local ngroups = tonumber(ARGV[i])
  i = i + 1
  for _ = 1, ngroups do
    local at, last = ARGV[i], i + 1 + tonumber(ARGV[i + 1])
    i = i + 2
    -- activity only: one variadic ZADD XX GT per chunk (XX: a connection removed
    -- meanwhile is not re-added; the worker learns of removals from its held count)
    while i <= last do
      local zargs = {'XX', 'GT'}
      while i <= last and #zargs < chunk * 2 + 2 do
        zargs[#zargs + 1] = at
        zargs[#zargs + 1] = ARGV[i]
        i = i + 1
      end
      redis.call('ZADD', KEYS[1], unpack(zargs))
    end
  end
  while i <= #ARGV do
    local ids, ats, evs, bys = {}, {}, {}, {}
    while i <= #ARGV and #ids < chunk do
      ids[#ids + 1], ats[#ats + 1], evs[#evs + 1], bys[#bys + 1] = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
      i = i + 4
    end
    touch_chunk(ids, ats, evs, bys, out)
  end
  return out
end
