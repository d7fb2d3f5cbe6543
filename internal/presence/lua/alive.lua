-- Returns the ids of the nodes in the set KEYS[1] whose heartbeat key
-- (ARGV[1] .. ':hb:' .. id) exists. Read-only.
local alive = {}
for _, n in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. ':hb:' .. n) == 1 then
    table.insert(alive, n)
  end
end
return alive
