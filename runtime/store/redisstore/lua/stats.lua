-- Returns {jobs, queued, leased, timers, workers, {status, count, ...}}.
local c = redis.call('HMGET', k('cnt'), 'j', 'q', 'jr')
return {tonumber(c[1] or '0') - tonumber(c[3] or '0'), tonumber(c[2] or '0'),
  redis.call('ZCARD', k('leases')), redis.call('ZCARD', k('tm')), redis.call('ZCARD', k('workers')),
  redis.call('HGETALL', k('stc'))}
