-- Ends leases due at or before ARGV[1] (microseconds), at most ARGV[2]
-- (0: all), earliest first; returns {task, worker, leased_at, lease_until}
-- for each.
local due
if tonumber(ARGV[2]) > 0 then
  due = redis.call('ZRANGEBYSCORE', k('leases'), '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
else
  due = redis.call('ZRANGEBYSCORE', k('leases'), '-inf', ARGV[1])
end
local out = {}
for _, id in ipairs(due) do
  local tk = k('t', id)
  local t = redis.call('HMGET', tk, 'd', 'w', 'la', 'lu')
  redis.call('ZREM', k('leases'), id)
  redis.call('SREM', k('wl', t[2]), id)
  redis.call('HSET', tk, 's', 'x')
  out[#out + 1] = t[1]
  out[#out + 1] = t[2]
  out[#out + 1] = t[3] or ''
  out[#out + 1] = t[4] or ''
end
return out
