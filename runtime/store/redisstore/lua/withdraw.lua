-- Withdraws task ARGV[1] when it is still queued; returns 1 when it did.
local n, j, q, t = tfind(ARGV[1])
if not t or t.s then return 0 end
qremove(t, q, n)
t.s = 'w'
jput(n, j)
redis.call('HINCRBY', k('cnt'), 'q', -1)
return 1
