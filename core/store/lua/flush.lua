-- One call per flush interval per worker: batched touches plus the worker heartbeat, and the
-- registry's own health: its epoch (generation), the worker's code, the published settings.
-- KEYS[4] = worker heartbeat hash, KEYS[5] = workers zset
-- ARGV: prefix, worker_id, ttl_ms, heartbeat_at, the epoch the worker knows ('' none yet), a
--       fresh epoch id (used if there is none), the worker's code as it knows it ('' none),
--       its worker-info value (id US host US pid), counts time ('' when this call completes no
--       counted flush), settle mark ('1': the worker just came back from store trouble),
--       nfields, f1, v1, ..., then touches as apply_touches (in _prelude.lua) reads them.
-- The epoch's times are the worker's (``heartbeat_at``: the fleet clock, as every stored time).
-- Returns {heartbeat existed (0/1), connections held for the worker, server time (string),
--          {epoch id, lost (0/1), rebuild_since, settle_since, created}, the worker's code ('' none),
--          published settings exist (0/1), registered connections on this shard,
--          {worker id, heartbeat, ...} of every worker, {unknown ids...}}.
local wid, ttl, hb_at = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local known, fresh, my_code, my_info, counts_at, settle = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local nf = tonumber(ARGV[11])
local now = hb_at

-- the epoch: created by the first worker ever; missing or another one than the worker
-- registered in = the store lost the fleet's data (the workers re-register theirs)
local ep = redis.call('HGET', KEY.epoch, 'id')
local lost = 0
if not ep then
  ep = fresh
  redis.call('HSET', KEY.epoch, 'id', ep, 'created', now)
  if known ~= '' then lost = 1 end
elseif known ~= '' and ep ~= known then
  lost = 1
end
if lost == 1 then
  if not redis.call('HGET', KEY.epoch, 'rebuild_since') then redis.call('HSET', KEY.epoch, 'rebuild_since', now) end
  redis.call('HSET', KEY.epoch, 'last_loss_at', now)
end
if settle == '1' and not redis.call('HGET', KEY.epoch, 'settle_since') then
  redis.call('HSET', KEY.epoch, 'settle_since', now)
end

local code = ensure_code(wid, my_code, my_info)

local existed = redis.call('EXISTS', KEYS[4])
local fields = {}
for j = 1, nf * 2 do fields[j] = ARGV[11 + j] end
redis.call('HSET', KEYS[4], unpack(fields))
redis.call('PEXPIRE', KEYS[4], ttl)
redis.call('ZADD', KEYS[5], hb_at, wid)

local unknown = apply_touches(12 + nf * 2, {})
counts_written(wid, counts_at)
local e = redis.call('HMGET', KEY.epoch, 'rebuild_since', 'settle_since', 'created')
return {existed, held_of(code), tostring(server_now()), {ep, lost, e[1] or '', e[2] or '', e[3] or ''}, code or '',
        redis.call('EXISTS', KEY.config), redis.call('ZCARD', KEYS[1]),
        redis.call('ZRANGE', KEYS[5], 0, -1, 'WITHSCORES'), unknown}
