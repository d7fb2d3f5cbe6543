-- Removes a session unless its device's field now holds another session.
-- KEYS[1] the user's hash, KEYS[2] the node's session index.
-- ARGV: device, node .. "\0" .. session .. "\0", index member.
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and string.sub(v, 1, #ARGV[2]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
redis.call('SREM', KEYS[2], ARGV[3])
return 0
