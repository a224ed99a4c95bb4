-- Puts a task leased to ARGV[2] back on its queue (the poll that leased it
-- ended before it could return it). ARGV[1]: task id.
local id, w = ARGV[1], ARGV[2]
local n, j, q, t = tfind(id)
if not t or t.s ~= 'l' or t.w ~= w then return 0 end
local m = member(t, q, n)
redis.call('ZREM', k('leases'), m)
redis.call('SREM', k('wl', w), m)
if t.a and redis.call('EXISTS', k('w', t.a)) == 0 then t.a = nil end
t.s, t.w, t.la, t.lu = nil, nil, nil, nil
jput(n, j)
qinsert(t, q, n)
redis.call('HINCRBY', k('cnt'), 'q', 1)
wakeFor(t)
publish()
return 1
