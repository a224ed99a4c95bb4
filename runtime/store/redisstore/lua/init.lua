-- Marks the key layout of a new store, or checks that of an existing one:
-- returns the layout found ('' for data of the first layout), or 'OK'.
local v = redis.call('GET', k('layout'))
if v then
  if v == ARGV[1] then return 'OK' end
  return v
end
if redis.call('EXISTS', k('jobs'), k('seq'), k('cnt')) > 0 then return '' end
redis.call('SET', k('layout'), ARGV[1])
return 'OK'
