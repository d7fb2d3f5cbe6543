-- Registers a session for its user, applying the device limit atomically.
-- KEYS[1] the user's hash, KEYS[2] the node's heartbeat, KEYS[3] the node's
-- session index, KEYS[4] the set of nodes with an index.
-- ARGV: prefix, device, node, session, connected-at ms, max devices,
-- policy ("refuse" or "kick_oldest"), app .. "\0" .. user.
-- Returns {0, kicked device, kicked value, ...}, {1} if the node is not
-- alive, {2} if refused.
local prefix, device, node, session = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local maxd, owner = tonumber(ARGV[6]), ARGV[8]
if redis.call('EXISTS', KEYS[2]) == 0 then
  return {1}
end

local function parse(v)
  local i = string.find(v, '\0', 1, true)
  local j = string.find(v, '\0', i + 1, true)
  return string.sub(v, 1, i - 1), string.sub(v, i + 1, j - 1), tonumber(string.sub(v, j + 1))
end

local function unindex(e)
  redis.call('SREM', prefix .. ':ns:' .. e.node, owner .. '\0' .. e.session .. '\0' .. e.device)
end

local alive = {[node] = true}
local fields = redis.call('HGETALL', KEYS[1])
local others, same = {}, nil
for i = 1, #fields, 2 do
  local n, sid, ms = parse(fields[i + 1])
  local e = {device = fields[i], value = fields[i + 1], node = n, session = sid, ms = ms}
  if alive[n] == nil then
    alive[n] = redis.call('EXISTS', prefix .. ':hb:' .. n) == 1
  end
  if not alive[n] then
    redis.call('HDEL', KEYS[1], e.device)
    unindex(e)
  elseif e.device ~= device then
    table.insert(others, e)
  elseif sid == session then
    return {0}
  else
    same = e
  end
end

local excess = #others - maxd + 1
if excess > 0 and ARGV[7] == 'refuse' then
  return {2}
end
local out = {0}
local function kick(e)
  redis.call('HDEL', KEYS[1], e.device)
  unindex(e)
  table.insert(out, e.device)
  table.insert(out, e.value)
end
if same then
  kick(same)
end
if excess > 0 then
  table.sort(others, function(a, b)
    if a.ms ~= b.ms then
      return a.ms < b.ms
    end
    return a.session < b.session
  end)
  for i = 1, excess do
    kick(others[i])
  end
end
redis.call('HSET', KEYS[1], device, node .. '\0' .. session .. '\0' .. ARGV[5])
redis.call('SADD', KEYS[3], owner .. '\0' .. session .. '\0' .. device)
redis.call('SADD', KEYS[4], node)
return out
