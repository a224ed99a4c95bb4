-- Puts a task leased to ARGV[2] back on its queue (the poll that leased it
-- ended before it could return it). ARGV[1]: task id.
local id, w = ARGV[1], ARGV[2]
local tk = k('t', id)
local t = redis.call('HMGET', tk, 's', 'w', 'a', 'ty', 'm', 'sc')
if t[1] ~= 'l' or t[2] ~= w then return 0 end
local a = t[3]
if a and a ~= '' and redis.call('EXISTS', k('w', a)) == 0 then
  a = ''
  redis.call('HDEL', tk, 'a')
end
redis.call('ZREM', k('leases'), id)
redis.call('SREM', k('wl', w), id)
redis.call('HSET', tk, 's', 'q')
redis.call('HDEL', tk, 'w', 'la', 'lu')
redis.call('ZADD', queue(a, t[4]), t[6], t[5])
redis.call('HINCRBY', k('cnt'), 'q', 1)
if a and a ~= '' then wake('w:' .. a) else wake('t:' .. t[4]) end
publish()
return 1
