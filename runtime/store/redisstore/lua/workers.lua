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
  for _, tid in ipairs(redis.call('SMEMBERS', k('wl', id))) do
    redis.call('ZADD', k('leases'), 'XX', '-inf', tid)
  end
  local own = redis.call('ZRANGE', k('wq', id), 0, -1, 'WITHSCORES')
  for j = 1, #own, 2 do
    local m = own[j]
    local tid = string.sub(m, 14)
    local jid, job, t = tfind(tid)
    if t then
      local ty = t.ty
      t.a = nil
      jput(jid, job)
      redis.call('ZADD', k('q', ty), own[j + 1], m)
      if string.sub(m, 13, 13) == '1' then wake('T:' .. ty) else wake('t:' .. ty) end
    end
  end
  redis.call('DEL', k('wq', id))
end
publish()
return ids
