-- Returns {store, {key, value, ...}, ...} for blueprint ARGV[1].
local out = {}
for _, s in ipairs(redis.call('SMEMBERS', k('sts', ARGV[1]))) do
  out[#out + 1] = s
  out[#out + 1] = redis.call('HGETALL', k('st', ARGV[1], s))
end
return out
