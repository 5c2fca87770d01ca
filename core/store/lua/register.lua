-- KEYS[4] = the user-agent table. ARGV: prefix, then repeated groups of
-- (id, last_activity, connected_at, worker_id, host, pid, user_agent, channel, client_address,
--  events_sent, bytes_sent).
-- The record is packed (see _prelude.lua); the user agent goes by reference to a shared
-- table (sha1 prefix -> index -> text, at most UA_TABLE_MAX entries; past that it is
-- stored inline). Returns {how many connections were new, worker id, its code, ...} (the
-- store keeps each worker's code to put it back if its entry is ever lost).
local UA_TABLE_MAX = 10000
local i = 2
local added = 0
local fresh = 0
local codes = {}
local lists = {}
local function ua_ref(ua)
  if ua == '' then return '' end
  local sha = string.sub(redis.sha1hex(ua), 1, 16)
  local idx = redis.call('HGET', KEY.user_agent_index, sha)
  if idx then return '#' .. idx end
  if redis.call('HLEN', KEYS[4]) >= UA_TABLE_MAX then return '=' .. ua end
  idx = base36(redis.call('INCR', KEY.user_agent_seq))
  redis.call('HSET', KEY.user_agent_index, sha, idx)
  redis.call('HSET', KEYS[4], idx, ua)
  return '#' .. idx
end
while i + 10 <= #ARGV do
  local id, la, ca, wid = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local code = codes[wid]
  if not code then
    code = claim_code(wid, ARGV[i + 4], ARGV[i + 5])
    codes[wid] = code
    lists[code] = {}
  end
  local key = bucket_key(id)
  local old = rec_unpack(redis.call('HGET', key, id))
  local r = {code = code, ev = ARGV[i + 9], by = ARGV[i + 10], ua = ua_ref(ARGV[i + 6]),
             channel = ARGV[i + 7], client = ARGV[i + 8]}
  if redis.call('HSET', key, id, rec_pack(r)) == 1 then fresh = fresh + 1 end
  if old then held_add(old.code, -1) end
  held_add(code, 1)
  local new = redis.call('ZADD', KEYS[1], la, id)
  redis.call('ZADD', KEYS[2], ca, id)
  local l = lists[code]
  l[#l + 1] = id
  if new == 1 then
    added = added + 1
  end
  i = i + 11
end
for code, ids in pairs(lists) do
  chunked('RPUSH', KEYP.worker_list .. code, ids)
  worker_list_prune(code)
end
lh_count(fresh)
counter_up(added)
local out = {added}
for wid, code in pairs(codes) do out[#out + 1] = wid; out[#out + 1] = code end
return out
