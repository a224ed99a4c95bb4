-- Creates the named stores of blueprint ARGV[1] that do not exist yet.
-- ARGV[2] is [[store, key, value, key, value...], ...].
local b = ARGV[1]
for _, s in ipairs(cjson.decode(ARGV[2])) do
  if redis.call('SISMEMBER', k('sts', b), s[1]) == 0 then
    redis.call('SADD', k('sts', b), s[1])
    for i = 2, #s, 2 do redis.call('HSET', k('st', b, s[1]), s[i], s[i + 1]) end
  end
end
return 1
