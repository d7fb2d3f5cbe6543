-- Deletes up to ARGV[3] sessions of a node that is not alive, from its
-- index. KEYS[1] the node's heartbeat, KEYS[2] its session index, KEYS[3]
-- the set of nodes with an index. ARGV: prefix, node, count.
-- Returns how many index entries are left (then the caller calls again),
-- 0 when done (the node leaves KEYS[3]), or -1 if the node is alive.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return -1
end
local prefix, node = ARGV[1], ARGV[2]
for _, m in ipairs(redis.call('SPOP', KEYS[2], tonumber(ARGV[3]))) do
  -- m is app \0 user \0 session \0 device
  local a = string.find(m, '\0', 1, true)
  local u = string.find(m, '\0', a + 1, true)
  local s = string.find(m, '\0', u + 1, true)
  local key = prefix .. string.sub(m, 1, a - 1) .. ':u:' .. string.sub(m, a + 1, u - 1)
  local device = string.sub(m, s + 1)
  local want = node .. '\0' .. string.sub(m, u + 1, s - 1) .. '\0'
  local v = redis.call('HGET', key, device)
  if v and string.sub(v, 1, #want) == want then
    redis.call('HDEL', key, device)
  end
end
local left = redis.call('SCARD', KEYS[2])
if left == 0 then
  redis.call('SREM', KEYS[3], node)
end
return left
