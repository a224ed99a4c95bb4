-- Removes workers: ARGV[1] = 'one' with ARGV[2] the id (0 when unknown),
-- or 'due' with ARGV[2] the time in microseconds (every worker whose
-- expiry passed). Their leases end now; their own queues move to the
-- shared queues. Returns the removed ids.
local ids
if ARGV[1] == 'one' then
  if redis.call('EXISTS', k('w', ARGV[2])) == 0 then return false end
  ids = {ARGV[2]}
else
  ids = redis.call('ZRANGEBYSCORE', k('workers'), '-inf', ARGV[2])
end
for _, id in ipairs(ids) do
  redis.call('DEL', k('w', id), k('cr', id))
  redis.call('ZREM', k('workers'), id)
  for _, m in ipairs(redis.call('SMEMBERS', k('wl', id))) do
    redis.call('ZADD', k('leases'), 'XX', '-inf', m)
  end
  local scores = redis.call('ZRANGE', k('wqp', id), 0, -1)
  for _, sc in ipairs(scores) do
    local key = k('wql', id, sc)
    for _, m in ipairs(redis.call('LRANGE', key, 0, -1)) do
      local q, _, n = parse(m)
      local j = jget(n)
      local t = j and j.t[q]
      if t and not t.s and t.a == id then
        t.a = nil
        jput(n, j)
        qinsert(t, q, n)
        wakeFor(t)
      end
    end
    redis.call('DEL', key)
  end
  redis.call('DEL', k('wqp', id))
end
publish()
return ids
