-- Returns, for each user hash in KEYS, its fields whose node is alive, as
-- {device, value, device, value, ...}. Read-only.
-- ARGV[1]: prefix.
local alive, out = {}, {}
for k = 1, #KEYS do
  local fields = redis.call('HGETALL', KEYS[k])
  local live = {}
  for i = 1, #fields, 2 do
    local v = fields[i + 1]
    local n = string.sub(v, 1, string.find(v, '\0', 1, true) - 1)
    if alive[n] == nil then
      alive[n] = redis.call('EXISTS', ARGV[1] .. ':hb:' .. n) == 1
    end
    if alive[n] then
      table.insert(live, fields[i])
      table.insert(live, v)
    end
  end
  out[k] = live
end
return out
