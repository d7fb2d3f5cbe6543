-- Sets a node's member count of a room. KEYS[1] the room's members hash,
-- KEYS[2] the node's heartbeat, KEYS[3] the node's room index, KEYS[4] the
-- set of nodes with an index. ARGV: node, count, index member (app \0 room).
-- Returns 1 if the count is positive and the node is not alive, else 0.
local n = tonumber(ARGV[2])
if n == 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('SREM', KEYS[3], ARGV[3])
  return 0
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  return 1
end
redis.call('HSET', KEYS[1], ARGV[1], n)
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('SADD', KEYS[4], ARGV[1])
return 0
