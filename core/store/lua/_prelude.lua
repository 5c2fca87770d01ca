-- Shared by every script (prepended at load time).
-- KEYS[1] = activity zset, KEYS[2] = connected zset, KEYS[3] = counter
-- ARGV[1] = key prefix "{ns}:"; KEY / KEYP (every key name, generated from core/keys.py by
-- core.keys.lua_prelude and put in front of this file) are built from it.

-- Connection records (docs/architecture.md "Redis layout"). What the two sorted sets do
-- not hold is packed into one string per connection, kept in hash buckets that stay in
-- Redis's compact listpack encoding (at most ~100 small entries each): no key, no
-- hashtable entry per connection. Buckets grow by linear hashing (one bucket split at a
-- time, as the registry grows). The record names its worker by a short code; a worker's
-- ids are also appended to its list ``wl:<code>`` (pruned lazily) for reaping and sync,
-- and ``held`` counts what each worker holds.
--   record = code US events US bytes US ua US #channel US channel .. client
--   ua = '#' .. index into the user-agent table, or '=' .. the text (table full)
local US = '\31'
local REC_LOAD = 48  -- records per bucket before a split (listpack holds up to 128)
local META = KEY.record_meta
local lh_k, lh_p = nil, nil

-- a polynomial hash of the id (base 31, mod 2^31 - 1), four bytes per step
local function id_hash(id)
  local h = #id
  for i = 1, #id, 4 do
    local a, b, c, d = string.byte(id, i, i + 3)
    h = (h * 923521 + a * 29791 + (b or 0) * 961 + (c or 0) * 31 + (d or 0)) % 2147483647
  end
  return h
end

local function lh_load()
  if lh_k == nil then
    local m = redis.call('HMGET', META, 'k', 'p')
    lh_k = math.floor(tonumber(m[1]) or 0)
    lh_p = math.floor(tonumber(m[2]) or 0)
    if lh_k < 0 or lh_k > 40 then lh_k = 0 end
    if lh_p < 0 or lh_p >= 2 ^ lh_k then lh_p = 0 end
  end
end

local function bucket_key(id)
  lh_load()
  local size = 2 ^ lh_k
  local h = id_hash(id)
  local b = h % size
  if b < lh_p then b = h % (size * 2) end
  return KEYP.record_bucket .. string.format('%d', b)
end

