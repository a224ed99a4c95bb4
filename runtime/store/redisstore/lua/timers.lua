-- Removes and returns up to ARGV[2] (0: all) timers due at or before
-- ARGV[1] (microseconds), earliest first.
local due
if tonumber(ARGV[2]) > 0 then
  due = redis.call('ZRANGEBYSCORE', k('tm'), '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
else
  due = redis.call('ZRANGEBYSCORE', k('tm'), '-inf', ARGV[1])
end
local out = {}
for _, id in ipairs(due) do
  out[#out + 1] = redis.call('HGET', k('tmd'), id)
  redis.call('ZREM', k('tm'), id)
  redis.call('HDEL', k('tmd'), id)
end
return out
