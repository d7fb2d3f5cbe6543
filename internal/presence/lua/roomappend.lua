-- Appends a message to a room's history with the room's next seq.
-- KEYS[1] the room's seq counter, KEYS[2] its history list. ARGV: data,
-- how many messages to keep. Returns the seq.
local seq = redis.call('INCR', KEYS[1])
redis.call('RPUSH', KEYS[2], seq .. ':' .. ARGV[1])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
return seq
