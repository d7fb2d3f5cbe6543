-- Deletes up to ARGV[3] room entries of a node that is not alive, from its
-- room index. KEYS[1] the node's heartbeat, KEYS[2] its room index. ARGV:
-- prefix, node, count. Returns how many index entries are left (then the
-- caller calls again), or -1 if the node is alive.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return -1
end
for _, m in ipairs(redis.call('SPOP', KEYS[2], tonumber(ARGV[3]))) do
  -- m is app \0 room
  local a = string.find(m, '\0', 1, true)
  redis.call('HDEL', ARGV[1] .. string.sub(m, 1, a - 1) .. ':rm:' .. string.sub(m, a + 1), ARGV[2])
end
return redis.call('SCARD', KEYS[2])
