-- Puts a task leased to ARGV[2] back on its queue (the poll that leased it
-- ended before it could return it). ARGV[1]: task id.
local id, w = ARGV[1], ARGV[2]
local jid, j, t = tfind(id)
if not t or t.s ~= 'l' or t.w ~= w then return 0 end
if t.a and redis.call('EXISTS', k('w', t.a)) == 0 then t.a = nil end
redis.call('ZREM', k('leases'), id)
redis.call('SREM', k('wl', w), id)
t.s, t.w, t.la, t.lu = 'q', nil, nil, nil
jput(jid, j)
redis.call('ZADD', queue(t.a, t.ty), t.sc or '0', member(t, id))
redis.call('HINCRBY', k('cnt'), 'q', 1)
if t.a then wake('w:' .. t.a) elseif t.c == '1' then wake('T:' .. t.ty) else wake('t:' .. t.ty) end
publish()
return 1
