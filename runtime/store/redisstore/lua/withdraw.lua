-- Withdraws task ARGV[1] when it is still queued; returns 1 when it did.
local t = tget(ARGV[1])
if not t or t.s ~= 'q' then return 0 end
redis.call('ZREM', queue(t.a, t.ty), t.m)
t.s = 'w'
tput(ARGV[1], t)
redis.call('HINCRBY', k('cnt'), 'q', -1)
return 1