-- grow by n records (n < 0: shrink the count), splitting buckets while over the load
local function lh_count(n)
  if n == 0 then return end
  local r = redis.pcall('HINCRBY', META, 'n', n)
  if type(r) == 'table' or r < 0 then
    redis.call('HSET', META, 'n', 0)
    return
  end
  lh_load()
  local changed = false
  while r > (2 ^ lh_k + lh_p) * REC_LOAD do
    local size = 2 ^ lh_k
    local from = KEYP.record_bucket .. string.format('%d', lh_p)
    local to = KEYP.record_bucket .. string.format('%d', lh_p + size)
    local all = redis.call('HGETALL', from)
    local moved, gone = {}, {}
    for i = 1, #all, 2 do
      if id_hash(all[i]) % (size * 2) ~= lh_p then
        moved[#moved + 1] = all[i]; moved[#moved + 1] = all[i + 1]; gone[#gone + 1] = all[i]
      end
    end
    if #gone > 0 then
      redis.call('HSET', to, unpack(moved))
      redis.call('HDEL', from, unpack(gone))
    end
    lh_p = lh_p + 1
    if lh_p >= size then lh_k = lh_k + 1; lh_p = 0 end
    changed = true
  end
  if changed then redis.call('HSET', META, 'k', lh_k, 'p', lh_p) end
end

-- a record's fields, or nil when it is missing or malformed
local function rec_unpack(v)
  if not v then return nil end
  local code, ev, by, ua, chlen, rest = string.match(v, '^([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31(%d+)\31(.*)$')
  chlen = tonumber(chlen)
  if not code or not chlen or chlen > #rest then return nil end
  return {code = code, ev = ev, by = by, ua = ua, channel = string.sub(rest, 1, chlen),
          client = string.sub(rest, chlen + 1)}
end

local function rec_pack(r)
  return r.code .. US .. r.ev .. US .. r.by .. US .. r.ua .. US .. #r.channel .. US .. r.channel .. r.client
end

local function rec_raw(id)
  return redis.call('HGET', bucket_key(id), id)
end

local function rec_get(id)
  return rec_unpack(rec_raw(id))
end

-- worker code <-> worker id, host, pid
local function worker_info(code)
  local v = redis.call('HGET', KEY.worker_info, code)
  if not v then return nil end
  local wid, host, pid = string.match(v, '^(.*)\31(.*)\31(.*)$')
  if not wid then return nil end
  return {wid = wid, host = host, pid = pid}
end

local function worker_code(wid)
  return redis.call('HGET', KEY.worker_codes, wid)
end

local B36 = '0123456789abcdefghijklmnopqrstuvwxyz'
local function base36(n)
  local s = ''
  repeat
    local d = n % 36
    s = string.sub(B36, d + 1, d + 1) .. s
    n = math.floor(n / 36)
  until n == 0
  return s
end

-- the worker's code, allocated (and its host and pid noted) on first use; a code another
-- worker still holds is never given again (the sequence key may have been lost alone)
local function claim_code(wid, host, pid)
  local code = worker_code(wid)
  if not code then
    repeat
      code = base36(redis.call('INCR', KEY.worker_seq))
    until redis.call('HEXISTS', KEY.worker_info, code) == 0
    redis.call('HSET', KEY.worker_codes, wid, code)
  end
  redis.call('HSET', KEY.worker_info, code, wid .. US .. host .. US .. pid)
  return code
end

local function held_add(code, n)
  if n == 0 then return end
  local key = KEY.held
  local r = redis.pcall('HINCRBY', key, code, n)
  if type(r) == 'table' or r < 0 then redis.call('HSET', key, code, 0) end
end

local function held_of(code)
  if not code then return 0 end
  local n = tonumber(redis.call('HGET', KEY.held, code))
  if not n or n < 0 then return 0 end
  return n
end

-- the record as a flat field list (what HGETALL of a hash of these fields would give)
-- and the user agent text
local function rec_fields(r)
  local w = worker_info(r.code) or {wid = '?', host = '?', pid = '0'}
  local ua = ''
  local kind, val = string.sub(r.ua, 1, 1), string.sub(r.ua, 2)
  if kind == '#' then ua = redis.call('HGET', KEY.user_agents, val) or ''
  elseif kind == '=' then ua = val end
  return {'worker_id', w.wid, 'host', w.host, 'pid', w.pid, 'channel', r.channel, 'client_address', r.client,
          'events_sent', r.ev, 'bytes_sent', r.by,
          'counts_at', redis.call('HGET', KEY.worker_counts, r.code) or ''}, ua
end

-- remove one connection's record; returns its worker code (nil when it had none)
local function rec_del(id)
  local key = bucket_key(id)
  local r = rec_unpack(redis.call('HGET', key, id))
  if redis.call('HDEL', key, id) == 1 then lh_count(-1) end
  if r then
    held_add(r.code, -1)
    return r.code
  end
  return nil
end

local function remove_conn(id)
  if redis.call('ZREM', KEYS[1], id) == 0 then
    return 0
  end
  redis.call('ZREM', KEYS[2], id)
  rec_del(id)
  return 1
end

-- the distinct ids of a worker's list that are still registered (the list is pruned
-- lazily: removals elsewhere leave ids behind). One ZMSCORE per 400 ids, no record reads:
-- an id another worker registered since may still be listed, so callers that act on a
-- worker's connections check the record's owner first.
local function worker_list_live(code)
  local ids = redis.call('LRANGE', KEYP.worker_list .. code, 0, -1)
  local out, seen = {}, {}
  local s = 1
  while s <= #ids do
    local chunk = {}
    while s <= #ids and #chunk < 400 do
      local id = ids[s]
      if not seen[id] then seen[id] = true; chunk[#chunk + 1] = id end
      s = s + 1
    end
    if #chunk > 0 then
      local scores = redis.call('ZMSCORE', KEYS[1], unpack(chunk))
      for k = 1, #chunk do
        if scores[k] then out[#out + 1] = chunk[k] end
      end
    end
  end
  return out
end

-- rewrite a worker's list when it holds many more ids than the worker does
local function worker_list_prune(code)
  local key = KEYP.worker_list .. code
  local len = redis.call('LLEN', key)
  if len <= held_of(code) * 1.5 + 64 then return end
  local ids = worker_list_live(code)
  redis.call('DEL', key)
  for s = 1, #ids, 4000 do redis.call('RPUSH', key, unpack(ids, s, math.min(s + 3999, #ids))) end
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

-- the server's clock in seconds (every worker's times are translated to it)
local function server_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

-- Apply touches from ARGV index i on: first groups of activity-only touches that share
-- one time (ngroups, then per group: at, n, n ids: a flush of streams read at the same
-- moment is one group), then quadruples (id, at, events, bytes) to the end of ARGV.
-- Activity lives in the activity zset only: one variadic ZADD per chunk of connections,
-- so a flush costs a few commands, not several per stream. Counts (events, bytes) are
-- added to the packed record (the manager sends them on a slower cadence). Appends the
-- ids of counted touches that are no longer registered to ``out``.
-- add counts to a packed record in place (its counts are its 2nd and 3rd fields); false
-- when the connection has no record
local function rec_add_counts(id, ev, by)
  local key = bucket_key(id)
  local v = redis.call('HGET', key, id)
  if not v then return false end
  local code, e, y, rest = string.match(v, '^([^\31]*)\31(%d*)\31(%d*)(\31.*)$')
  if not code then return true end  -- malformed: left for the reads to report
  if e ~= '' then e = string.format('%d', tonumber(e) + tonumber(ev)) end  -- '': events not counted (unknown)
  y = (tonumber(y) or 0) + tonumber(by)
  redis.call('HSET', key, id, code .. US .. e .. US .. string.format('%d', y) .. rest)
  return true
end

-- touches that carry counts: the record is read anyway (to add them), so its presence
-- says whether the connection is registered (a removed one is never re-created)
local function touch_chunk(ids, ats, evs, bys, out)
  local zargs = {'XX', 'GT'}
  for k = 1, #ids do
    if rec_add_counts(ids[k], evs[k], bys[k]) then
      zargs[#zargs + 1] = ats[k]
      zargs[#zargs + 1] = ids[k]
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

-- a worker's counts are as of ``at`` (every counted touch of the flush has landed)
local function counts_written(wid, at)
  if wid == '' or at == '' then return end
  local code = worker_code(wid)
  if code then redis.call('HSET', KEY.worker_counts, code, at) end
end

-- the worker's code; put back when its entry was lost while its records still name it
-- (``my_code``: the code the worker was last told; ``my_info``: id US host US pid)
local function ensure_code(wid, my_code, my_info)
  local code = worker_code(wid)
  if not code and my_code ~= '' then
    local info = redis.call('HGET', KEY.worker_info, my_code)
    if not info or string.sub(info, 1, #wid + 1) == wid .. US then
      redis.call('HSET', KEY.worker_codes, wid, my_code)
      redis.call('HSET', KEY.worker_info, my_code, my_info)
      code = my_code
    end
  end
  return code
end
