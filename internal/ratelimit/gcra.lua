-- GCRA on the Redis clock. KEYS[1] holds when the key's bucket is full
-- again, in microseconds since the epoch. ARGV[1]: the time one token takes
-- to refill, in microseconds; ARGV[2]: the burst.
-- Returns {1, 0, until full} if a token was taken, else
-- {0, until one is, until full}, in microseconds.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local v = redis.call('GET', KEYS[1])
local full = v and tonumber(v) or now
if full < now then
  full = now
end
local at = full + interval - burst * interval
if at > now then
  return {0, math.ceil(at - now), math.ceil(full - now)}
end
full = full + interval
redis.call('SET', KEYS[1], string.format('%.0f', full), 'PX', math.max(1, math.ceil((full - now) / 1000)))
return {1, 0, math.ceil(full - now)}
