-- Returns {jobs, queued, leased, timers, workers, {status, count, ...}}.
return {redis.call('LLEN', k('jobs')), tonumber(redis.call('HGET', k('cnt'), 'q') or '0'),
  redis.call('ZCARD', k('leases')), redis.call('ZCARD', k('tm')), redis.call('ZCARD', k('workers')),
  redis.call('HGETALL', k('stc'))}
