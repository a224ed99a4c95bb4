-- Moves the jobs ARGV[1..] (packed ids) from the outbox (ob) to the
-- retained set (rt: job numbers by end time), keeping their end times.
-- An id not in the outbox is ignored.
for _, id in ipairs(ARGV) do
  local n = jfind(id)
  if n then
    local m = int(n)
    local at = redis.call('ZSCORE', k('ob'), m)
    if at then
      redis.call('ZREM', k('ob'), m)
      redis.call('ZADD', k('rt'), at, m)
    end
  end
end
return 'OK'
