-- Ends leases due at or before ARGV[1] (microseconds), at most ARGV[2]
-- (0: all), earliest first; returns {task, worker, leased_at, lease_until,
-- id, job, type} for each.
local due
if tonumber(ARGV[2]) > 0 then
  due = redis.call('ZRANGEBYSCORE', k('leases'), '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
else
  due = redis.call('ZRANGEBYSCORE', k('leases'), '-inf', ARGV[1])
end
local out = {}
for _, id in ipairs(due) do
  redis.call('ZREM', k('leases'), id)
  local jid, j, t = tfind(id)
  if t then
    redis.call('SREM', k('wl', t.w), id)
    t.s = 'x'
    jput(jid, j)
    out[#out + 1] = t.d
    out[#out + 1] = t.w
    out[#out + 1] = t.la or ''
    out[#out + 1] = t.lu or ''
    out[#out + 1] = id
    out[#out + 1] = jid
    out[#out + 1] = t.ty
  end
end
return out
