-- Withdraws task ARGV[1] when it is still queued; returns 1 when it did.
local jid, j, t = tfind(ARGV[1])
if not t or t.s ~= 'q' then return 0 end
redis.call('ZREM', queue(t.a, t.ty), member(t, ARGV[1]))
t.s = 'w'
jput(jid, j)
redis.call('HINCRBY', k('cnt'), 'q', -1)
return 1
