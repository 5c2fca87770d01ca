-- ARGV: prefix, id, id, ... Returns how many of them this call removed (each counted once,
-- whoever removes it first).
local removed = 0
for i = 2, #ARGV do
  removed = removed + remove_conn(ARGV[i])
end
counter_down(removed)
return removed
