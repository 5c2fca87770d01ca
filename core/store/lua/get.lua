-- One connection. ARGV: prefix, id.
-- Returns {activity, connected, user agent, {record fields...}} or {} when it is not registered.
local id = ARGV[2]
local act = redis.call('ZSCORE', KEYS[1], id)
if not act then return {} end
local r = rec_get(id)
local h, ua = {}, ''
if r then h, ua = rec_fields(r) end
return {act, redis.call('ZSCORE', KEYS[2], id) or '', ua, h}
