-- Ends leases due at or before ARGV[1] (microseconds), at most ARGV[2]
-- (0: all), earliest first; returns {task, worker, leased_at, lease_until,
-- id, job, type, created, timeout} for each.
local due
if tonumber(ARGV[2]) > 0 then
  due = redis.call('ZRANGEBYSCORE', k('leases'), '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
else
  due = redis.call('ZRANGEBYSCORE', k('leases'), '-inf', ARGV[1])
end
local out = {}
for _, m in ipairs(due) do
  redis.call('ZREM', k('leases'), m)
  local q, _, n = parse(m)
  local j = jget(n)
  local t = j and j.t[q]
  if t and t.s == 'l' then
    redis.call('SREM', k('wl', t.w), m)
    t.s = 'x'
    jput(n, j)
    for _, v in ipairs({t.d, t.w, t.la or '', t.lu or '', t.i, j.i, t.y, j.c or '', int(t.o or 0)}) do out[#out + 1] = v end
  end
end
return out
