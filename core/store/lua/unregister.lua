-- ARGV: prefix, id. Returns 1 when this call removed the connection.
local r = remove_conn(ARGV[2])
counter_down(r)
return r
