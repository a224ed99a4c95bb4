-- Withdraws task ARGV[1] when it is still queued; returns 1 when it did.
local tk = k('t', ARGV[1])
local t = redis.call('HMGET', tk, 's', 'a', 'ty', 'm')
if t[1] ~= 'q' then return 0 end
redis.call('ZREM', queue(t[2], t[3]), t[4])
redis.call('HSET', tk, 's', 'w')
redis.call('HINCRBY', k('cnt'), 'q', -1)
return 1
