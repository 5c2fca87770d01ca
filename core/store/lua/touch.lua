-- ARGV: prefix, then quadruples (id, at, events, bytes). Returns unknown ids.
return apply_touches(2, {})
